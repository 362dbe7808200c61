"""Rows of a small-width integer matrix that hold a value twice: the check of ranked
candidates (``taxovit.evaluate(ranked=...)``) and of the long format's (id, label) pairs.

For K <= 16 columns the K(K-1)/2 column comparisons run on column-major copies of blocks of
rows (contiguous vectors that stay in the cache, no sort): 2× faster than sorting each row at
K = 10 (1 M rows: 40 vs 81 ms, int64). Wider rows are sorted.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["rows_with_repeat"]

_PAIRWISE_MAX_K = 16
_BLOCK = 1 << 15  # rows per column-major block


def rows_with_repeat(m: NDArray[np.integer], pad: int | None = None) -> NDArray[np.bool_]:
    """Per row of the ``(n, K)`` integer array ``m``: does a value occur twice in it?
    Values equal to ``pad`` (padding) never count as repeats.

    >>> rows_with_repeat(np.array([[1, 2, 3], [4, 5, 4], [7, -1, -1]]), pad=-1).tolist()
    [False, True, False]
    """
    n, k = m.shape
    if k > _PAIRWISE_MAX_K:
        s = np.sort(m, axis=1)
        same = s[:, 1:] == s[:, :-1]
        if pad is not None:
            same &= s[:, 1:] != pad
        return same.any(axis=1)
    out = np.empty(n, dtype=bool)
    for start in range(0, n, _BLOCK):  # a column-major block stays in the cache
        cols = m[start : start + _BLOCK].T.copy()
        out[start : start + _BLOCK] = _block_repeats(cols, pad)
    return out


def _block_repeats(cols: NDArray[np.integer], pad: int | None) -> NDArray[np.bool_]:
    k, n = cols.shape
    out = np.zeros(n, dtype=bool)
    has_pad = pad is not None and bool((cols == pad).any())
    for j in range(1, k):
        same_j = np.zeros(n, dtype=bool)
        for i in range(j):
            same_j |= cols[i] == cols[j]
        if has_pad:
            same_j &= cols[j] != pad
        out |= same_j
    return out
