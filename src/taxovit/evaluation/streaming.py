"""Streaming evaluation: ``update`` batch by batch, ``merge`` partial states, ``compute``.

The state is what every metric of the table (:mod:`taxovit.metrics.table`) is a function of:
the sums of the per-sample statistics (:mod:`taxovit.evaluation.statistics`; a few dozen
numbers), per-class counts indexed by node id (flat labels: 3 × nodes; each rank: 3 × its
nodes) and, with scores, the ECE's per-bin sums. It is independent of the number of samples;
:meth:`StreamingEvaluator.merge` adds two states, so it is associative and commutative (any
chunking, any merge order gives the same state, to floating-point rounding of the sums).
:meth:`StreamingEvaluator.compute` gives every key of :func:`taxovit.evaluate` on the
concatenated batches: exactly for counts, to rounding for means. With scores that are
probabilities that includes ``ece``, ``brier``, ``nll`` and, per rank, the marginal top-k
and calibration; only mAP and ``ece_adaptive`` need every score, kept with
``keep_scores=True`` (O(samples) memory), otherwise ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.errors import ArgumentError
from taxovit.evaluation.arguments import as_taxonomy, check_top_k
from taxovit.evaluation.context import as_ranked, build_context, ranked_confidence
from taxovit.evaluation.core import DEFAULT_TOP_K
from taxovit.evaluation.report import EvaluationReport, nest_metrics
from taxovit.evaluation.score_metrics import ScoreInputs, score_inputs
from taxovit.evaluation.statistics import (
    Confusion,
    Layout,
    batch_of_one,
    column_sum,
    rank_classes,
    row_metrics,
    statistics_of,
)
from taxovit.metrics import check_scores, components, node_ids
from taxovit.metrics.table import compute

__all__ = ["Batch", "StreamingEvaluator"]


class Batch(NamedTuple):
    """A batch made ready to add (:meth:`StreamingEvaluator.batch`)."""

    comp: Any
    ctx: Any
    scores: NDArray[np.float64] | None
    inputs: ScoreInputs | None
    statistics: Any


class StreamingEvaluator:
    """Accumulate predictions in batches; :meth:`compute` returns an EvaluationReport.

    ``score_labels``: the class (node name or id) of each score column, fixed for the whole
    stream; give it to pass ``scores`` to :meth:`update`: top-k accuracy, distance@k and,
    when the scores are probabilities (``score_kind="probs"``, rows divided by their sums, or
    ``"logits"``, softmax), ``ece``, ``brier``, ``nll`` and per rank the marginal top-k and
    calibration. ``keep_scores=True`` also keeps every score for mAP and ``ece_adaptive``.

    Parameters
    ----------
    taxonomy : Taxonomy or path
    top_k : sequence of int
        The k of top-k accuracy and distance@k.
    keep_scores : bool
        Keep every score (O(samples) memory): only mAP and ``ece_adaptive`` (flat and per
        rank) need it; without, they are ``None``.
    score_labels : array-like, optional
        The class of each score column; needed to pass ``scores`` to :meth:`update`.
    score_kind : {"probs", "logits"}

    Raises
    ------
    UnknownLabelError
        A ``score_labels`` entry not in the taxonomy.

    Examples
    --------
    Two batches merged give the report of one batch of both:

    >>> from taxovit import StreamingEvaluator, Taxonomy
    >>> tax = Taxonomy.from_edges(
    ...     [("Aves", "Corvus"), ("Aves", "Parus"), ("Corvus", "C. corax"),
    ...      ("Corvus", "C. corone"), ("Parus", "P. major")],
    ...     ranks={"Corvus": "genus", "Parus": "genus", "C. corax": "species",
    ...            "C. corone": "species", "P. major": "species"})
    >>> a, b = StreamingEvaluator(tax), StreamingEvaluator(tax)
    >>> a.update(["C. corax"], ["C. corax"])
    >>> b.update(["C. corone", "P. major"], ["C. corax", "P. major"])
    >>> one = StreamingEvaluator(tax)
    >>> one.update(["C. corax", "C. corone", "P. major"], ["C. corax", "C. corax", "P. major"])
    >>> a.merge(b).compute().metrics == one.compute().metrics
    True
    >>> one.compute().metrics["accuracy"]
    0.666...
    >>> StreamingEvaluator.from_bytes(one.to_bytes(), tax).compute().metrics["n_samples"]
    3
    """

    def __init__(
        self,
        taxonomy: Any,
        top_k: Sequence[int] = DEFAULT_TOP_K,
        keep_scores: bool = False,
        score_labels: ArrayLike | None = None,
        score_kind: str = "probs",
    ) -> None:
        self.taxonomy = as_taxonomy(taxonomy)
        self.score_kind = score_kind
        self.top_k = check_top_k(top_k)
        self.keep_scores = bool(keep_scores)
        self.score_ids = (
            None
            if score_labels is None
            else node_ids(self.taxonomy, np.asarray(score_labels), "score_labels")
        )
        self.ranks = tuple(self.taxonomy.rank_names)
        sizes, codes = rank_classes(self.taxonomy.index)
        self._rank_size = {r: sizes[r] for r in self.ranks}
        self._rank_code = {r: codes[r] for r in self.ranks}  # in the order of self.ranks
        self.sums: dict[str, float] = {}
        self.counts: dict[str, NDArray[np.float64]] = {}
        self._kept: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
        self._layout: Layout | None = None

    @property
    def layout(self) -> Layout | None:
        """Which metrics the state holds (``None`` before the first update)."""
        return self._layout

    def reset(self) -> None:
        """Forget every sample (options and taxonomy stay)."""
        self.sums, self.counts, self._kept, self._layout = {}, {}, [], None

    def load_state(
        self, layout: Layout, sums: dict[str, float], counts: dict[str, NDArray[np.float64]]
    ) -> None:
        """Replace the state by ``sums`` and ``counts`` of a run with ``layout`` (e.g. summed
        across processes)."""
        self._layout, self.sums, self.counts, self._kept = layout, dict(sums), dict(counts), []

    # -- accumulate -----------------------------------------------------------------------
    def update(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        scores: ArrayLike | None = None,
        ranked: ArrayLike | None = None,
        ranked_scores: ArrayLike | None = None,
    ) -> None:
        """Add a batch.

        Parameters
        ----------
        y_true, y_pred : array-like of node names or ids
        scores : array of shape (n, len(score_labels)), optional
            Class scores (needs ``score_labels``).
        ranked : array of shape (n, K), optional
            Instead: each sample's K best candidates as node ids, ``-1`` padded.
        ranked_scores : array of shape (n, K), optional
            The candidates' scores: the ``ece`` when every row of every batch holds
            probabilities (as :func:`taxovit.evaluate`'s ``ranked_scores``), else null.

        Raises
        ------
        ArgumentError
            Scores without ``score_labels``, bad shapes, or scores in some batches only.
        UnknownLabelError
            A label not in the taxonomy.
        """
        batch = self.batch(y_true, y_pred, scores, ranked, ranked_scores)
        self.add_batch(batch, self.confusions(batch.comp.y_true, batch.comp.y_pred))

    def batch(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        scores: ArrayLike | None = None,
        ranked: ArrayLike | None = None,
        ranked_scores: ArrayLike | None = None,
    ) -> Batch:
        """A batch's checked components, context, scores and statistics (:meth:`update`
        adds them; the Poisson bootstrap resamples them too)."""
        comp = components(y_true, y_pred, self.taxonomy)
        s = None
        if scores is not None:
            if self.score_ids is None:
                raise ArgumentError("scores need score_labels, given when the evaluator is made")
            s = check_scores(scores, n_rows=comp.y_true.size)
        r = None if ranked is None else as_ranked(ranked, comp.y_true.size, self.taxonomy.index.n)
        ctx = build_context(
            comp, self.taxonomy, s, self.score_ids if s is not None else None, self.top_k, r
        )
        inputs = score_inputs(ctx, self.taxonomy, self.score_kind)
        return Batch(comp, ctx, s, inputs, self.statistics(ctx, inputs, ranked_scores))

    def add_batch(self, batch: Batch, confusions: list[tuple[str, Confusion]]) -> None:
        """Add a :meth:`batch` whose :meth:`confusions` are ``confusions``."""
        comp, ctx, s, inputs, st = batch
        layout = (
            st.layout if inputs is None or inputs.probs is not None else self._probe_layout(ctx)
        )
        if self._layout is not None and layout.hit_ks != self._layout.hit_ks:
            raise ArgumentError("give scores with every batch or with none")
        self._layout = layout
        for name, col in st.columns.items():
            self.sums[name] = self.sums.get(name, 0.0) + column_sum(col)
        for name, b in st.binned.items():
            self._add_array(name, b.sums())
        for suffix, conf in confusions:  # per-class counts by node id and by rank position
            for name, got in conf.counts().items():
                self._add_array(name + suffix, np.asarray(got, dtype=np.float64))
        if self.keep_scores and s is not None and ctx.true_col is not None:
            self._kept.append((comp.y_true, ctx.true_col, s))

    @staticmethod
    def statistics(ctx: Any, inputs: Any, ranked_scores: ArrayLike | None = None) -> Any:
        """The batch's statistics; with ``ranked_scores`` ``n_conf``, the rows whose scores
        are probabilities (:meth:`compute` gives the ECE only when that is every row) and,
        when it is every row of the batch, the ECE's bin sums (the first candidate's score
        as confidence); else the ECE is null whatever the other batches hold: no bin sums."""
        conf_rows = None
        if ranked_scores is not None:
            if ctx.ranked is None:
                raise ArgumentError("ranked_scores need ranked candidates")
            conf, conf_rows = ranked_confidence(ctx.ranked, ranked_scores)
            if conf_rows.all():
                ctx.ranked_conf = conf
        st = statistics_of(ctx, inputs, rows=False)
        if conf_rows is not None:
            st.columns["n_conf"] = conf_rows
            st.layout = replace(st.layout, confidence=True)  # the same keys in every batch
        return st

    def _probe_layout(self, ctx: Any) -> Layout:
        """The layout of a scored batch whose scores are not probabilities: the same keys as
        a batch of probabilities (calibration is then null, :meth:`compute`)."""
        ones = np.ones((1, self.score_ids.size))
        probe = ScoreInputs(
            self.taxonomy, ctx.comp.y_true[:1], ctx.true_col[:1], ones, self.score_ids, self.top_k
        )
        return Layout.of(ctx, probe)

    def _add_array(self, name: str, got: NDArray) -> None:
        self.counts[name] = self.counts.get(name, np.zeros(got.size)) + got

    def confusions(self, t: NDArray[np.int64], p: NDArray[np.int64]) -> list[tuple[str, Confusion]]:
        """(name suffix, class codes) of the state's counts: by node id (flat, suffix ``""``)
        and by position among each rank's nodes (suffix ``/rank``)."""
        n = self.taxonomy.index.n
        out = [("", Confusion(None, t, p, n, None))]
        for r, code in self._rank_code.items():
            size = self._rank_size[r]
            tr, pr = code[t], code[p]
            keep: NDArray[np.bool_] | None = tr >= 0
            if keep.all():
                keep = None  # every truth has a class at r (e.g. leaves of a complete tree)
            else:
                tr, pr = tr[keep], pr[keep]
            # a prediction too coarse for the rank: code ``size``, never a truth, never counted
            counted: NDArray[np.bool_] | None = pr >= 0
            if counted.all():
                counted = None
            else:
                pr = np.where(counted, pr, size)
            out.append((f"/{r}", Confusion(keep, tr, pr, size + 1, counted)))
        return out

    def merge(self, other: StreamingEvaluator) -> StreamingEvaluator:
        """Add another evaluator's state (same taxonomy and options) into this one.

        Returns
        -------
        StreamingEvaluator
            ``self``, with the sum of both states.

        Raises
        ------
        ArgumentError
            Different options or score use.
        """
        if other._layout is None:
            return self
        if self._layout is not None and self._layout != other._layout:
            raise ArgumentError("cannot merge evaluators with different options or score use")
        self._layout = other._layout
        for k, v in other.sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0.0) + v
        self._kept += other._kept
        return self

    def to_bytes(self) -> bytes:
        """The state as versioned plain bytes (:mod:`taxovit.evaluation.state_io`).

        Returns
        -------
        bytes
            For :meth:`from_bytes`.

        Raises
        ------
        ArgumentError
            With ``keep_scores=True`` and kept scores (not serialised).
        """
        from taxovit.evaluation.state_io import state_to_bytes

        return state_to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes, taxonomy: Any) -> StreamingEvaluator:
        """An evaluator on ``taxonomy`` with the state of :meth:`to_bytes` (checked).

        Returns
        -------
        StreamingEvaluator

        Raises
        ------
        ArgumentError
            Not a taxovit evaluation state, another format version, or counts that do not
            fit ``taxonomy``.
        """
        from taxovit.evaluation.state_io import state_from_bytes

        return state_from_bytes(data, taxonomy)

    # -- results --------------------------------------------------------------------------
    def compute(self) -> EvaluationReport:
        """The report of everything seen so far (no per-class table, no intervals).

        Returns
        -------
        EvaluationReport
            Every key of :func:`taxovit.evaluate` on the concatenated batches; mAP and
            ``ece_adaptive`` are ``None`` unless ``keep_scores=True``.

        Raises
        ------
        ArgumentError
            No samples yet.
        """
        layout, notes = self.report_layout()
        state = {**self.sums, **self.counts}
        flat = compute(layout, batch_of_one(state), self._row_metrics())
        metrics, per_rank = nest_metrics(flat)
        return EvaluationReport(
            metrics=metrics, per_rank=per_rank, taxonomy=self.taxonomy.summary(), notes=notes
        )

    def report_layout(self) -> tuple[Layout, dict[str, str]]:
        """The keys :meth:`compute` gives (calibration dropped when some batch's scores were
        not probabilities) and the notes saying why."""
        if self._layout is None or self.sums.get("one", 0) == 0:
            raise ArgumentError("no samples: call update() first")
        layout, notes = self._layout, {}
        if layout.probs and self.sums.get("n_probs", 0.0) != self.sums["one"]:
            layout = layout.without_probs()  # some batch's scores were not probabilities
        if layout.confidence and self.sums.get("n_conf", 0.0) != self.sums["one"]:
            layout = replace(layout, confidence=False)  # as taxovit.evaluate's note
            notes["ece"] = (
                "the candidates' scores are not probabilities (each in [0, 1], summing to <= 1)"
            )
        return layout, notes

    def _row_metrics(self) -> dict[str, Any]:
        """mAP and ``ece_adaptive`` (flat and per rank) of the kept scores (none kept: null)."""
        if not self._kept:
            return {}
        true_ids, true_col, scores = (
            np.concatenate(part) for part in zip(*self._kept, strict=True)
        )
        inputs = ScoreInputs(
            self.taxonomy, true_ids, true_col, scores, self.score_ids, self.top_k, self.score_kind
        )
        return row_metrics(inputs)
