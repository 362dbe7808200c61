"""Graph building blocks over integer arrays: concatenated ranges, CSR adjacency and the
topological layers of a DAG (each node's longest-path distance from a source), all without a
per-node Python loop; :class:`~taxovit.taxonomy.index.TaxonomyIndex` is built from them."""

from __future__ import annotations

import numpy as np

from taxovit.errors import TaxonomyError

__all__ = ["CycleError", "csr", "kahn_layers", "ranges"]


class CycleError(TaxonomyError):
    """Raised while compiling a graph that has a cycle (the Taxonomy names the cycle)."""


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each (s, l), without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def csr(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ptr, values grouped by key): the CSR form of the pairs ``(keys[i], values[i])``."""
    counts = np.bincount(keys, minlength=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    if counts.max(initial=0) <= 1:  # each key once (a tree's parents): place, no sort
        out = np.empty_like(values)
        out[ptr[keys]] = values
        return ptr, out
    return ptr, values[np.argsort(keys, kind="stable")]


def kahn_layers(n: int, ptr: np.ndarray, nbr: np.ndarray, indeg: np.ndarray) -> list[np.ndarray]:
    """Topological layers; a node's layer number is its longest path from a source.

    A node is emitted one layer after the last of its predecessors, so the layer index is
    exactly the longest-path distance (this gives depth top-down and height bottom-up).
    """
    indeg = indeg.astype(np.int64, copy=True)
    frontier = np.flatnonzero(indeg == 0)
    layers = []
    seen = 0
    while frontier.size:
        layers.append(frontier)
        seen += frontier.size
        starts = ptr[frontier]
        nxt = nbr[ranges(starts, ptr[frontier + 1] - starts)]
        if nxt.size == 0:
            break
        if nxt.size * 16 > n:  # a big layer: an O(n) count beats sorting it
            counts = np.bincount(nxt, minlength=n)
            uniq = np.flatnonzero(counts)
            counts = counts[uniq]
        else:
            uniq, counts = np.unique(nxt, return_counts=True)
        indeg[uniq] -= counts
        frontier = uniq[indeg[uniq] == 0]
    if seen != n:
        raise CycleError("the taxonomy has a cycle")
    return layers
