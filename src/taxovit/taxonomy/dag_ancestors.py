"""The ancestor lists of a DAG's index: per node, its ancestors-or-self with the shortest
directed distance from each, sorted by id (:class:`~taxovit.taxonomy.index.TaxonomyIndex`
intersects two nodes' lists for their common ancestors).  They take memory ~ depth x
nodes, so a DAG needing more than a limit is refused while they are
built; trees do not use them."""

from __future__ import annotations

import numpy as np

from taxovit.errors import TaxonomyError
from taxovit.taxonomy.graph_arrays import ranges

__all__ = ["ancestor_lists", "too_many_ancestors"]


def too_many_ancestors(need: str, limit: int) -> TaxonomyError:
    """The error for a DAG whose ancestor lists would need ``need`` entries (> ``limit``)."""
    return TaxonomyError(
        f"this DAG's index would need {need} ancestor entries (one per node and ancestor, "
        f"{limit:,} at most: memory grows with depth times nodes); give every "
        "node one parent to make it a tree (nested JSON, or an edge list of a tree), whose "
        "index has no such limit"
    )


def ancestor_lists(
    n: int, layers: list[np.ndarray], parent_ptr: np.ndarray, parent_idx: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per node of a DAG: its ancestors-or-self sorted by id, with the shortest distance
    from each.

    Returns ``(start, length, anc, dist)``; node v's entries are
    ``anc[start[v]:start[v]+length[v]]``. Built top-down layer by layer (``layers``: the
    topological layers, :func:`~taxovit.taxonomy.graph_arrays.kahn_layers`; ``parent_ptr``,
    ``parent_idx``: the parents in CSR form): the list of v is {v: 0} merged with each
    parent's list shifted by 1, keeping the minimum distance.  Refused with a
    :class:`~taxovit.errors.TaxonomyError` before the lists outgrow
    ``limit`` entries (:data:`taxovit.taxonomy.index.MAX_ANCESTOR_ENTRIES`).
    """
    start = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    cap = max(16, 4 * n)
    anc = np.empty(cap, dtype=np.int64)
    dist = np.empty(cap, dtype=np.int64)
    used = 0
    for layer in layers:
        p_starts = parent_ptr[layer]
        p_counts = parent_ptr[layer + 1] - p_starts
        par = parent_idx[ranges(p_starts, p_counts)]
        merged = int(length[par].sum()) + layer.size  # entries before shared ones merge
        if used + merged > 2 * limit:
            raise too_many_ancestors(f"about {used + merged:,} (before merging)", limit)
        owner = np.repeat(layer, p_counts)
        pos = ranges(start[par], length[par])
        rows = np.concatenate([layer, np.repeat(owner, length[par])])
        a = np.concatenate([layer, anc[pos]])
        d = np.concatenate([np.zeros(layer.size, np.int64), dist[pos] + 1])
        key = rows * n + a
        srt = np.lexsort((d, key))
        key, d, rows, a = key[srt], d[srt], rows[srt], a[srt]
        first = np.r_[True, key[1:] != key[:-1]]
        rows, a, d = rows[first], a[first], d[first]
        k = rows.size
        if used + k > limit:
            raise too_many_ancestors(f"at least {used + k:,}", limit)
        if used + k > cap:
            cap = max(2 * cap, used + k)
            anc = np.resize(anc, cap)
            dist = np.resize(dist, cap)
        anc[used : used + k] = a
        dist[used : used + k] = d
        # rows are sorted, so each node's entries are contiguous and sorted by ancestor.
        uniq_rows, first_pos, counts = np.unique(rows, return_index=True, return_counts=True)
        start[uniq_rows] = used + first_pos
        length[uniq_rows] = counts
        used += k
    return start, length, anc[:used], dist[:used]
