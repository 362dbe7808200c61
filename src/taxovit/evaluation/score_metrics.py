"""The scores of an evaluation: :class:`ScoreInputs` (probabilities and per-rank marginals,
made once), the mAP keys, and the reliability diagram's bins.

``ece``, ``brier``, ``nll`` and the per-rank marginal top-k and calibration are sums of
per-sample terms (:mod:`taxovit.evaluation.statistics`, :mod:`taxovit.metrics.table`): they
stream, merge and resample exactly. mAP and ``ece_adaptive`` need every score (a ranking, a
sort): computed on the whole set only, no bootstrap interval, and in streaming only with
``keep_scores=True``.

Per rank (on a tree) the marginals ``P(node | x)`` of the rank's nodes are the score
columns, in increasing node id; their top-k uses :func:`taxovit.metrics.top_k_columns`, so
tied marginals are broken by node id, **the higher id first** (scikit-learn's rule for tied
scores: the later column first). A truth no score class reaches has marginal 0 (its Brier
term ``(0 − 1)²`` counts, its log loss is ``−log eps``).

* ``map_*``: one-vs-rest average precision over the score columns.
* ``ece`` (15 equal-width bins), ``ece_adaptive`` (15 equal-mass bins), ``brier``, ``nll``:
  calibration of the class probabilities (:mod:`taxovit.metrics.calibration`); the scores
  are turned into probabilities as ``score_kind`` says (``probs``: each row divided by its
  sum; ``logits``: softmax).
* Per rank, on a tree: ``top{k}_accuracy``, ``ece``, ``ece_adaptive``, ``brier``, ``nll`` of
  the marginal probabilities ``P(node | x)`` of the rank's nodes (samples whose truth has no
  ancestor at the rank are left out; classes coarser than the rank add no mass).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError
from taxovit.metrics import average_precision
from taxovit.metrics.calibration import N_BINS, uniform_bins
from taxovit.taxonomy import Taxonomy

__all__ = [
    "CALIBRATION_KEYS",
    "MAP_KEYS",
    "ScoreInputs",
    "map_metrics",
    "reliability_bins",
    "rank_truth",
    "score_inputs",
]

MAP_KEYS = ("map_macro", "map_weighted", "map_micro", "map_macro_present")
CALIBRATION_KEYS = ("ece", "ece_adaptive", "brier", "nll")
#: elements per block of rows of the marginals (16 MB of float64)
_MARGINAL_BLOCK = 1 << 21


def map_metrics(
    true_col: NDArray[np.int64] | None,
    scores: NDArray[np.float64] | None,
    ap: NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """mAP keys from one per-column AP pass (macro, weighted and macro_present share it).

    ``ap``: the per-column AP when already computed (the point estimate keeps it for the
    per-class table).
    """
    if scores is None or true_col is None:
        return dict.fromkeys(MAP_KEYS)
    if ap is None:
        ap = average_precision(true_col, scores, None)
    n_pos = np.bincount(true_col[true_col >= 0], minlength=scores.shape[1])
    present = n_pos > 0
    return {
        "map_macro": float(ap.mean()),
        "map_weighted": float(np.average(ap, weights=n_pos)) if present.any() else 0.0,
        "map_micro": average_precision(true_col, scores, "micro"),
        "map_macro_present": float(ap[present].mean()) if present.any() else None,
    }


class ScoreInputs:
    """The rows' truth (node ids and score columns) and scores, with the probabilities
    derived once; :meth:`rows` selects a resample."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        true_ids,
        true_col,
        scores,
        score_ids,
        top_k,
        score_kind: str = "probs",
    ) -> None:
        self.taxonomy, self.top_k, self.score_ids = taxonomy, tuple(top_k), score_ids
        self.true_ids, self.true_col, self.scores = true_ids, true_col, scores
        self.probs: NDArray[np.float64] | None = None
        self.note: str | None = None
        from taxovit.decide import to_probabilities  # scipy: only with scores (start-up time)

        try:
            self.probs = to_probabilities(scores, score_kind)
        except ArgumentError as exc:
            self.note = f"the scores are not probabilities ({exc})"
        self.ranks = list(taxonomy.rank_names) if taxonomy.is_tree else []
        self._marginals: dict[str, Any] = {}

    def marginals(self, rank: str) -> Any:
        """The rank's marginal probabilities (:func:`taxovit.decide.rank_marginals`), made once
        for every rank; ``None`` without probabilities or when no score class reaches it."""
        if self.probs is None or rank not in self.ranks:
            return None
        if not self._marginals:
            self._marginals = self._blocked_marginals()
        return self._marginals.get(rank)

    def _blocked_marginals(self) -> dict[str, Any]:
        """:func:`taxovit.decide.rank_marginals` of every rank, in blocks of rows: each block
        is copied Fortran-ordered once (the sparse product then reads it as a C-contiguous
        (C x rows) matrix instead of copying all (n x C) per rank); the same values."""
        from taxovit.decide import rank_marginals
        from taxovit.decide.marginals import RankMarginals

        n, c = self.probs.shape
        step = max(1, _MARGINAL_BLOCK // max(c, 1))
        out: dict[str, Any] = {}
        for lo in range(0, n, step):
            block = np.asfortranarray(self.probs[lo : lo + step])
            for rank in self.ranks:
                marg = rank_marginals(block, self.score_ids, self.taxonomy, rank)
                if rank not in out:
                    out[rank] = RankMarginals(rank, marg.nodes, np.empty((n, marg.nodes.size)))
                out[rank].probs[lo : lo + step] = marg.probs
        return {r: (m if m.nodes.size else None) for r, m in out.items()}

    def forget_marginals(self) -> None:
        """Free the cached marginals (``n x nodes`` per rank)."""
        self._marginals = {}

    def rows(self, idx: NDArray[np.int64]) -> ScoreInputs:
        out = object.__new__(ScoreInputs)
        out.__dict__.update(self.__dict__)
        out.true_ids, out.true_col, out.scores = (
            self.true_ids[idx],
            self.true_col[idx],
            self.scores[idx],
        )
        out.probs = None if self.probs is None else self.probs[idx]
        out._marginals = {}
        return out


def score_inputs(ctx: Any, taxonomy: Taxonomy, score_kind: str = "probs") -> ScoreInputs | None:
    """The score inputs of an evaluation context (``None`` without scores)."""
    if ctx.scores is None or ctx.true_col is None:
        return None
    return ScoreInputs(
        taxonomy, ctx.comp.y_true, ctx.true_col, ctx.scores, ctx.score_ids, ctx.top_k, score_kind
    )


def rank_truth(inp: ScoreInputs, rank: str, nodes: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
    """The samples whose truth has an ancestor at ``rank`` (``keep``) and, for those, the
    column of that ancestor among the marginals' ``nodes`` (``-1``: no score class reaches
    it, so its probability is 0)."""
    truth = inp.taxonomy.index.ancestor_at_rank(inp.true_ids, rank)
    keep = truth >= 0
    if nodes.size == 0:
        return keep, np.full(int(keep.sum()), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(nodes, truth[keep]), nodes.size - 1)
    return keep, np.where(nodes[pos] == truth[keep], pos, -1)


def reliability_bins(inp: ScoreInputs, terms: Any = None) -> dict[str, list[float]] | None:
    """Per equal-width bin: mean confidence, accuracy and count (the reliability diagram);
    ``terms``: the probabilities' :class:`~taxovit.metrics.calibration.CalibrationTerms`,
    if already computed."""
    if inp.probs is None:
        return None
    from taxovit.metrics.calibration import calibration_terms

    terms = calibration_terms(inp.probs, inp.true_col) if terms is None else terms
    conf, correct = terms.confidence, terms.correct
    bins = uniform_bins(conf)
    count = np.bincount(bins, minlength=N_BINS + 1).astype(float)
    mean_conf = np.bincount(bins, weights=conf, minlength=N_BINS + 1) / np.maximum(count, 1)
    acc = np.bincount(bins, weights=correct.astype(float), minlength=N_BINS + 1) / np.maximum(
        count, 1
    )
    return {"confidence": mean_conf.tolist(), "accuracy": acc.tolist(), "count": count.tolist()}
