"""Flat (taxonomy-agnostic) classification metrics over integer label arrays (node ids).

Pure, vectorised numpy functions.  Conventions follow the project's Metrics page
(``docs/metrics.md``); where it is silent we follow scikit-learn and say so (every 0/0 is 0,
scikit-learn's ``zero_division=0``).  The score-based metrics (top-k accuracy, average
precision) live in :mod:`taxovit.metrics.ranking`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics._common import SampleWeights, check_pair, safe_divide
from taxovit.metrics.table import value_of

__all__ = [
    "accuracy",
    "confusion_counts",
    "counts_from_codes",
    "precision_recall_f1",
    "prf_from_counts",
]

Average = Literal["micro", "macro", "weighted"]

# confusion_counts counts by bincount over the label range when it spans at most this many
# values more than twice the number of samples (memory O(n + range)); np.unique otherwise.
_BINCOUNT_SPAN = 1 << 20


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of exact matches.

    ``accuracy = (1/n) Σ_i [y_true_i = y_pred_i]``: the metric table's ``accuracy`` row.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted labels (node ids or any integer class codes).

    Returns
    -------
    float
        The share of samples predicted exactly, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the arrays are empty, of different lengths, not 1-D or not integer.

    References
    ----------
    The Metrics page, key ``accuracy``; equals scikit-learn ``accuracy_score``.

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

    For class ``c``: ``tp = #{y_true = y_pred = c}``, ``fp = #{y_pred = c} − tp``,
    ``fn = #{y_true = c} − tp`` and ``support = #{y_true = c}``.  Memory O(n + distinct
    labels): ``np.bincount`` if the labels span at most ``2 n + 2**20`` values, else
    ``np.unique`` first.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted labels.

    Returns
    -------
    labels : ndarray of int64
        The sorted union of the labels seen in ``y_true`` or ``y_pred``.
    tp, fp, fn, support : ndarray of int64
        The counts of each label, aligned with ``labels``.

    Raises
    ------
    ValueError
        As :func:`accuracy`.

    References
    ----------
    scikit-learn ``multilabel_confusion_matrix`` counts the same four numbers per class.

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
    """Per-class counts from dense class codes: the one place taxovit counts.

    ``tp[c] = Σ w·[t = p = c]``, ``support[c] = Σ w·[t = c]``,
    ``fp[c] = Σ w·[p = c] − tp[c]``, ``fn[c] = support[c] − tp[c]``.

    Parameters
    ----------
    codes_true, codes_pred : ndarray of int, shape (n,)
        Each sample's true and predicted class code, in ``0 .. k-1``.
    k : int
        The number of codes (the length of every returned array).
    w : SampleWeights, optional
        Sample weights (a bootstrap resample, ``--weight-col``); default 1 each.
    pred_counted : ndarray of bool, shape (n,), optional
        Only these samples' predictions count towards a class's predicted total (a
        prediction too coarse for a rank is nobody's false positive).  Default: all.

    Returns
    -------
    tp, fp, fn, support : ndarray, shape (k,)
        int64 without ``w``, float64 with.

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
    """Precision, recall and F1 from per-class counts (which may be re-weighted).

    Per class: ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F = 2TP/(2TP+FP+FN)``, every 0/0 = 0.
    ``macro`` is the plain mean over classes, ``weighted`` the mean weighted by ``support``
    (0 if the total support is 0), ``micro`` pools the counts: ``P = ΣTP/Σ(TP+FP)`` etc.
    Classes whose counts are all zero (``tp = fp = fn = 0``) are *not seen* and left out of
    the averages, so that re-weighted counts give what scikit-learn gives on the
    corresponding resample (its label set is the labels present).

    Parameters
    ----------
    tp, fp, fn : array-like of float, shape (C,)
        Per-class true positives, false positives and false negatives.
    support : array-like of float, shape (C,), optional
        Per-class number of true samples; default ``tp + fn``.
    average : {"macro", "weighted", "micro"} or None, default "macro"
        How to average over classes; ``None`` returns the per-class values.

    Returns
    -------
    tuple
        ``(precision, recall, f1)`` floats (the metric table's ``precision_<average>``
        rows, :func:`taxovit.metrics.table.prf_rows`); with ``average=None`` the per-class
        arrays ``(precision, recall, f1, support)`` (all classes, seen or not).

    Raises
    ------
    ValueError
        If the arrays are not 1-D of one length, or ``average`` is unknown.

    References
    ----------
    The Metrics page, keys ``precision_*``, ``recall_*``, ``f1_*``; scikit-learn
    ``precision_recall_fscore_support(zero_division=0)``.

    Examples
    --------
    >>> prf_from_counts([1, 0, 1], [0, 1, 1], [1, 1, 0], average="macro")
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

    The label set is the union of the labels seen in ``y_true`` or ``y_pred``; the counts
    are :func:`confusion_counts`, the averages :func:`prf_from_counts` (for single-label
    data micro P = R = F1 = accuracy).

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted labels.
    average : {"macro", "weighted", "micro"} or None, default "macro"
        ``macro``: plain mean over classes; ``weighted``: weighted by each class's support
        (number of true samples); ``micro``: pooled counts; ``None``: per class.

    Returns
    -------
    tuple
        ``(precision, recall, f1)`` floats, or with ``average=None`` the arrays
        ``(labels, precision, recall, f1, support)`` (labels sorted, support as int64).

    Raises
    ------
    ValueError
        As :func:`accuracy`, or for an unknown ``average``.

    References
    ----------
    The Metrics page, keys ``precision_*``, ``recall_*``, ``f1_*``; equals scikit-learn
    ``precision_recall_fscore_support(y_true, y_pred, average=..., zero_division=0)``.

    Examples
    --------
    >>> precision_recall_f1([1, 1, 2, 3], [1, 2, 2, 2])
    (0.444..., 0.5, 0.388...)
    >>> precision_recall_f1([1, 1, 2, 3], [1, 2, 2, 2], average="micro")
    (0.5, 0.5, 0.5)
    """
    labels, tp, fp, fn, support = confusion_counts(y_true, y_pred)
    if average is None:
        prec, rec, f1, _ = prf_from_counts(tp, fp, fn, support, None)
        return labels, prec, rec, f1, support
    return prf_from_counts(tp, fp, fn, support, average)
