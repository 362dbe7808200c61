"""Compiled integer index over a taxonomy for vectorised queries on arrays of node ids.

Built from edge arrays with numpy only (no per-node networkx traversal), so a 1.4-million-node
taxonomy compiles in seconds. Definitions follow ``docs/metrics.md``:

* ``depth(n)``: edges on the *longest* root -> n path (root = 0);
* ``height(n)``: edges on the longest n -> leaf path (leaf = 0);
* ``hset(n)``: n and all its ancestors over every path, root excluded;
* ``CA(a, b)``: common ancestors-or-self of a and b (always holds the root).

Trees answer LCA queries in O(1) per pair after O(n log n) preprocessing: nodes are laid
out in DFS preorder and a sparse table holds range minima of depth. For ``u != v`` with
``tin[u] < tin[v]``, the shallowest node in the preorder range ``(tin[u], tin[v]]`` is a child
of ``LCA(u, v)`` (Bender & Farach-Colton 2000, in the n-length preorder form), so the LCA is
that node's parent. Trees that are not too deep also pack each node's root path into one
int64 (a bit field per depth: the node's position among its siblings, the shallowest depth
in the highest bits), so the LCA's depth is the field of the highest bit in which two codes
differ; an ancestor-at-depth table then gives the node (about 3x faster than the sparse table
on millions of pairs; :mod:`.path_codes`). DAGs keep, per node, the sorted list of its ancestors-or-self with the
shortest directed distance from each; pair queries intersect those lists in one vectorised
sort-merge over all pairs. Those lists take memory ~ depth x nodes, so a DAG whose lists would
exceed ``MAX_ANCESTOR_ENTRIES`` is refused (a ``TaxonomyError`` with the count) when the index
is built, before they are allocated; trees have no such limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import NamedTuple

import numpy as np

from taxovit.errors import TaxonomyError
from taxovit.taxonomy.dag_ancestors import ancestor_lists, too_many_ancestors
from taxovit.taxonomy.graph_arrays import csr, kahn_layers, ranges, rank_codes
from taxovit.taxonomy.path_codes import PathCodes, build_path_codes, lca_depth

#: most ancestor-list entries (16 bytes each) a DAG's index may hold; a DAG needing more is
#: refused when the index is built (trees have no such limit: their index is a sparse table)
MAX_ANCESTOR_ENTRIES = 50_000_000


class PairStats(NamedTuple):
    """Per-pair quantities of ``(a, b)`` (:meth:`TaxonomyIndex.pair_stats`).

    Attributes
    ----------
    n_common : ndarray of int64
        |CA(a, b)| (root included), so ``|hset(a) ∩ hset(b)| = n_common - 1``.
    lca_height : ndarray of int64
        The minimum height over CA (a tree's LCA height).
    lca_depth : ndarray of int64
        The maximum depth over CA.
    distance : ndarray of int64
        min over c in CA of sp(c -> a) + sp(c -> b): the tree-induced error.

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2")])
    >>> a, b = tax.ids(["a1", "a1"]), tax.ids(["a2", "B"])
    >>> tax.index.pair_stats(a, b)
    PairStats(n_common=array([2, 1]), lca_height=array([1, 2]), lca_depth=array([1, 0]), distance=array([2, 3]))
    """

    n_common: np.ndarray
    lca_height: np.ndarray
    lca_depth: np.ndarray
    distance: np.ndarray


class TaxonomyIndex:
    """Integer-id index of a single-rooted DAG (ids ``0..n-1``, edges parent -> child).

    Built by :class:`~taxovit.taxonomy.Taxonomy` (``taxonomy.index``); every query takes
    and returns arrays of node ids.

    Parameters
    ----------
    n : int
        The number of nodes.
    parents, children : ndarray of int64, shape (E,)
        The edges, parent -> child.
    root : int
        The root's id.
    ranks : sequence of str or None, or (names, codes), optional
        Each node's rank, or ready rank codes.

    Attributes
    ----------
    depth, height : ndarray of int64, shape (n,)
        Edges on the longest root -> node and node -> leaf paths.
    max_depth : int
        The largest depth.
    is_tree : bool
        Whether every node has at most one parent.
    parent : ndarray of int64, shape (n,)
        Trees only: each node's parent, -1 at the root.
    rank_of : ndarray of int64, shape (n,)
        Each node's rank id (an index into ``rank_names``), -1 if it has none.
    rank_names : list of str
        The rank names, sorted.

    Raises
    ------
    TaxonomyError
        A DAG whose ancestor lists would exceed ``MAX_ANCESTOR_ENTRIES``.

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> ix = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2")]).index
    >>> ix.depth, ix.height, ix.max_depth
    (array([0, 1, 1, 2, 2]), array([2, 1, 0, 0, 0]), 2)
    >>> ix.lca(np.array([3, 3]), np.array([4, 2]))
    array([1, 0])
    """

    def __init__(
        self,
        n: int,
        parents: np.ndarray,
        children: np.ndarray,
        root: int,
        ranks: Sequence[str | None] | tuple[list[str], np.ndarray] | None = None,
    ) -> None:
        parents, children = (
            np.asarray(parents, dtype=np.int64),
            np.asarray(children, dtype=np.int64),
        )
        self.n, self.root = int(n), int(root)
        self.child_ptr, self.child_idx = csr(parents, children, self.n)
        self.parent_ptr, self.parent_idx = csr(children, parents, self.n)
        n_parents = np.diff(self.parent_ptr)
        n_children = np.diff(self.child_ptr)
        self.is_tree = bool(n_parents.max(initial=0) <= 1)
        self._layers = kahn_layers(self.n, self.child_ptr, self.child_idx, n_parents)
        self.depth = np.empty(self.n, dtype=np.int64)
        for d, layer in enumerate(self._layers):
            self.depth[layer] = d
        self.height = np.empty(self.n, dtype=np.int64)
        for h, layer in enumerate(
            kahn_layers(self.n, self.parent_ptr, self.parent_idx, n_children)
        ):
            self.height[layer] = h
        self.max_depth = int(self.depth.max(initial=0))
        if not self.is_tree:
            # every node has at least depth + 1 ancestors-or-self (its longest root path)
            need = int(self.depth.sum()) + self.n
            if need > MAX_ANCESTOR_ENTRIES:
                raise too_many_ancestors(f"at least {need:,}", MAX_ANCESTOR_ENTRIES)

        self.rank_names, self.rank_of = rank_codes(ranks, self.n)
        if self.is_tree:
            self.parent = np.full(self.n, -1, dtype=np.int64)
            has = n_parents == 1
            self.parent[has] = self.parent_idx[self.parent_ptr[:-1][has]]

    # ------------------------------------------------------------------ trees
    def __getattr__(self, name: str) -> np.ndarray:
        """Trees: the LCA tables (``tin``, ``_order``, ``_table``, ``_log2``) are built on first use."""
        if name in ("tin", "_order", "_table", "_log2") and self.__dict__.get("is_tree"):
            self._build_tree_lca()
            return self.__dict__[name]
        raise AttributeError(name)

    def _build_tree_lca(self) -> None:
        n = self.n
        size = np.ones(n, dtype=np.int64)
        for layer in reversed(self._layers[1:]):
            np.add.at(size, self.parent[layer], size[layer])
        # Preorder: a child starts after its parent and all earlier siblings' subtrees.
        sizes_in_csr = size[self.child_idx]
        csum = np.cumsum(sizes_in_csr)
        group_start = np.repeat(self.child_ptr[:-1], np.diff(self.child_ptr))
        before_group = np.where(group_start > 0, csum[group_start - 1], 0)
        offset = np.empty(n, dtype=np.int64)
        offset[self.child_idx] = 1 + csum - sizes_in_csr - before_group
        tin = np.zeros(n, dtype=np.int64)
        for layer in self._layers[1:]:
            tin[layer] = tin[self.parent[layer]] + offset[layer]
        order = np.empty(n, dtype=np.int64)
        order[tin] = np.arange(n)
        self.tin = tin
        self._order = order

        # Sparse table over key = depth * n + position: its min gives the shallowest
        # position in a range (int32 when it fits, halving memory on huge taxonomies).
        dtype = np.int32 if (self.max_depth + 1) * n < 2**31 else np.int64
        key = (self.depth[order] * n + np.arange(n)).astype(dtype)
        levels = max(1, int(n).bit_length())
        table = np.empty((levels, n), dtype=dtype)
        table[0] = key
        for j in range(1, levels):
            span = 1 << (j - 1)
            width = n - (1 << j) + 1
            if width <= 0:
                table[j:] = np.iinfo(dtype).max
                break
            np.minimum(
                table[j - 1, :width], table[j - 1, span : span + width], out=table[j, :width]
            )
            table[j, width:] = np.iinfo(dtype).max
        self._table = table
        # floor(log2(length)) for every possible range length, as a lookup
        self._log2 = np.zeros(n + 1, dtype=np.int8)
        self._log2[2:] = np.floor(np.log2(np.arange(2, n + 1))).astype(np.int8)

    @cached_property
    def _paths(self) -> PathCodes | None:
        """Trees: the path codes and ancestor-at-depth table (:mod:`.path_codes`); None for a
        DAG, or a tree too big for the table or too wide/deep for 62 bits."""
        if not self.is_tree:
            return None
        return build_path_codes(
            self.parent, self.child_ptr, self.child_idx, self._layers, self.root, self.max_depth
        )

    def _tree_lca_depth(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(LCA, its depth) of each pair of a tree; ``a`` and ``b`` broadcast."""
        paths = self._paths
        if paths is None:
            lca = self._sparse_lca(a, b)
            return lca, self.depth[lca]
        level = lca_depth(paths, a, b, self.max_depth)
        lca = paths.table[a * (self.max_depth + 1) + level]
        return lca, np.minimum(level, self.depth[a])  # a == b: a's own depth

    def lca(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Lowest common ancestor of each pair (trees only): O(1) per pair, vectorised;
        ``a`` and ``b`` broadcast against each other."""
        if not self.is_tree:
            raise TaxonomyError(
                "the LCA of a DAG is not unique; use pair_stats() (min height / max depth over CA)"
            )
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        return self._tree_lca_depth(a, b)[0].astype(np.int64, copy=False)

    def _sparse_lca(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The LCA from the preorder sparse table (any tree)."""
        ta, tb = self.tin[a], self.tin[b]
        lo = np.minimum(ta, tb) + 1
        hi = np.maximum(ta, tb)
        same = a == b
        lo = np.where(same, hi, lo)  # any valid range; the answer is overwritten below
        j = self._log2[hi - lo + 1].astype(np.int64)
        m = np.minimum(self._table[j, lo], self._table[j, hi - (1 << j) + 1]).astype(np.int64)
        res = self.parent[self._order[m % self.n]]
        return np.where(same, a, res)

    # ------------------------------------------------------------------ DAGs
    @cached_property
    def _ancestors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per node: ancestors-or-self sorted by id, with the shortest distance from each
        (:func:`~taxovit.taxonomy.dag_ancestors.ancestor_lists`)."""
        return ancestor_lists(
            self.n, self._layers, self.parent_ptr, self.parent_idx, MAX_ANCESTOR_ENTRIES
        )

    def ancestors_of(self, node: int) -> np.ndarray:
        """Ancestors-or-self of one node (sorted ids), root included."""
        if self.is_tree:
            out = [node]
            while self.parent[out[-1]] >= 0:
                out.append(int(self.parent[out[-1]]))
            return np.sort(np.asarray(out, dtype=np.int64))
        start, length, anc, _ = self._ancestors
        return anc[start[node] : start[node] + length[node]].copy()

    def hset_size(self, ids: np.ndarray) -> np.ndarray:
        """|hset(n)|: ancestors-or-self of n, root excluded (= depth on a tree)."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.is_tree:
            return self.depth[ids]
        return self._ancestors[1][ids] - 1

    def _dag_pair_stats(self, a: np.ndarray, b: np.ndarray) -> PairStats:
        start, length, anc, dist = self._ancestors
        n, m = self.n, a.size
        pos_a = ranges(start[a], length[a])
        pos_b = ranges(start[b], length[b])
        key_a = np.repeat(np.arange(m, dtype=np.int64), length[a]) * n + anc[pos_a]
        key_b = np.repeat(np.arange(m, dtype=np.int64), length[b]) * n + anc[pos_b]
        common, ia, ib = np.intersect1d(key_a, key_b, assume_unique=True, return_indices=True)
        row, c = np.divmod(common, n)
        # Every pair shares the root, so every row appears and reduceat groups are non-empty.
        bounds = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        return PairStats(
            n_common=np.bincount(row, minlength=m),
            lca_height=np.minimum.reduceat(self.height[c], bounds),
            lca_depth=np.maximum.reduceat(self.depth[c], bounds),
            distance=np.minimum.reduceat(dist[pos_a][ia] + dist[pos_b][ib], bounds),
        )

    def lca_height_depth(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lca_height, lca_depth)`` of :meth:`pair_stats` without the other two (what the
        ranked metrics need); ``a`` and ``b`` broadcast."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if self.is_tree and a.size and b.size:
            lca, depth = self._tree_lca_depth(a, b)
            return self.height[lca], depth
        stats = self.pair_stats(a, b)
        return stats.lca_height, stats.lca_depth

    def pair_stats(self, a: np.ndarray, b: np.ndarray) -> PairStats:
        """LCA-based quantities for each pair ``(a[i], b[i])`` (see :class:`PairStats`);
        ``a`` and ``b`` broadcast (e.g. ``(n, 1)`` truths against ``(n, K)`` candidates).

        Trees use the O(1) LCA; DAGs deduplicate pairs and intersect ancestor lists.
        """
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"pair arrays differ in shape: {a.shape} vs {b.shape}") from None
        if math.prod(shape) == 0:
            z = np.zeros(shape, dtype=np.int64)
            return PairStats(z, z, z, z)
        if self.is_tree:
            lca, dl = self._tree_lca_depth(a, b)
            return PairStats(dl + 1, self.height[lca], dl, self.depth[a] + self.depth[b] - 2 * dl)
        a, b = np.broadcast_arrays(a, b)
        flat_a, flat_b = a.ravel(), b.ravel()
        uniq, inv = np.unique(flat_a * self.n + flat_b, return_inverse=True)
        ua, ub = np.divmod(uniq, self.n)
        stats = self._dag_pair_stats(ua, ub)
        return PairStats(*(x[inv].reshape(a.shape) for x in stats))

    # ------------------------------------------------------------------ projections
    def ancestor_at_depth(self, ids: np.ndarray, depth: int) -> np.ndarray:
        """Ancestor-or-self of each id at the given depth; -1 where the node is shallower.

        Trees only (in a DAG a node can have several ancestors at one depth).
        """
        if not self.is_tree:
            raise TaxonomyError("ancestor_at_depth needs a tree; this taxonomy is a DAG")
        x = np.asarray(ids, dtype=np.int64).copy()
        valid = self.depth[x] >= depth
        x[~valid] = self.root
        for _ in range(self.max_depth - depth):
            up = self.depth[x] > depth
            if not up.any():
                break
            x[up] = self.parent[x[up]]
        return np.where(valid, x, -1)

    def _rank_table(self, r: int) -> np.ndarray:
        """Trees: ancestor-or-self of every node at rank id r (-1 if none), built top-down once.

        Projecting a million labels is then a single gather.
        """
        cache = self.__dict__.setdefault("_rank_tables", {})
        if r not in cache:
            table = np.where(self.rank_of == r, np.arange(self.n), -1)
            for layer in self._layers[1:]:
                inherit = table[layer] < 0
                table[layer[inherit]] = table[self.parent[layer[inherit]]]
            cache[r] = table
        return cache[r]

    def rank_id(self, rank: str) -> int:
        try:
            return self.rank_names.index(rank)
        except ValueError:
            raise KeyError(
                f"unknown rank {rank!r}; this taxonomy has {self.rank_names or 'no ranks'}"
            ) from None

    def ancestor_at_rank(self, ids: np.ndarray, rank: str) -> np.ndarray:
        """Ancestor-or-self of each id whose rank is ``rank``; -1 where there is none.

        In a DAG with several such ancestors, the nearest (shortest path) wins, then the
        smallest id: a documented, deterministic choice.
        """
        r = self.rank_id(rank)
        ids = np.asarray(ids, dtype=np.int64)
        if self.is_tree:
            return self._rank_table(r)[ids]
        start, length, anc, dist = self._ancestors
        flat = ids.ravel()
        pos = ranges(start[flat], length[flat])
        row = np.repeat(np.arange(flat.size), length[flat])
        keep = self.rank_of[anc[pos]] == r
        row, a, d = row[keep], anc[pos][keep], dist[pos][keep]
        srt = np.lexsort((a, d, row))
        row, a = row[srt], a[srt]
        first = np.r_[True, row[1:] != row[:-1]] if row.size else np.zeros(0, bool)
        out = np.full(flat.size, -1, dtype=np.int64)
        out[row[first]] = a[first]
        return out.reshape(ids.shape)
