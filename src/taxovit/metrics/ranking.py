"""Score-based flat metrics: the top-k ranking, top-k accuracy and average precision.

Pure, vectorised numpy functions over a score matrix ``scores`` of shape ``(n, C)`` and
``true_col``, each sample's true column or ``-1`` when its label has none (never a hit; a
negative in every column).  Ties follow scikit-learn: among equal scores the later column
ranks first.  Conventions: the project's Metrics page (``docs/metrics.md``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics._ap import ap_from_ranks, column_ap, kernel, micro_counted
from taxovit.metrics._common import check_scores, check_true_col
from taxovit.metrics.table import value_of

__all__ = ["average_precision", "top_k_accuracy", "top_k_columns"]

APAverage = Literal["macro", "weighted", "micro", "macro_present"]

# Work on row blocks of about this many matrix elements, so that temporaries stay O(block)
# in memory whatever n and C are.
_BLOCK_ELEMS = 1 << 22


def _row_block(c: int) -> int:
    return max(1, _BLOCK_ELEMS // max(c, 1))


def _check_k(k: int) -> int:
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return k


def top_k_columns(scores: ArrayLike, k: int) -> NDArray[np.int64]:
    """The ``k`` best score columns of each row, best first.

    Columns are ranked by the key ``(score, column index)`` in decreasing order, which is
    unique: higher score first and, among **equal scores, the later column first**, as
    scikit-learn's ``np.argsort(scores, axis=1, kind="mergesort")[:, ::-1]``.  O(n·C) time
    and O(block) memory: ``np.partition`` finds the k-th score, then only ``k`` candidates
    per row are sorted.

    Parameters
    ----------
    scores : array-like of float, shape (n, C)
        Finite scores, one column per class.
    k : int
        How many columns per row; capped at ``C``.

    Returns
    -------
    ndarray of int64, shape (n, min(k, C))
        Column indices, best first.

    Raises
    ------
    ValueError
        If ``k < 1`` or ``scores`` is not a finite 2-D matrix.

    References
    ----------
    scikit-learn ``top_k_accuracy_score`` (its ranking rule).

    Examples
    --------
    >>> top_k_columns(np.array([[0.1, 0.6, 0.3], [0.5, 0.5, 0.0]]), 2)
    array([[1, 2],
           [1, 0]])
    """
    s = check_scores(scores)
    n, c = s.shape
    k = min(_check_k(k), c)
    out = np.empty((n, k), dtype=np.int64)
    if k == 0 or n == 0:
        return out
    step = _row_block(c)
    for lo in range(0, n, step):
        out[lo : lo + step] = _top_k_block(s[lo : lo + step], k)
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
    (``t`` = true column): the ranking of :func:`top_k_columns`.  O(n·C) time, O(block)
    extra memory, no sort.  The value is the metric table's ``top{k}_accuracy`` row.

    Parameters
    ----------
    true_col : array-like of int, shape (n,)
        Each sample's true column, or ``-1`` (never a hit).
    scores : array-like of float, shape (n, C)
        Finite scores, one column per class.
    k : int
        The cut-off, capped at ``C``.

    Returns
    -------
    float
        The share of samples with a hit, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``k < 1``, ``scores`` is not a finite 2-D matrix, or ``true_col`` has the wrong
        length or an entry outside ``[-1, C-1]``.

    References
    ----------
    The Metrics page, keys ``top{k}_accuracy``; equals scikit-learn
    ``top_k_accuracy_score(y_true, scores, k=k, labels=range(C))`` for C >= 3 (for C = 2
    scikit-learn switches to a binary threshold rule; we keep the ranking rule).

    Examples
    --------
    >>> top_k_accuracy([0, 1, 2], np.array([[.5, .3, .2], [.5, .3, .2], [.5, .3, .2]]), 2)
    0.6666666666666666
    """
    s = check_scores(scores)
    n, c = s.shape
    t = check_true_col(true_col, n, c)
    k = min(_check_k(k), c)
    hits = 0
    step = _row_block(c)
    cols = np.arange(c)
    for lo in range(0, n if c else 0, step):
        blk, tb = s[lo : lo + step], t[lo : lo + step]
        has = tb >= 0
        tc = np.where(has, tb, 0)
        st = np.take_along_axis(blk, tc[:, None], axis=1)
        rank = np.count_nonzero(blk > st, axis=1) + np.count_nonzero(
            (blk == st) & (cols > tc[:, None]), axis=1
        )
        hits += int(np.count_nonzero(has & (rank < k)))
    return value_of(f"top{k}_accuracy", {f"hits/{k}": hits, "one": n})


def _micro_ap(s: NDArray[np.float64], t: NDArray[np.int64]) -> float:
    """AP of the flattened indicator matrix against the flattened scores."""
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
    return ap_from_ranks(pos_ge.astype(np.float64), rank_ge.astype(np.float64), ps.shape[0])


def average_precision(
    true_col: ArrayLike, scores: ArrayLike, average: APAverage | None = "macro"
) -> float | None | NDArray[np.float64]:
    """One-vs-rest average precision over the score columns.

    The indicator matrix is ``Y[i, c] = (true_col[i] == c)``.  Per column, ranking by
    decreasing score, ``AP = Σ_n (R_n − R_{n−1}) P_n`` over the *distinct* thresholds (tied
    scores enter together), which equals
    ``(1/P) Σ_{positives i} #{positives with score ≥ s_i} / #{items with score ≥ s_i}``.
    A column with no positive has AP = 0.  Kernels (numba O(n·C), or numpy sorts
    O(n·C log n)): :mod:`taxovit.metrics._ap`.

    Parameters
    ----------
    true_col : array-like of int, shape (n,)
        Each sample's true column, or ``-1`` (negative in every column).
    scores : array-like of float, shape (n, C)
        Finite scores, one column per class.
    average : {"macro", "weighted", "micro", "macro_present"} or None, default "macro"
        ``macro``: plain mean over all C columns (no-positive columns count as 0, as
        scikit-learn after its "No positive class found" warning); ``weighted``: weighted by
        each column's positive count (0 if there is none); ``micro``: AP of the flattened
        ``Y`` and ``scores``; ``macro_present``: mean over columns with a positive (``None``
        if none has one; the torchmetrics convention); ``None``: per column.

    Returns
    -------
    float, None or ndarray of float64, shape (C,)
        With no score column at all (C = 0), macro/weighted/micro are 0.0 (scikit-learn
        refuses such input).

    Raises
    ------
    ValueError
        For an unknown ``average`` or bad ``scores``/``true_col`` (as :func:`top_k_accuracy`).

    References
    ----------
    The Metrics page, keys ``map_*``; equals scikit-learn
    ``average_precision_score(Y, scores, average=...)`` (non-interpolated, step-wise);
    ``macro_present`` equals torchmetrics ``multiclass_average_precision``.

    Examples
    --------
    >>> s = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> average_precision([0, 1, 1], s, None)
    array([1., 1.])
    >>> average_precision([0, 1, 0], s, "micro")
    0.7
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
    ap, n_pos = column_ap(s, t)
    if average is None:
        return ap
    if average == "macro":
        return float(np.mean(ap)) if c else 0.0
    if average == "weighted":
        return float(np.average(ap, weights=n_pos)) if n_pos.sum() else 0.0
    present = n_pos > 0
    return float(np.mean(ap[present])) if present.any() else None
