"""The per-sample statistics every metric of the table (:mod:`taxovit.metrics.table`) is a
function of the sums of, made once per evaluation (or per streamed batch).

* ``columns``: ``(n,)`` per-sample values (``correct``, ``d``, ``hits/5``, ``brier``, …);
  their sums are the ``(b,)`` statistics.
* ``confusions``: per labelling (``""``: the labels; ``"/<rank>"``: projected to a rank) the
  class codes of truth and prediction, counted by
  :func:`taxovit.metrics.counts_from_codes` into the ``tp``, ``pred`` and ``sup`` statistics.
* ``binned``: a per-sample value summed by bin (the ECE's confidence and correctness per
  equal-width bin: ``ece_conf``, ``ece_acc``, per rank ``ece_conf/<rank>``).

The point estimate sums them with weight 1 (:meth:`Statistics.point_sums`), the bootstrap
with the resamples' draw counts (:mod:`taxovit.evaluation.bootstrap`), the streaming
evaluator batch by batch. Row metrics (mAP, ``ece_adaptive``), which need every score, are
computed by :func:`row_metrics`.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from taxovit.evaluation.context import SampleContext
from taxovit.evaluation.score_metrics import ScoreInputs, map_metrics, rank_truth
from taxovit.metrics import counts_from_codes, top_k_columns
from taxovit.metrics.calibration import (
    N_BINS,
    CalibrationTerms,
    adaptive_bins,
    binned_ece,
    calibration_terms,
    uniform_bins,
)
from taxovit.metrics.table_rows import hierarchical_columns

__all__ = [
    "Binned",
    "Confusion",
    "Layout",
    "Statistics",
    "batch_of_one",
    "column_sum",
    "rank_classes",
    "row_metrics",
    "statistics_of",
]


@dataclass(frozen=True)
class Layout:
    """Which keys exist: tree or DAG, its depth, the k of top-k (``hit_ks``: those the
    candidates can give), the ranks, whether there is a full score matrix (``scored``), whether
    its rows are probabilities (``probs``) and the ranks some score class reaches
    (``scored_ranks``: their marginals exist)."""

    is_tree: bool
    max_depth: int
    top_k: tuple[int, ...]
    hit_ks: tuple[int, ...]
    ranks: tuple[str, ...]
    scored: bool = False
    probs: bool = False
    scored_ranks: tuple[str, ...] = ()
    confidence: bool = False  # top-1 probabilities of ranked candidates (ece only)
    questions: tuple[str, ...] = ()  # the optional questions' rows (costs, novel, ...)

    @classmethod
    def of(cls, ctx: SampleContext, inputs: ScoreInputs | None = None) -> Layout:
        probs = inputs is not None and inputs.probs is not None
        scored_ranks = (
            tuple(r for r in inputs.ranks if inputs.marginals(r) is not None) if probs else ()
        )
        return cls(
            ctx.is_tree,
            ctx.comp.max_depth,
            ctx.top_k,
            tuple(ctx.hits),
            tuple(ctx.ranks),
            inputs is not None,
            probs,
            scored_ranks,
            questions=tuple(ctx.questions),
        )

    def without_probs(self) -> Layout:
        return replace(self, probs=False, scored_ranks=())


class Confusion(NamedTuple):
    """One labelling's class codes: over the samples ``keep`` (``None``: all), truth ``t`` and
    prediction ``p`` in ``0..k-1``; ``pred_counted``: predictions that count for a class."""

    keep: NDArray[np.bool_] | None
    t: NDArray[np.integer]
    p: NDArray[np.integer]
    k: int
    pred_counted: NDArray[np.bool_] | None

    def counts(self, w: NDArray[np.float64] | None = None) -> dict[str, NDArray]:
        """``tp``, ``pred``, ``sup`` per class, weighted by ``w`` (per sample, or None)."""
        from taxovit.metrics import SampleWeights

        n = self.t.size
        ww = None if w is None else (w if self.keep is None else w[self.keep])
        tp, fp, _, sup = counts_from_codes(
            self.t, self.p, self.k, SampleWeights(ww, n), self.pred_counted
        )
        return {"tp": tp, "pred": tp + fp, "sup": sup}


class Binned(NamedTuple):
    """``weights`` summed per bin (``bins`` in ``0..size-1``; ``-1``: not counted)."""

    bins: NDArray[np.int64]
    weights: NDArray[np.float64]
    size: int

    def sums(self) -> NDArray[np.float64]:
        ok = self.bins >= 0
        return np.bincount(self.bins[ok], weights=self.weights[ok], minlength=self.size)


@dataclass
class Statistics:
    """The per-sample statistics of one evaluation (module docstring)."""

    layout: Layout
    columns: dict[str, NDArray[np.float64]]
    confusions: dict[str, Confusion]
    binned: dict[str, Binned] = field(default_factory=dict)
    rows: dict[str, Any] | None = None
    terms: dict[str, CalibrationTerms] = field(default_factory=dict)  # "" and "/<rank>"

    @property
    def n(self) -> int:
        return int(self.columns["one"].size)

    def point_sums(self) -> dict[str, Any]:
        """Every statistic summed with weight 1 per sample (the point estimate)."""
        out: dict[str, Any] = {name: column_sum(col) for name, col in self.columns.items()}
        for suffix, conf in self.confusions.items():
            for name, counts in conf.counts().items():
                out[name + suffix] = counts
        for name, b in self.binned.items():
            out[name] = b.sums()
        return out

    def weighted_sums(self, w: NDArray[np.float64]) -> dict[str, Any]:
        """Every statistic summed with per-sample weights ``w`` (e.g. a resample's draw
        counts: the one-at-a-time definition the vectorised bootstrap equals)."""
        out: dict[str, Any] = {name: float(w @ col) for name, col in self.columns.items()}
        for suffix, conf in self.confusions.items():
            for name, counts in conf.counts(w).items():
                out[name + suffix] = counts
        for name, b in self.binned.items():
            out[name] = Binned(b.bins, b.weights * w, b.size).sums()
        return out


def column_sum(col: NDArray) -> float:
    """A statistic's sum over the samples; a boolean column (most are) by counting, ~7x
    faster than ``sum`` (which widens every value to an integer first)."""
    return float(np.count_nonzero(col) if col.dtype == np.bool_ else col.sum())


def batch_of_one(sums: dict[str, Any]) -> Any:
    """``sums`` as the table's accessor of a batch of one weighting."""

    def get(name: str) -> NDArray:
        x = np.asarray(sums[name], dtype=np.float64)
        return x[None] if x.ndim else x.reshape(1)

    return get


def _label_columns(ctx: SampleContext) -> dict[str, NDArray]:
    c = ctx.comp
    cols: dict[str, NDArray] = {
        "one": np.ones(c.y_true.size),
        "correct": c.correct,
        "wrong": ~c.correct,
        **hierarchical_columns(c),
        "d": c.d,
        "lca_depth": c.lca_depth,
        "depth_distance": ctx.depth_distance,
        "tie": c.tie,
    }
    if ctx.is_tree:
        for level in range(1, c.max_depth + 1):
            cols[f"level_mask/{level}"] = ctx.true_depth >= level
            cols[f"level_hit/{level}"] = (ctx.true_depth >= level) & (c.lca_depth >= level)
    for k in ctx.hits:
        cols[f"hits/{k}"], cols[f"hdist/{k}"] = ctx.hits[k], ctx.hdist[k]
        cols[f"hdist_depth/{k}"] = ctx.hdist_depth[k]
    for rank, rc in ctx.ranks.items():
        correct = np.zeros(rc.keep.size, dtype=bool)
        correct[rc.keep] = rc.correct
        cols[f"rank_keep/{rank}"], cols[f"rank_correct/{rank}"] = rc.keep, correct
    return cols


def _add_probability_stats(st: Statistics, inputs: ScoreInputs) -> None:
    """Calibration terms of the probabilities, and per rank of its marginals: the Brier and
    log-loss terms, the ECE's per-bin sums, the marginal top-k hits."""
    n = st.n
    st.terms[""] = calibration_terms(inputs.probs, inputs.true_col)
    _add_calibration(st, "", st.terms[""], None, n)
    for rank in st.layout.scored_ranks:
        marg = inputs.marginals(rank)
        keep, col = rank_truth(inputs, rank, marg.nodes)
        hits = {k: np.zeros(n, dtype=bool) for k in st.layout.top_k}
        if keep.any():
            p = marg.probs[keep]  # C-ordered (the sums in the order of the point estimate)
            top = top_k_columns(p, max(st.layout.top_k))
            terms = st.terms[f"/{rank}"] = calibration_terms(p, col, top1=top[:, 0])
            for k, hit in hits.items():
                hit[keep] = (top[:, :k] == col[:, None]).any(axis=1)
        else:  # no truth reaches the rank: every sum is 0 (the values are null)
            terms = CalibrationTerms(
                *(np.zeros(0, dtype=d) for d in (float, bool, float, float, int))
            )
        _add_calibration(st, f"/{rank}", terms, keep, n)
        for k, hit in hits.items():
            st.columns[f"rank_hits/{rank}/{k}"] = hit


def _add_calibration(st: Statistics, suffix: str, terms, keep, n: int) -> None:
    def full(x: NDArray, fill: float = 0.0) -> NDArray:
        if keep is None:
            return np.asarray(x, dtype=np.float64)
        out = np.full(n, fill)
        out[keep] = x
        return out

    st.columns["brier" + suffix], st.columns["nll" + suffix] = full(terms.brier), full(terms.nll)
    bins = full(terms.bin, -1).astype(np.int64)
    st.binned["ece_conf" + suffix] = Binned(bins, full(terms.confidence), N_BINS + 1)
    st.binned["ece_acc" + suffix] = Binned(bins, full(terms.correct), N_BINS + 1)


def statistics_of(ctx: SampleContext, inputs: ScoreInputs | None, rows: bool = True) -> Statistics:
    """The statistics of an evaluation context (``inputs``: its scores, if any); ``rows``:
    also compute the row metrics (mAP, ``ece_adaptive``; the point estimate)."""
    st = Statistics(Layout.of(ctx, inputs), _label_columns(ctx), {})
    for columns in ctx.questions.values():  # columns, and per-class sums (Binned)
        for name, col in columns.items():
            (st.binned if isinstance(col, Binned) else st.columns)[name] = col
    st.confusions[""] = Confusion(None, ctx.inv_t, ctx.inv_p, ctx.n_labels, None)
    for rank, rc in ctx.ranks.items():
        st.confusions[f"/{rank}"] = Confusion(rc.keep, rc.it, rc.ip, rc.k, rc.has_pred)
    if inputs is not None and inputs.probs is not None:
        st.columns["n_probs"] = np.ones(st.n)
        _add_probability_stats(st, inputs)
    elif ctx.ranked_conf is not None:  # a top-K file whose scores are probabilities
        _add_ranked_confidence(st, ctx)
    if rows:
        st.rows = row_metrics(inputs, ctx.column_ap, st.terms) if inputs is not None else {}
        if "" in st.terms and inputs is None:
            st.rows["ece_adaptive"] = _adaptive(st.terms[""])
    return st


def _add_ranked_confidence(st: Statistics, ctx: SampleContext) -> None:
    """ECE statistics of ranked candidates with probabilities: the first candidate's score is
    the confidence, right when it is the truth (Brier and log loss need every class)."""
    conf = np.asarray(ctx.ranked_conf, dtype=np.float64)
    correct = ctx.ranked[:, 0] == ctx.comp.y_true
    zeros = np.zeros(conf.size)
    st.terms[""] = CalibrationTerms(conf, correct, zeros, zeros, uniform_bins(conf))
    st.binned["ece_conf"] = Binned(st.terms[""].bin, conf, N_BINS + 1)
    st.binned["ece_acc"] = Binned(st.terms[""].bin, correct.astype(np.float64), N_BINS + 1)
    st.layout = replace(st.layout, confidence=True)


def row_metrics(
    inputs: ScoreInputs,
    ap: NDArray[np.float64] | None = None,
    terms: dict[str, CalibrationTerms] | None = None,
) -> dict[str, Any]:
    """The row metrics (mAP, ``ece_adaptive`` flat and per rank) of every score in
    ``inputs``; ``ap``: the per-column AP and ``terms`` the calibration terms (``""``,
    ``"/<rank>"``) when already computed."""
    out = map_metrics(inputs.true_col, inputs.scores, ap)
    if inputs.probs is None:
        return out
    terms = {} if terms is None else terms
    out["ece_adaptive"] = _adaptive(
        terms.get("") or calibration_terms(inputs.probs, inputs.true_col)
    )
    for rank in inputs.ranks:
        marg = inputs.marginals(rank)
        if marg is None:
            continue
        keep, col = rank_truth(inputs, rank, marg.nodes)
        got = terms.get(f"/{rank}")
        if got is None and keep.any():
            got = calibration_terms(marg.probs[keep], col)
        out[f"per_rank/{rank}/ece_adaptive"] = None if got is None else _adaptive(got)
    return out


def _adaptive(terms) -> float:
    return binned_ece(terms, adaptive_bins(terms.confidence))


_RANK_CLASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_RANK_CLASSES_LOCK = threading.Lock()


def rank_classes(ix: Any) -> tuple[dict[str, int], dict[str, NDArray[np.int64]]]:
    """Per rank of the index: its number of nodes, and each node's class there (the
    position of its ancestor at the rank among the rank's nodes; -1: none). Made once per
    taxonomy index (the evaluators of a dataset's files share them; read-only)."""
    with _RANK_CLASSES_LOCK:
        if ix not in _RANK_CLASSES:
            sizes, codes, every = {}, {}, np.arange(ix.n)
            for r in ix.rank_names:
                at = np.flatnonzero(ix.rank_of == ix.rank_id(r))  # the nodes of rank r
                pos = np.full(ix.n, -1, dtype=np.int64)
                pos[at] = np.arange(at.size)
                anc = ix.ancestor_at_rank(every, r)
                codes[r] = np.where(anc >= 0, pos[np.maximum(anc, 0)], -1)
                codes[r].flags.writeable = False
                sizes[r] = int(at.size)
            _RANK_CLASSES[ix] = (sizes, codes)
        return _RANK_CLASSES[ix]
