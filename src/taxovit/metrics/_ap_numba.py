"""The compiled counting kernel behind :func:`taxovit.metrics.ranking.average_precision` (numba).

Imported only when numba is installed (``pip install taxovit[fast]``) and average precision is
computed; :mod:`taxovit.metrics._ap` falls back to sorting each column with numpy otherwise.

For each score column ``c`` with positives, ``thr[off[c]:off[c+1]]`` holds the distinct
scores of its positives, ascending. :func:`bucket_counts` returns, for every column and every
``b``, how many rows score ``c`` above exactly ``b`` of those thresholds
(``#{i : #{k : thr_k <= s[i, c]} = b}``): one pass over the matrix in row order, no sort, the
columns split between the cores. Each element is placed by a uniform grid over
``[thr_first, thr_last]`` (a few cells per threshold) and then compared with the thresholds
of its own cell only, which is exact: the cell index is monotone in the score, so every
threshold in an earlier cell is below the score and every threshold in a later cell above it.
The cells of a row's block of columns are computed first without a branch (a clamp, which
the compiler vectorises), then each element reads two table entries and compares itself with
the thresholds of its cell, if any (about 8 ns an element on one core of the 2-core machine).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: grid cells per threshold of a column (the tables hold 8 entries per positive at most)
GRID_FACTOR = 8
#: columns per task of the parallel loop
COLUMN_BLOCK = 64


@njit(cache=True, nogil=True)
def _grid(off, thr):  # pragma: no cover - compiled
    """Per column: ``g`` grid cells, ``1 / cell width``, and ``lut`` (from ``goff[c]``, g + 2
    entries): ``lut[j]`` = the number of thresholds in cells before cell ``j`` (cell 0: below
    the first threshold; cells 1..g: the grid, the last one open above)."""
    c = off.size - 1
    cells = np.ones(c, np.int64)
    inv = np.ones(c)
    for col in range(c):
        a, b = off[col], off[col + 1]
        if b - a >= 2:
            g = GRID_FACTOR * (b - a)
            step = g / (thr[b - 1] - thr[a])
            if np.isfinite(step) and step > 0:  # else one cell (inv 1): a plain scan, exact
                cells[col], inv[col] = g, step
    goff = np.zeros(c + 1, np.int64)
    for col in range(c):
        goff[col + 1] = goff[col] + cells[col] + 2
    lut = np.zeros(goff[c], np.int32)
    for col in range(c):
        a, b, g0 = off[col], off[col + 1], goff[col]
        for k in range(a, b):
            lut[g0 + _cell(thr[k], thr[a], inv[col], cells[col]) + 1] += 1
        for j in range(1, cells[col] + 2):
            lut[g0 + j] += lut[g0 + j - 1]
    return cells, inv, goff, lut


@njit(inline="always")
def _cell(x, t0, inv, g):  # pragma: no cover - compiled
    """0 below ``t0``, else the grid cell 1..g (about: only the monotonicity in ``x`` matters
    for exactness, and holds for any ``inv > 0``); never NaN (``inv`` is positive and finite,
    ``x - t0`` at worst infinite), no branch on the data."""
    v = (x - t0) * inv + 1.0
    return int(min(max(v, 0.0), float(g)))


@njit(cache=True, parallel=True, nogil=True)
def bucket_counts(s, off, thr):  # pragma: no cover - compiled
    """``counts[off[c] + c + b]`` for ``b`` in ``0..m_c`` (see the module docstring)."""
    n, c = s.shape
    cells, inv, goff, lut = _grid(off, thr)
    first = np.zeros(c)  # first threshold of each column (0 when it has none: cell 1, empty)
    for col in range(c):
        if off[col + 1] > off[col]:
            first[col] = thr[off[col]]
    counts = np.zeros(off[c] + c, np.int64)
    for blk in prange((c + COLUMN_BLOCK - 1) // COLUMN_BLOCK):
        c0, c1 = blk * COLUMN_BLOCK, min(c, (blk + 1) * COLUMN_BLOCK)
        h0 = off[c0] + c0
        h = np.zeros(off[c1] + c1 - h0, np.int64)
        cell = np.empty(c1 - c0, np.int64)
        t0, step, g = first[c0:c1].copy(), inv[c0:c1].copy(), cells[c0:c1].copy()
        g0, a0 = goff[c0:c1].copy(), off[c0:c1].copy()
        hb = off[c0:c1] + np.arange(c0, c1) - h0
        for i in range(n):
            row = s[i, c0:c1]
            for j in range(c1 - c0):  # the cells: no branch, vectorised by the compiler
                cell[j] = _cell(row[j], t0[j], step[j], g[j])
            for j in range(c1 - c0):  # the thresholds of that cell, if any
                k, hi = lut[g0[j] + cell[j]], lut[g0[j] + cell[j] + 1]
                if k < hi:
                    x, a = row[j], a0[j]
                    while k < hi and thr[a + k] <= x:
                        k += 1
                h[hb[j] + k] += 1
        counts[h0 : h0 + h.size] = h
    return counts


#: row chunks of :func:`flat_bucket_counts` (each its own histogram, summed at the end)
ROW_CHUNKS = 16


@njit(cache=True, parallel=True, nogil=True)
def flat_bucket_counts(s, thr):  # pragma: no cover - compiled
    """``counts[b]``: how many elements of the whole matrix ``s`` have exactly ``b`` of the
    ascending thresholds ``thr`` at or below them (micro AP: every element against the same
    thresholds; a binary search each, the rows split in chunks between the cores)."""
    n, c = s.shape
    t = thr.size
    hist = np.zeros((ROW_CHUNKS, t + 1), np.int64)
    for ch in prange(ROW_CHUNKS):
        for i in range(ch * n // ROW_CHUNKS, (ch + 1) * n // ROW_CHUNKS):
            for j in range(c):
                x = s[i, j]
                lo, hi = 0, t
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if thr[mid] <= x:
                        lo = mid + 1
                    else:
                        hi = mid
                hist[ch, lo] += 1
    return hist.sum(axis=0)
