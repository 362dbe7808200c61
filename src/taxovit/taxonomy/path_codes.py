"""A tree's root paths packed into one int64 per node, for O(1) vectorised LCA queries.

Each node's code holds a bit field per depth, the shallowest depth in the highest bits: the
node's (1-based) position among its siblings at that depth of its root path. Two codes
agree above the depth where the paths part, so the highest bit in which they differ lies in
the field of the first depth below the LCA: the LCA's depth is that field's depth − 1 (the
float64 exponent of the XOR when the codes fit 53 bits, else a search over the fields'
lowest bits), and an ancestor-at-depth table gives the node. About 3× faster than the
preorder sparse table on millions of pairs; trees whose codes need more than 62 bits, or
whose table would exceed :data:`MAX_PATH_ENTRIES`, have none (the index falls back to the
sparse table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["MAX_PATH_ENTRIES", "PathCodes", "build_path_codes", "lca_depth"]

#: most entries (int32) of a tree's ancestor-at-depth table (nodes x (max depth + 1)) behind
#: the path-code LCA; bigger trees, and trees whose path codes need more than 62 bits, answer
#: LCA queries from the sparse table alone
MAX_PATH_ENTRIES = 1 << 25


class PathCodes(NamedTuple):
    """A tree's root paths as int64 codes, with the flat ``(n, max_depth + 1)`` table of
    ancestors at each depth; the highest differing bit maps to the LCA's depth through
    ``exponent_depth`` (float64 exponent -> depth, codes of at most 53 bits) or else
    ``thresholds`` (sorted lowest bit of each depth's field)."""

    code: np.ndarray
    table: np.ndarray
    exponent_depth: np.ndarray | None
    thresholds: np.ndarray | None


def _sibling_positions(child_ptr: np.ndarray, child_idx: np.ndarray, n: int) -> np.ndarray:
    """Each node's 1-based position among its siblings (CSR children), 0 for the root."""
    sizes = np.diff(child_ptr)
    pos = np.zeros(n, dtype=np.int64)
    pos[child_idx] = np.arange(child_idx.size) - np.repeat(child_ptr[:-1], sizes) + 1
    return pos


def build_path_codes(
    parent: np.ndarray,
    child_ptr: np.ndarray,
    child_idx: np.ndarray,
    layers: Sequence[np.ndarray],
    root: int,
    max_depth: int,
) -> PathCodes | None:
    """The codes of a tree given as parent array, CSR children and its depth layers (root
    first); None when the table or the codes would be too big (see the module docstring)."""
    n, levels = parent.size, max_depth + 1
    if n * levels > MAX_PATH_ENTRIES:
        return None
    pos = _sibling_positions(child_ptr, child_idx, n)
    widths = np.array([int(pos[layer].max()).bit_length() for layer in layers[1:]], dtype=np.int64)
    total = int(widths.sum())
    if total > 62:
        return None
    shifts = total - np.cumsum(widths)  # depth d's field starts at bit shifts[d - 1]
    code = np.zeros(n, dtype=np.int64)
    table = np.empty((n, levels), dtype=np.int32)  # ancestor at depth min(d, depth(v))
    table[root] = root
    for d, layer in enumerate(layers[1:], start=1):
        par = parent[layer]
        code[layer] = code[par] | (pos[layer] << shifts[d - 1])
        table[layer] = table[par]
        table[layer, d:] = layer[:, None]
    # LCA depth for the highest differing bit (its field's depth - 1); D when codes agree
    bit_depth = np.repeat(np.arange(max_depth), widths)[::-1]
    if total <= 53:  # exact as a float64: the exponent is the highest bit
        lut = np.full(2048, max_depth, dtype=np.int64)
        lut[1023 : 1023 + total] = bit_depth
        return PathCodes(code, table.ravel(), lut, None)
    return PathCodes(code, table.ravel(), None, np.sort(np.int64(1) << shifts))


def lca_depth(paths: PathCodes, a: np.ndarray, b: np.ndarray, max_depth: int) -> np.ndarray:
    """Per pair: the LCA's depth, or ``max_depth`` where ``a == b`` (``a``, ``b`` broadcast)."""
    x = paths.code[a] ^ paths.code[b]
    if paths.exponent_depth is not None:
        return paths.exponent_depth[x.astype(np.float64).view(np.int64) >> 52]
    return max_depth - np.searchsorted(paths.thresholds, x, side="right")
