"""The rows of the metric table (:mod:`taxovit.metrics.table`): the row type, the value
functions that turn sums of per-sample statistics into values, and the rows of the flat,
hierarchical, score and per-rank keys. :mod:`taxovit.metrics.table` assembles them and
evaluates them; the optional questions' rows are in :mod:`taxovit.metrics.table_questions`.
Torch-free and numpy-only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.metrics._common import safe_divide

HIGHER, LOWER, NEITHER = "higher", "lower", "neither"
#: what a row needs: labels only, the k best candidates (scores or a ranked top-K file), a
#: score for every class (probabilities for calibration), the top-1 probability (full
#: probabilities, or a top-K file whose scores are probabilities), a tree (not a DAG)
LABELS, CANDIDATES, SCORES, PROBS, TREE = "labels", "candidates", "scores", "probabilities", "tree"
CONFIDENCE = "top-1 probability"


@dataclass(frozen=True)
class Metric:
    """One row of the table (module docstring)."""

    key: str
    label: str
    direction: str
    needs: tuple[str, ...]
    stats: tuple[str, ...]
    value: Callable[..., NDArray[np.float64]]
    group: str
    resample: bool = True
    integer: bool = False
    shown: bool = True  # in the table view of ``taxovit evaluate`` (not: counts, duplicates)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.key))

    def evaluate(self, sums: Callable[[str], NDArray], **params: Any) -> NDArray[np.float64]:
        """The value(s) of this row from ``sums`` (``params`` fill its placeholders)."""
        return np.asarray(self.value(*(sums(s.format(**params)) for s in self.stats)), dtype=float)


# ----------------------------------------------------------------------------- value functions


def _ratio(num: NDArray, den: NDArray) -> NDArray[np.float64]:
    """``num / den``, 0 where ``den`` is 0 (every 0/0 is 0)."""
    return safe_divide(num, den)


def _ratio_or_null(num: NDArray, den: NDArray) -> NDArray[np.float64]:
    """``num / den``, NaN (``null``) where ``den`` is 0, e.g. a severity without mistakes."""
    den = np.asarray(den, dtype=float)
    return np.where(den > 0, np.asarray(num, dtype=float) / np.where(den > 0, den, 1), np.nan)


def _count(x: NDArray) -> NDArray[np.float64]:
    return np.round(np.asarray(x, dtype=float))


def prf_rows(tp: NDArray, pred: NDArray, sup: NDArray, average: str) -> tuple[NDArray, ...]:
    """Precision, recall, F1 of per-class counts, one row per weighting (``(b, K)`` each).

    Per class ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F = 2TP/(2TP+FP+FN)`` with
    ``FP = pred − TP``, ``FN = sup − TP``, every 0/0 = 0; ``micro`` pools the counts,
    ``macro`` is the plain mean and ``weighted`` the support-weighted mean over the classes
    *seen* (some count non-zero), as scikit-learn's label set is the labels present
    (``precision_recall_fscore_support(zero_division=0)``). A single row is averaged over
    its seen classes only, in scikit-learn's summation order.
    """
    tp, pred, sup = (np.atleast_2d(np.asarray(x, dtype=np.float64)) for x in (tp, pred, sup))
    fp, fn = pred - tp, sup - tp
    if average == "micro":
        tps, fps, fns = tp.sum(1), fp.sum(1), fn.sum(1)
        return (
            safe_divide(tps, tps + fps),
            safe_divide(tps, tps + fns),
            safe_divide(2.0 * tps, (tps + fns) + (tps + fps)),
        )
    seen = (tp != 0) | (fp != 0) | (fn != 0)
    if tp.shape[0] == 1:  # the point estimate: mean over the seen classes, as sklearn sums
        keep = seen[0]
        tp, fp, fn, sup, seen = tp[:, keep], fp[:, keep], fn[:, keep], sup[:, keep], seen[:, keep]
    per_class = (
        safe_divide(tp, tp + fp),
        safe_divide(tp, tp + fn),
        safe_divide(2.0 * tp, (tp + fn) + (tp + fp)),
    )
    weights = seen if average == "macro" else seen * sup
    total = weights.sum(1)
    if tp.shape[0] == 1 and tp.shape[1] and total[0] > 0:
        w = weights[0].astype(float)
        return tuple(
            np.array([np.average(x[0], weights=w) if average == "weighted" else np.mean(x[0])])
            for x in per_class
        )
    return tuple(safe_divide((x * weights).sum(1), total) for x in per_class)


#: the last prf_rows call: precision, recall and F1 rows read the same count arrays one
#: after the other, so each computes all three once (the arrays are held, compared by identity)
_PRF_LAST: list = [None, None]


def _prf(which: int, average: str) -> Callable[..., NDArray]:
    def value(tp: NDArray, pred: NDArray, sup: NDArray) -> NDArray:
        key, result = _PRF_LAST
        if key is None or not (
            key[0] is tp and key[1] is pred and key[2] is sup and key[3] == average
        ):
            result = prf_rows(tp, pred, sup, average)
            _PRF_LAST[:] = [(tp, pred, sup, average), result]
        return result[which]

    return value


def _hf_micro(inter: NDArray, size_pred: NDArray, size_true: NDArray) -> NDArray:
    hp, hr = _ratio(inter, size_pred), _ratio(inter, size_true)
    return _ratio(2 * hp * hr, hp + hr)


def _ece(conf: NDArray, acc: NDArray, n: NDArray) -> NDArray:
    """``Σ_b |acc_b − conf_b| / n`` from the per-bin sums of the correctness and confidence
    (Guo et al. 2017; Naeini et al. 2015)."""
    return _ratio(np.sum(np.abs(np.atleast_2d(acc) - np.atleast_2d(conf)), axis=1), n)


def _from_rows(rows: Any, key: str) -> NDArray:
    """A row metric's value: computed from every score by
    :func:`taxovit.evaluation.statistics.row_metrics` (mAP: one-vs-rest average precision;
    ``ece_adaptive``: equal-mass bins of the sorted confidences), not from sums."""
    v = rows.get(key)
    return np.array([np.nan if v is None else v])


# ----------------------------------------------------------------------------- the table

_FLAT, _HIER, _CAL, _RANK = "flat", "hierarchical", "calibration", "rank"


# fmt: off
def _flat_rows() -> list[Metric]:
    rows = [
        Metric("n_samples", "samples", NEITHER, (LABELS,), ("one",), _count, _FLAT, integer=True,
               shown=False),
        Metric("n_mistakes", "mistakes", LOWER, (LABELS,), ("wrong",), _count, _FLAT, integer=True,
               shown=False),
        Metric("accuracy", "accuracy", HIGHER, (LABELS,), ("correct", "one"), _ratio, _FLAT),
    ]
    for avg in ("micro", "macro", "weighted"):
        for i, name in enumerate(("precision", "recall", "f1")):
            shown = "F1" if name == "f1" else name
            rows.append(Metric(f"{name}_{avg}", f"{shown} ({avg})", HIGHER, (LABELS,),
                               ("tp", "pred", "sup"), _prf(i, avg), _FLAT,
                               shown=avg != "micro" or name == "precision"))
    return rows
# fmt: on


# fmt: off
def _hier_rows() -> list[Metric]:
    h = (LABELS,)
    rows = [
        Metric("hierarchical_precision_micro", "hier. precision (micro)", HIGHER, h,
               ("inter", "size_pred"), _ratio, _HIER),
        Metric("hierarchical_recall_micro", "hier. recall (micro)", HIGHER, h,
               ("inter", "size_true"), _ratio, _HIER),
        Metric("hierarchical_f1_micro", "hier. F1 (micro)", HIGHER, h,
               ("inter", "size_pred", "size_true"), _hf_micro, _HIER),
    ]
    for name, col in (("precision", "hp"), ("recall", "hr"), ("f1", "hf")):
        shown = "F1" if name == "f1" else name
        rows.append(Metric(f"hierarchical_{name}_macro", f"hier. {shown} (macro)", HIGHER, h,
                           (col, "one"), _ratio, _HIER))
    return rows + [
        Metric("mean_lca_height", "mean LCA height", LOWER, h, ("d", "one"), _ratio, _HIER),
        Metric("mistake_severity", "mistake severity", LOWER, h, ("d", "wrong"), _ratio_or_null, _HIER),
        Metric("mistake_severity_depth", "mistake severity (D − depth of LCA)", LOWER, h,
               ("depth_distance", "wrong"), _ratio_or_null, _HIER),
        Metric("mean_lca_depth", "mean LCA depth", HIGHER, h, ("lca_depth", "one"), _ratio, _HIER),
        Metric("mean_lca_depth_distance", "mean LCA depth distance", LOWER, h,
               ("depth_distance", "one"), _ratio, _HIER),
        Metric("tree_induced_error_mean", "tree-induced error (mean)", LOWER, h, ("tie", "one"),
               _ratio, _HIER),
        Metric("tree_induced_error_sum", "tree-induced error (sum)", LOWER, h, ("tie",),
               lambda x: np.asarray(x, dtype=float), _HIER),
        Metric("per_level_accuracy/{level}", "accuracy at depth {level}", HIGHER, (LABELS, TREE),
               ("level_hit/{level}", "level_mask/{level}"), _ratio, _HIER),
        Metric("top{k}_accuracy", "top-{k} accuracy", HIGHER, (CANDIDATES,), ("hits/{k}", "one"),
               _ratio, _FLAT),
        Metric("avg_hierarchical_distance_at_{k}", "avg. hier. distance @{k}", LOWER, (CANDIDATES,),
               ("hdist/{k}", "one"), _ratio, _HIER),
        Metric("avg_hierarchical_distance_at_{k}_depth", "avg. hier. distance @{k} (D − depth)",
               LOWER, (CANDIDATES,), ("hdist_depth/{k}", "one"), _ratio, _HIER),
    ]
# fmt: on


# fmt: off
def _score_rows() -> list[Metric]:
    s, p = (SCORES,), (PROBS,)
    maps = [("map_macro", "mAP (macro)"), ("map_weighted", "mAP (weighted)"),
            ("map_micro", "mAP (micro)"), ("map_macro_present", "mAP (macro, classes present)")]
    rows = [Metric(key, shown, HIGHER, s, ("rows",), _from_rows, _FLAT, resample=False)
            for key, shown in maps]
    return rows + [
        Metric("ece", "expected calibration error (15 bins)", LOWER, (CONFIDENCE,),
               ("ece_conf", "ece_acc", "one"), _ece, _CAL),
        Metric("ece_adaptive", "expected calibration error (adaptive)", LOWER, (CONFIDENCE,), ("rows",),
               _from_rows, _CAL, resample=False),
        Metric("brier", "Brier score", LOWER, p, ("brier", "one"), _ratio, _CAL),
        Metric("nll", "negative log-likelihood", LOWER, p, ("nll", "one"), _ratio, _CAL),
    ]
# fmt: on


# fmt: off
def _rank_rows() -> list[Metric]:
    r, sr, pr = (LABELS,), (PROBS, TREE), "per_rank/{rank}/"
    rows = [
        Metric(pr + "n_samples", "samples", NEITHER, r, ("rank_keep/{rank}",), _count, _RANK,
               integer=True),
        Metric(pr + "accuracy", "accuracy", HIGHER, r, ("rank_correct/{rank}", "rank_keep/{rank}"),
               _ratio, _RANK),
    ]
    for avg in ("macro", "weighted"):
        for i, name in enumerate(("precision", "recall", "f1")):
            shown = "F1" if name == "f1" else name
            rows.append(Metric(pr + f"{name}_{avg}", f"{shown} ({avg})", HIGHER, r,
                               ("tp/{rank}", "pred/{rank}", "sup/{rank}"), _prf(i, avg), _RANK))
    return rows + [
        Metric(pr + "top{k}_accuracy", "top-{k} (marginals)", HIGHER, sr,
               ("rank_hits/{rank}/{k}", "rank_keep/{rank}"), _ratio_or_null, _RANK),
        Metric(pr + "ece", "ECE (marginals)", LOWER, sr,
               ("ece_conf/{rank}", "ece_acc/{rank}", "rank_keep/{rank}"), _ece_or_null, _RANK),
        Metric(pr + "ece_adaptive", "adaptive ECE (marginals)", LOWER, sr, ("rows",),
               _from_rows, _RANK, resample=False),
        Metric(pr + "brier", "Brier score (marginals)", LOWER, sr,
               ("brier/{rank}", "rank_keep/{rank}"), _ratio_or_null, _RANK),
        Metric(pr + "nll", "NLL (marginals)", LOWER, sr, ("nll/{rank}", "rank_keep/{rank}"),
               _ratio_or_null, _RANK),
    ]
# fmt: on


def _ece_or_null(conf: NDArray, acc: NDArray, n: NDArray) -> NDArray:
    return np.where(np.asarray(n) > 0, _ece(conf, acc, n), np.nan)


def hierarchical_columns(c: Any) -> dict[str, NDArray]:
    """The per-sample statistics of the hierarchical P/R/F rows, from a sample's set sizes
    (:class:`~taxovit.metrics.hierarchical.HierarchicalComponents`): the micro rows sum
    ``inter``, ``size_true`` and ``size_pred``, the macro rows average ``hp``, ``hr``, ``hf``."""
    return {
        "inter": c.inter,
        "size_true": c.size_true,
        "size_pred": c.size_pred,
        "hp": safe_divide(c.inter, c.size_pred),
        "hr": safe_divide(c.inter, c.size_true),
        "hf": safe_divide(2 * c.inter, c.size_pred + c.size_true),
    }
