"""The metrics that need every score of a sample: mAP, calibration, and per-rank top-k and
calibration from marginal probabilities.

They are not sums over samples, so a bootstrap resample recomputes them on its drawn rows
(and streaming evaluation needs ``keep_scores``).

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
from taxovit.metrics import average_precision, top_k_columns
from taxovit.metrics.calibration import brier_score, expected_calibration_error, log_loss
from taxovit.taxonomy import Taxonomy

__all__ = [
    "CALIBRATION_KEYS",
    "MAP_KEYS",
    "ScoreInputs",
    "map_metrics",
    "reliability_bins",
    "score_inputs",
    "score_metrics",
]

MAP_KEYS = ("map_macro", "map_weighted", "map_micro", "map_macro_present")
CALIBRATION_KEYS = ("ece", "ece_adaptive", "brier", "nll")
N_BINS = 15


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


def _calibration(probs: NDArray[np.float64], true_col: NDArray[np.int64]) -> dict[str, float]:
    return {
        "ece": expected_calibration_error(probs, true_col, N_BINS),
        "ece_adaptive": expected_calibration_error(probs, true_col, N_BINS, "adaptive"),
        "brier": brier_score(probs, true_col),
        "nll": log_loss(probs, true_col),
    }


class ScoreInputs:
    """The rows' truth (node ids and score columns) and scores, with the probabilities
    derived once; :meth:`rows` selects a resample."""

    def __init__(self, taxonomy: Taxonomy, true_ids, true_col, scores, score_ids, top_k,
                 score_kind: str = "probs") -> None:  # fmt: skip
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

    def rows(self, idx: NDArray[np.int64]) -> ScoreInputs:
        out = object.__new__(ScoreInputs)
        out.__dict__.update(self.__dict__)
        out.true_ids, out.true_col, out.scores = self.true_ids[idx], self.true_col[idx], self.scores[idx]
        out.probs = None if self.probs is None else self.probs[idx]
        return out


def score_inputs(ctx: Any, taxonomy: Taxonomy, score_kind: str = "probs") -> ScoreInputs | None:
    """The score inputs of an evaluation context (``None`` without scores)."""
    if ctx.scores is None or ctx.true_col is None:
        return None
    return ScoreInputs(taxonomy, ctx.comp.y_true, ctx.true_col, ctx.scores, ctx.score_ids,
                       ctx.top_k, score_kind)  # fmt: skip


def _rank_metrics(inp: ScoreInputs, rank: str) -> dict[str, Any]:
    from taxovit.decide import rank_marginals

    marg = rank_marginals(inp.probs, inp.score_ids, inp.taxonomy, rank)
    truth = inp.taxonomy.index.ancestor_at_rank(inp.true_ids, rank)
    keep = truth >= 0
    out: dict[str, Any] = {}
    if not keep.any() or marg.nodes.size == 0:
        return {f"top{k}_accuracy": None for k in inp.top_k} | dict.fromkeys(CALIBRATION_KEYS)
    p = marg.probs[keep]
    pos = np.searchsorted(marg.nodes, truth[keep])
    pos_c = np.minimum(pos, marg.nodes.size - 1)
    col = np.where(marg.nodes[pos_c] == truth[keep], pos_c, -1)  # -1: no class reaches it
    top = top_k_columns(p, max(inp.top_k))
    for k in inp.top_k:
        out[f"top{k}_accuracy"] = float(np.mean((top[:, :k] == col[:, None]).any(axis=1)))
    return out | _calibration(p, col)


def score_metrics(inp: ScoreInputs, ap: NDArray[np.float64] | None = None) -> dict[str, Any]:
    """The flat keys of the module docstring (``per_rank/<rank>/<key>`` for ranks)."""
    out = map_metrics(inp.true_col, inp.scores, ap)
    if inp.probs is None:
        return out | dict.fromkeys(CALIBRATION_KEYS)
    out |= _calibration(inp.probs, inp.true_col)
    for rank in inp.ranks:
        for key, value in _rank_metrics(inp, rank).items():
            out[f"per_rank/{rank}/{key}"] = value
    return out


def reliability_bins(inp: ScoreInputs) -> dict[str, list[float]] | None:
    """Per equal-width bin: mean confidence, accuracy and count (the reliability diagram)."""
    if inp.probs is None:
        return None
    from taxovit.metrics.calibration import confidence_and_correct

    conf, correct = confidence_and_correct(inp.probs, inp.true_col)
    bins = np.searchsorted(np.linspace(0, 1, N_BINS + 1), conf, side="right") - 1
    count = np.bincount(bins, minlength=N_BINS + 1).astype(float)
    mean_conf = np.bincount(bins, weights=conf, minlength=N_BINS + 1) / np.maximum(count, 1)
    acc = np.bincount(bins, weights=correct.astype(float), minlength=N_BINS + 1) / np.maximum(count, 1)
    return {"confidence": mean_conf.tolist(), "accuracy": acc.tolist(), "count": count.tolist()}
