"""Vectorised passes over a tree's depth layers, for a chunk of samples at a time.

Only internal nodes get rows: a leaf's marginal is its own class probability, and a leaf's
root-path sum is its parent's plus its own term. For a chunk of rows (samples):

* :meth:`TreeLayers.marginals` — ``M[v] = P(v | x)`` for every internal node, bottom-up;
* :meth:`TreeLayers.path_sums` — ``S[v] = Σ_{u on the root path of v, u ≠ root} w_u M[u]``,
  top-down, for every internal node;
* :meth:`TreeLayers.class_path_sums` — the same sums for the score classes.

All cost O(rows × internal nodes). Arrays are node-major, ``(internal nodes, rows)``, so
every gather along the tree copies whole contiguous rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from taxovit.errors import ArgumentError
from taxovit.taxonomy import Taxonomy

__all__ = ["CHUNK_ELEMS", "TreeLayers"]

#: rows per chunk are chosen so one (internal nodes x rows) matrix holds about this many floats
#: (2 MB: the chunk's arrays stay in cache; measured best of 2^17-2^22 on ImageNet-1k)
CHUNK_ELEMS = 1 << 18


class TreeLayers:
    """The internal nodes of a tree by depth, and how score classes attach to them."""

    def __init__(self, taxonomy: Taxonomy, score_ids: NDArray[np.int64]) -> None:
        ix = taxonomy.index
        if not ix.is_tree:
            raise ArgumentError("this needs a tree taxonomy; it is a DAG")
        self.parent, self.root = ix.parent, ix.root
        self.score_ids = np.asarray(score_ids, dtype=np.int64)
        internal = np.flatnonzero(np.diff(ix.child_ptr) > 0)
        self.row = np.full(ix.n, -1, dtype=np.int64)  # node -> row of the internal arrays
        self.row[internal] = np.arange(internal.size)
        self.internal = internal
        order = internal[np.argsort(ix.depth[internal], kind="stable")]
        bounds = np.searchsorted(ix.depth[order], np.arange(ix.max_depth + 2))
        self.layers = [self.row[order[bounds[d] : bounds[d + 1]]] for d in range(ix.max_depth + 1)]
        self.parent_row = np.where(ix.parent >= 0, self.row[np.maximum(ix.parent, 0)], -1)
        self.col = np.full(ix.n, -1, dtype=np.int64)  # node -> score column
        self.col[self.score_ids] = np.arange(self.score_ids.size)
        self._attach = self._class_attachment()
        own = self.row[self.score_ids]
        self._own = own
        self._leaf = np.flatnonzero((own < 0) & (self.parent_row[self.score_ids] >= 0))
        self._all_leaves = self._leaf.size == self.score_ids.size  # the usual case
        self._up = [self._fold(layer) for layer in self.layers[1:] if layer.size]

    def _class_attachment(self) -> sp.csr_matrix:
        """(internal rows x classes): a class adds its mass to its own row (internal class)
        or to its parent's row (leaf class)."""
        own = self.row[self.score_ids]
        target = np.where(own >= 0, own, self.parent_row[self.score_ids])
        cols = np.flatnonzero(target >= 0)  # a lone root class attaches nowhere
        return sp.csr_matrix(
            (np.ones(cols.size), (target[cols], cols)),
            shape=(self.internal.size, self.score_ids.size),
        )

    def _fold(self, layer: NDArray[np.int64]) -> tuple:
        parents, inv = np.unique(self.parent_row[self.internal[layer]], return_inverse=True)
        fold = sp.csr_matrix(
            (np.ones(layer.size), (inv.ravel(), np.arange(layer.size))),
            shape=(parents.size, layer.size),
        )
        return layer, parents, fold

    def rows_per_chunk(self) -> int:
        return max(64, CHUNK_ELEMS // max(self.internal.size, 1))  # >= 64: few Python steps

    def marginals(self, probs_t: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(internal nodes, rows)`` marginals from ``probs_t`` ``(classes, rows)``."""
        m = np.asarray(self._attach @ probs_t)
        for layer, parents, fold in reversed(self._up):
            m[parents] += fold @ m[layer]
        return m

    def path_sums(self, m: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(internal nodes, rows)``: ``Σ w_u M[u]`` over each root path, root excluded
        (``w``: a weight per node id)."""
        s = np.zeros_like(m)
        for layer in self.layers[1:]:
            nodes = self.internal[layer]
            s[layer] = s[self.parent_row[nodes]] + w[nodes][:, None] * m[layer]
        return s

    def class_path_sums(self, s, probs_t, w) -> NDArray[np.float64]:
        """``(classes, rows)`` root-path sums of the score classes (leaf classes: the
        parent's sum plus ``w_k p_k``)."""
        ids = self.score_ids
        if self._all_leaves:  # one gather: every class hangs under an internal node
            return s[self.parent_row[ids]] + w[ids][:, None] * probs_t
        own, leaf = self._own, self._leaf
        out = np.where((own >= 0)[:, None], s[np.maximum(own, 0)], 0.0)
        ids = ids[leaf]
        out[leaf] = s[self.parent_row[ids]] + w[ids][:, None] * probs_t[leaf]
        return out

    def node_marginals(self, m, probs_t, nodes: NDArray[np.int64], rows: NDArray[np.int64]):
        """``P(nodes[i, j] | row i)`` for a ``(rows, k)`` array of node ids (any node: an
        internal node's marginal, a leaf class's probability, 0 for other leaves)."""
        r, c = self.row[nodes], self.col[nodes]
        internal = m[np.maximum(r, 0), rows[:, None]]
        leaf = np.where(c >= 0, probs_t[np.maximum(c, 0), rows[:, None]], 0.0)
        return np.where(r >= 0, internal, leaf)
