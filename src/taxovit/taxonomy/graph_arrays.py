"""Graph building blocks over integer arrays: concatenated ranges, CSR adjacency and the
topological layers of a DAG (each node's longest-path distance from a source), all without a
per-node Python loop; :class:`~taxovit.taxonomy.index.TaxonomyIndex` is built from them.
Also the small array helpers of a Taxonomy's construction: rank codes, a sorted
factorisation of a rank column, a preview of offending names for a message."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from taxovit.errors import TaxonomyError

__all__ = [
    "CycleError",
    "csr",
    "factorize_sorted",
    "kahn_layers",
    "preview",
    "rank_codes",
    "ranges",
]


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


def rank_codes(ranks: object, n: int) -> tuple[list[str], np.ndarray]:
    """(sorted rank names, rank id per node or -1) from per-node ranks or ready codes."""
    if isinstance(ranks, tuple):
        return list(ranks[0]), np.asarray(ranks[1], dtype=np.int64)
    names = sorted({r for r in (ranks or []) if r is not None})  # type: ignore[attr-defined]
    lookup = {r: i for i, r in enumerate(names)} | {None: -1}
    return names, np.array([lookup[r] for r in (ranks or [None] * n)], dtype=np.int64)  # type: ignore[attr-defined]


def preview(items: Sequence[Any], limit: int = 10) -> str:
    """The first ``limit`` items for a message, then how many there are in all."""
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def factorize_sorted(col: np.ndarray) -> tuple[list[str], np.ndarray]:
    """``pd.factorize(col, sort=True)`` (None -> -1) of a rank column; text-only columns are
    coded with a dict when pandas is not imported yet (a nested-JSON load needs no pandas)."""
    values = set(col.tolist())
    values.discard(None)
    if "pandas" not in sys.modules and all(type(v) is str for v in values):
        names = sorted(values)
        lookup = dict(zip(names, range(len(names)), strict=True)) | {None: -1}
        return names, np.fromiter((lookup[v] for v in col.tolist()), np.int64, len(col))
    import pandas as pd

    codes, uniq = pd.factorize(col, sort=True)  # None -> -1
    return [str(r) for r in uniq], codes.astype(np.int64)
