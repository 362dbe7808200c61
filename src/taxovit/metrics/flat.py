"""Flat (taxonomy-agnostic) classification metrics over integer label arrays (node ids).

Pure, vectorised numpy functions.  Conventions follow ``docs/metrics.md``; where it is silent
we follow scikit-learn and say so (every 0/0 is 0, scikit-learn's ``zero_division=0``).
Score-based metrics take ``scores`` of shape ``(n, C)`` and ``true_col``, each sample's true
column or ``-1`` when its label has none (never a hit; a negative in every column).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics._ap import ap_from_ranks, column_ap, kernel, micro_counted
from taxovit.metrics._common import (
    SampleWeights,
    check_pair,
    check_scores,
    check_true_col,
    safe_divide,
)
from taxovit.metrics.table import value_of

__all__ = [
    "accuracy",
    "average_precision",
    "confusion_counts",
    "counts_from_codes",
    "precision_recall_f1",
    "prf_from_counts",
    "top_k_accuracy",
    "top_k_columns",
]

Average = Literal["micro", "macro", "weighted"]
APAverage = Literal["macro", "weighted", "micro", "macro_present"]

# Work on row/column blocks of about this many matrix elements, so that temporaries stay
# O(block) in memory whatever n and C are.
_BLOCK_ELEMS = 1 << 22
# confusion_counts counts by bincount over the label range when it spans at most this many
# values more than twice the number of samples (memory O(n + range)); np.unique otherwise.
_BINCOUNT_SPAN = 1 << 20


# ----------------------------------------------------------------------------- label metrics


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of exact matches: ``mean([y_true == y_pred])``.

    Source: docs/metrics.md key ``accuracy``; equals scikit-learn ``accuracy_score``.
    Raises ``ValueError`` on empty input. The value is the metric table's ``accuracy`` row.

    Examples
    --------
    >>> accuracy([1, 2, 3, 3], [1, 2, 3, 4])
    0.75
    """
    t, p = check_pair(y_true, y_pred)
    return value_of("accuracy", {"correct": np.count_nonzero(t == p), "one": t.shape[0]})


def confusion_counts(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[
    NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]
]:
    """Per-class one-vs-rest counts, labels treated as atomic classes.

    Returns ``(labels, tp, fp, fn, support)``: ``labels`` is the sorted union of the labels
    seen in ``y_true`` or ``y_pred``; for class ``c``, ``tp = #{y_true = y_pred = c}``,
    ``fp = #{y_pred = c} - tp``, ``fn = #{y_true = c} - tp`` and ``support = #{y_true = c}``.
    Memory O(n + distinct labels): ``np.bincount`` if the labels span at most ``2 n + 2**20``
    values, else ``np.unique`` first.  Raises ``ValueError`` as :func:`accuracy` does.

    Examples
    --------
    >>> confusion_counts([1, 1, 2, 3], [1, 2, 2, 2])
    (array([1, 2, 3]), array([1, 1, 0]), array([0, 2, 0]), array([1, 0, 1]), array([2, 1, 1]))
    """
    t, p = check_pair(y_true, y_pred)
    lo = min(int(t.min()), int(p.min()))
    span = max(int(t.max()), int(p.max())) - lo + 1
    if span <= _BINCOUNT_SPAN + 2 * t.shape[0]:
        return _counts_by_bincount(t, p, lo, span)
    labels, inv = np.unique(np.concatenate([t, p]), return_inverse=True)
    n = t.shape[0]
    tp, fp, fn, support = counts_from_codes(inv[:n], inv[n:], labels.shape[0])
    return labels.astype(np.int64), tp, fp, fn, support


def _counts_by_bincount(t: NDArray[np.int64], p: NDArray[np.int64], lo: int, span: int) -> tuple:
    """:func:`confusion_counts` of labels in ``[lo, lo + span)``: three bincounts over the
    value range, then the labels present (no sort; O(n + span))."""
    if lo:
        t, p = t - lo, p - lo
    support = np.bincount(t, minlength=span)
    predicted = np.bincount(p, minlength=span)
    tp = np.bincount(t[t == p], minlength=span)
    present = np.flatnonzero(support | predicted)
    tp, support = tp[present], support[present]
    return present + lo, tp, predicted[present] - tp, support - tp, support


def counts_from_codes(
    codes_true: NDArray[np.int64],
    codes_pred: NDArray[np.int64],
    k: int,
    w: SampleWeights | None = None,
    pred_counted: NDArray[np.bool_] | None = None,
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """``(tp, fp, fn, support)`` per class from dense class codes ``0..k-1`` of each sample.

    The one place taxovit counts: ``tp[c] = Σ w·[t = p = c]``, ``support[c] = Σ w·[t = c]``,
    ``fp = (Σ w·[p = c]) − tp``, ``fn = support − tp``. ``w``: sample weights (default 1
    each, and the counts stay integers). ``pred_counted``: only these samples' predictions
    count towards a class's predicted total (a prediction too coarse for a rank is nobody's
    false positive).  Returns int64 counts without ``w``, float64 with.

    Examples
    --------
    >>> counts_from_codes(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    (array([1, 1, 0]), array([0, 2, 0]), array([1, 0, 1]), array([2, 1, 1]))
    """
    w = SampleWeights(None, codes_true.size) if w is None else w
    ok = codes_true == codes_pred
    tp = w.take(ok).bincount(codes_true[ok], k)
    support = w.bincount(codes_true, k)
    if pred_counted is None:
        predicted = w.bincount(codes_pred, k)
    else:
        predicted = w.take(pred_counted).bincount(codes_pred[pred_counted], k)
    return tp, predicted - tp, support - tp, support


def prf_from_counts(
    tp: ArrayLike,
    fp: ArrayLike,
    fn: ArrayLike,
    support: ArrayLike | None = None,
    average: Average | None = "macro",
) -> tuple:
    """Precision, recall and F1 from per-class counts (which may be re-weighted, e.g. bootstrap).

    Per class: ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F = 2TP/(2TP+FP+FN)``, every 0/0 = 0.
    ``macro`` is the plain mean over classes, ``weighted`` the mean weighted by ``support``
    (default ``tp + fn``; 0 if the total support is 0), ``micro`` pools the counts:
    ``P = ΣTP/Σ(TP+FP)`` etc.  Classes whose counts are all zero (``tp = fp = fn = 0``)
    are treated as *not seen* and left out of the averages, so that re-weighted counts
    give what scikit-learn gives on the corresponding resample (its label set is the
    labels present).  Source: docs/metrics.md; scikit-learn
    ``precision_recall_fscore_support(zero_division=0)``.

    Returns ``(precision, recall, f1)`` as floats (the metric table's ``precision_<average>``
    rows, :func:`taxovit.metrics.table.prf_rows`), or, with ``average=None``, the per-class
    arrays ``(precision, recall, f1, support)`` (all classes, seen or not).

    Examples
    --------
    >>> prf_from_counts([1, 0, 1], [0, 1, 1], [1, 1, 0], average="macro")  # doctest: +ELLIPSIS
    (0.5, 0.5, 0.444...)
    """
    tp_ = np.asarray(tp, dtype=np.float64)
    fp_ = np.asarray(fp, dtype=np.float64)
    fn_ = np.asarray(fn, dtype=np.float64)
    sup = tp_ + fn_ if support is None else np.asarray(support, dtype=np.float64)
    if not (tp_.shape == fp_.shape == fn_.shape == sup.shape) or tp_.ndim != 1:
        raise ValueError("tp, fp, fn and support must be 1-D arrays of the same length")
    if average is None:
        prec = safe_divide(tp_, tp_ + fp_)
        rec = safe_divide(tp_, tp_ + fn_)
        # scikit-learn computes F as 2TP / (true_sum + pred_sum) = 2TP / (2TP + FP + FN).
        f1 = safe_divide(2.0 * tp_, (tp_ + fn_) + (tp_ + fp_))
        return prec, rec, f1, sup
    if average not in ("micro", "macro", "weighted"):
        raise ValueError(f"average must be 'micro', 'macro', 'weighted' or None, got {average!r}")
    sums = {"tp": tp_, "pred": tp_ + fp_, "sup": sup if support is not None else tp_ + fn_}
    return tuple(value_of(f"{m}_{average}", sums) for m in ("precision", "recall", "f1"))


def precision_recall_f1(
    y_true: ArrayLike, y_pred: ArrayLike, average: Average | None = "macro"
) -> tuple:
    """Precision, recall and F1 with labels as atomic classes.

    The label set is the union of the labels seen in ``y_true`` or ``y_pred``.  Per class
    ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F = 2TP/(2TP+FP+FN)``, 0/0 = 0; ``macro`` is
    the plain mean over classes, ``weighted`` weights each class by its support (number of
    true samples), ``micro`` pools the counts (for single-label data all three equal the
    accuracy).  Source: docs/metrics.md; equals scikit-learn
    ``precision_recall_fscore_support(y_true, y_pred, average=..., zero_division=0)``.

    Returns ``(precision, recall, f1)`` floats, or with ``average=None`` the arrays
    ``(labels, precision, recall, f1, support)`` (labels sorted, support as int64).

    Examples
    --------
    >>> precision_recall_f1([1, 1, 2, 3], [1, 2, 2, 2])
    (0.444..., 0.5, 0.388...)
    """
    labels, tp, fp, fn, support = confusion_counts(y_true, y_pred)
    if average is None:
        prec, rec, f1, _ = prf_from_counts(tp, fp, fn, support, None)
        return labels, prec, rec, f1, support
    return prf_from_counts(tp, fp, fn, support, average)


# ----------------------------------------------------------------------------- top-k


def _row_block(c: int) -> int:
    return max(1, _BLOCK_ELEMS // max(c, 1))


def top_k_columns(scores: ArrayLike, k: int) -> NDArray[np.int64]:
    """The ``k`` best score columns of each row, best first, shape ``(n, min(k, C))``.

    Ranking rule (matches scikit-learn ``top_k_accuracy_score``, which ranks with
    ``np.argsort(scores, axis=1, kind="mergesort")[:, ::-1]``): higher score first, and
    among **equal scores the later (higher-index) column first**.  Equivalently, columns
    are ranked by the key ``(score, column index)`` in decreasing order, which is unique.

    O(n·C) time, O(block) memory: ``np.partition`` finds the k-th score, then only ``k``
    candidates are sorted.  ``k`` is capped at ``C``; ``k < 1`` raises ``ValueError``.

    Examples
    --------
    >>> top_k_columns(np.array([[0.1, 0.6, 0.3], [0.5, 0.5, 0.0]]), 2)
    array([[1, 2],
           [1, 0]])
    """
    s = check_scores(scores)
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, c = s.shape
    k = min(k, c)
    out = np.empty((n, k), dtype=np.int64)
    if k == 0 or n == 0:
        return out
    step = _row_block(c)
    for lo in range(0, n, step):
        blk = s[lo : lo + step]
        out[lo : lo + step] = _top_k_block(blk, k)
    return out


def _top_k_block(blk: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    m, c = blk.shape
    if k == c:
        return np.argsort(blk, axis=1, kind="stable")[:, ::-1].astype(np.int64)
    kth = np.partition(blk, c - k, axis=1)[:, c - k]  # the k-th largest score of each row
    gt = blk > kth[:, None]
    eq = blk == kth[:, None]
    need = k - np.count_nonzero(gt, axis=1)  # places left for columns scoring exactly kth
    n_eq = np.count_nonzero(eq, axis=1)
    sel = gt | eq
    tied = np.flatnonzero(n_eq > need)
    if tied.size:
        eq_t = eq[tied]
        # number of tied columns at index >= j; keep the `need` highest-index ones
        after = np.cumsum(eq_t[:, ::-1], axis=1, dtype=np.int64)[:, ::-1]
        sel[tied] = gt[tied] | (eq_t & (after <= need[tied, None]))
    cand = np.nonzero(sel)[1].reshape(m, k)  # row-major: exactly k per row, ascending columns
    vals = np.take_along_axis(blk, cand, axis=1)
    # candidates are in ascending column order, so a stable ascending sort reversed gives
    # exactly scikit-learn's order restricted to them
    order = np.argsort(vals, axis=1, kind="stable")[:, ::-1]
    return np.take_along_axis(cand, order, axis=1)


def top_k_accuracy(true_col: ArrayLike, scores: ArrayLike, k: int) -> float:
    """Fraction of samples whose true column is among the ``k`` best columns.

    A sample is a hit iff ``rank < k`` with ``rank = #{j : s_j > s_t} + #{j > t : s_j = s_t}``
    (``t`` = true column): the ranking of :func:`top_k_columns`, i.e. scikit-learn's (ties
    go to the later column).  ``true_col = -1`` is never a hit.  ``k`` is capped at ``C``.
    Source: docs/metrics.md ``top{1,5}_accuracy``; equals scikit-learn
    ``top_k_accuracy_score(y_true, scores, k=k, labels=range(C))`` for C >= 3 (for C = 2
    scikit-learn switches to a binary threshold rule; we keep the ranking rule).
    O(n·C) time, O(block) extra memory, no sort. The value is the table's
    ``top{k}_accuracy`` row.

    Examples
    --------
    >>> import numpy as np
    >>> top_k_accuracy([0, 1, 2], np.array([[.5, .3, .2], [.5, .3, .2], [.5, .3, .2]]), 2)
    0.6666666666666666
    """
    s = check_scores(scores)
    n, c = s.shape
    t = check_true_col(true_col, n, c)
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, c)
    hits = 0
    step = _row_block(c)
    cols = np.arange(c)
    for lo in range(0, n, step):
        blk = s[lo : lo + step]
        tb = t[lo : lo + step]
        has = tb >= 0
        tc = np.where(has, tb, 0)
        if c == 0:
            continue
        st = np.take_along_axis(blk, tc[:, None], axis=1)
        rank = np.count_nonzero(blk > st, axis=1) + np.count_nonzero(
            (blk == st) & (cols > tc[:, None]), axis=1
        )
        hits += int(np.count_nonzero(has & (rank < k)))
    return value_of(f"top{k}_accuracy", {f"hits/{k}": hits, "one": n})


# ----------------------------------------------------------------------------- average precision


_ap_from_ranks = ap_from_ranks
_column_ap = column_ap  # per-column AP and positive counts: numba or numpy kernel (_ap.py)


def _micro_ap(s: NDArray[np.float64], t: NDArray[np.int64]) -> float:
    if kernel() == "numba":
        return micro_counted(s, t)
    n, c = s.shape
    has = np.flatnonzero(t >= 0)
    if has.size == 0:
        return 0.0
    ps = np.sort(s[has, t[has]])
    rank_ge = np.zeros(ps.shape[0], dtype=np.int64)
    step = _row_block(c)
    for lo in range(0, n, step):
        flat = np.sort(s[lo : lo + step], axis=None)
        rank_ge += flat.shape[0] - np.searchsorted(flat, ps, side="left")
    pos_ge = ps.shape[0] - np.searchsorted(ps, ps, side="left")
    return _ap_from_ranks(pos_ge.astype(np.float64), rank_ge.astype(np.float64), ps.shape[0])


def average_precision(
    true_col: ArrayLike, scores: ArrayLike, average: APAverage | None = "macro"
) -> float | None | NDArray[np.float64]:
    """One-vs-rest average precision over the score columns.

    The indicator matrix is ``Y[i, c] = (true_col[i] == c)`` (a row with ``true_col = -1``
    is negative everywhere).  Per column, ranking by decreasing score,
    ``AP = Σ_n (R_n − R_{n−1}) P_n`` over the *distinct* thresholds (a group of tied scores
    is one threshold: all its items enter together), which equals
    ``(1/P) Σ_{positives i} #{positives with score ≥ s_i} / #{items with score ≥ s_i}``.
    A column with no positive has AP = 0.

    ``average``: ``"macro"`` plain mean over all C columns (no-positive columns count as 0,
    as scikit-learn does after its "No positive class found" warning); ``"weighted"`` mean
    weighted by each column's positive count (0 if there is none); ``"micro"`` AP of the
    flattened ``Y`` and ``scores``; ``"macro_present"`` mean over columns with at least one
    positive (``None`` if none has one; torchmetrics ``multiclass_average_precision``
    convention); ``None`` the per-column array.  With no score column at all (C = 0),
    macro/weighted/micro are 0.0 (scikit-learn refuses such input).

    Source: docs/metrics.md ``map_*``; equals scikit-learn
    ``average_precision_score(Y, scores, average=...)`` (non-interpolated, step-wise).

    Kernels (numba O(n·C), or numpy sorts O(n·C log n)): :mod:`taxovit.metrics._ap`.
    Raises ``ValueError`` for an unknown ``average`` or bad ``scores``/``true_col``.

    Examples
    --------
    >>> average_precision([0, 1, 1], np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]), None)
    array([1., 1.])
    """
    s = check_scores(scores)
    n, c = s.shape
    t = check_true_col(true_col, n, c)
    if average == "micro":
        return _micro_ap(s, t)
    if average not in (None, "macro", "weighted", "macro_present"):
        raise ValueError(
            "average must be 'macro', 'weighted', 'micro', 'macro_present' or None, "
            f"got {average!r}"
        )
    ap, n_pos = _column_ap(s, t)
    if average is None:
        return ap
    if average == "macro":
        return float(np.mean(ap)) if c else 0.0
    if average == "weighted":
        total = n_pos.sum()
        return float(np.average(ap, weights=n_pos)) if total else 0.0
    present = n_pos > 0
    return float(np.mean(ap[present])) if present.any() else None
