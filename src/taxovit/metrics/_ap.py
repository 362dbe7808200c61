"""Per-column average precision for :func:`taxovit.metrics.ranking.average_precision`.

AP needs, at each positive's score ``s``, ``#{positives with score >= s}`` and
``#{items with score >= s}`` (:func:`ap_from_ranks`). Two kernels count the items, with the
same result:

* ``"numba"`` (when numba is installed: ``pip install taxovit[fast]``):
  :func:`taxovit.metrics._ap_numba.bucket_counts`, one pass over the matrix in row order,
  no sort, the columns split between the cores (micro AP: every element against the same
  thresholds, the rows split between the cores, :func:`micro_counted`);
* ``"numpy"``: each column's scores are sorted (in blocks of columns, half of them in a
  second thread) and the positives located with ``np.searchsorted``.

On 100k × 1,000 scores the first took 1.4 s and the second 8.3 s (scikit-learn: 24 s) on
the shared 2-core machine (``benchmarks/bench_evaluate.py --only map``). The first call in a
new install compiles the kernel (~6 s), cached on disk afterwards (~0.5 s to load). Columns
without positives cost nothing in either.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

__all__ = ["BLOCK_ELEMS", "KERNEL", "ap_from_ranks", "column_ap", "kernel", "micro_counted"]

#: ``None``: numba when it imports, else numpy; ``"numpy"`` or ``"numba"`` forces one
KERNEL: str | None = None
#: the numpy kernel sorts blocks of columns of about this many elements
BLOCK_ELEMS = 1 << 22
_NUMBA_LOCK = threading.Lock()


def kernel() -> str:
    """The kernel :func:`column_ap` uses (see :data:`KERNEL`)."""
    if KERNEL is not None:
        return KERNEL
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numpy"
    return "numba"


def ap_from_ranks(pos_ge: NDArray[np.float64], rank_ge: NDArray[np.float64], n_pos: int) -> float:
    # AP = Σ_thresholds (R_n - R_{n-1}) P_n.  All positives sharing a tie group contribute
    # to the same threshold, whose precision is (#positives >= s) / (#items >= s); so
    # AP = (1/P) Σ_{positives i} pos_ge(i) / rank_ge(i).
    return float(np.sum(pos_ge / rank_ge) / n_pos)


def _positives(s: NDArray[np.float64], t: NDArray[np.int64]) -> tuple:
    """Positives grouped by column, ascending score within a column, and the counts."""
    has = np.flatnonzero(t >= 0)
    pcol = t[has]
    pscore = s[has, pcol]
    order = np.lexsort((pscore, pcol))
    return pcol[order], pscore[order], np.bincount(pcol, minlength=s.shape[1]).astype(np.int64)


def column_ap(
    s: NDArray[np.float64], t: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per-column AP and positive counts (``t``: true column per row, -1 for none)."""
    return (_counted if kernel() == "numba" else _sorted)(s, t)


def _sorted(s: NDArray[np.float64], t: NDArray[np.int64]) -> tuple:
    """The numpy kernel; the columns with positives split in two halves, the second sorted in
    a second thread for a large matrix (numpy's sort releases the GIL)."""
    from taxovit._side import side_thread

    pcol, pscore, n_pos = _positives(s, t)
    ap = np.zeros(s.shape[1], dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(n_pos)])
    present = np.flatnonzero(n_pos)
    half = present.size // 2
    with side_thread(s.shape[0] * half) as submit:
        other = submit(_sorted_columns, s, present[half:], pscore, starts, ap)
        _sorted_columns(s, present[:half], pscore, starts, ap)
        other.result()
    return ap, n_pos


def _sorted_columns(s, cols_todo, pscore, starts, ap) -> None:
    """``ap[col]`` for the columns ``cols_todo``: each sorted (in blocks of columns) and its
    positives located with ``np.searchsorted``."""
    n = s.shape[0]
    step = max(1, BLOCK_ELEMS // max(n, 1))
    for b in range(0, cols_todo.size, step):
        cols = cols_todo[b : b + step]
        blk = np.ascontiguousarray(s[:, cols].T)  # (len(cols), n)
        blk.sort(axis=1)
        for j, col in enumerate(cols):
            lo, hi = starts[col], starts[col + 1]
            ps = pscore[lo:hi]
            # #items with score >= s, #positives with score >= s (ties count as >=)
            rank_ge = n - np.searchsorted(blk[j], ps, side="left")
            pos_ge = (hi - lo) - np.searchsorted(ps, ps, side="left")
            ap[col] = ap_from_ranks(pos_ge.astype(np.float64), rank_ge.astype(np.float64), hi - lo)


def _counted(s: NDArray[np.float64], t: NDArray[np.int64]) -> tuple:
    """The numba kernel for every column."""
    pcol, pscore, n_pos = _positives(s, t)
    return _by_counts(s, pcol, pscore, n_pos), n_pos


def micro_counted(s: NDArray[np.float64], t: NDArray[np.int64]) -> float:
    """Micro AP (of the flattened matrix) by the numba kernel: every element counted against
    the positives' distinct scores (:func:`taxovit.metrics._ap_numba.flat_bucket_counts`)."""
    from taxovit.metrics._ap_numba import flat_bucket_counts

    has = np.flatnonzero(t >= 0)
    if has.size == 0:
        return 0.0
    pscore = np.sort(s[has, t[has]])
    thr = np.unique(pscore)
    with _NUMBA_LOCK:
        counts = flat_bucket_counts(np.ascontiguousarray(s), thr)
    # an element is >= thr[q] when at least q + 1 thresholds are at or below it
    at_least = np.cumsum(counts[::-1])[::-1]
    rank_ge = at_least[np.searchsorted(thr, pscore, side="left") + 1]
    pos_ge = pscore.size - np.searchsorted(pscore, pscore, side="left")
    return ap_from_ranks(pos_ge.astype(np.float64), rank_ge.astype(np.float64), pscore.size)


def _by_counts(s, pcol, pscore, n_pos) -> NDArray[np.float64]:
    """Per-column AP from the positives sorted by (column, score): their distinct scores are
    the thresholds, the rows counted by how many thresholds they reach; suffix sums give
    ``#{items >= threshold}``."""
    from taxovit.metrics._ap_numba import bucket_counts

    c = s.shape[1]
    new = np.ones(pcol.size, dtype=bool)
    new[1:] = (pcol[1:] != pcol[:-1]) | (pscore[1:] != pscore[:-1])
    first = np.flatnonzero(new)
    thr, tcol = pscore[first], pcol[first]
    mult = np.diff(np.append(first, pcol.size))  # positives sharing each threshold
    off = np.zeros(c + 1, dtype=np.int64)
    off[1:] = np.cumsum(np.bincount(tcol, minlength=c))
    with _NUMBA_LOCK:  # numba's workqueue layer (no OpenMP/TBB) aborts on concurrent calls
        counts = bucket_counts(np.ascontiguousarray(s), off, thr)
    # column j's buckets 0..m_j sit at off[j] + j ...; threshold q (of column j) is reached
    # by the rows in buckets > q - off[j]
    suffix = np.append(np.cumsum(counts[::-1])[::-1], 0)
    end = off[1:] + np.arange(1, c + 1)  # one past each column's last bucket
    rank_ge = suffix[np.arange(thr.size) + tcol + 1] - suffix[end[tcol]]
    msuffix = np.append(np.cumsum(mult[::-1])[::-1], 0)
    pos_ge = msuffix[: thr.size] - msuffix[off[1:][tcol]]
    total = np.bincount(tcol, weights=mult * (pos_ge / rank_ge), minlength=c)
    return np.divide(total, n_pos, out=np.zeros(c), where=n_pos > 0)
