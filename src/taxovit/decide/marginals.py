"""Marginal probabilities of taxonomy nodes: ``P(node | x) = Σ_{classes c under node} p(c | x)``.

The map from score columns to nodes is a sparse ``(C, M)`` 0/1 matrix, so marginals of any
set of M nodes are one sparse product, O(n · C) whatever the depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from taxovit.taxonomy import Taxonomy

__all__ = ["RankMarginals", "node_marginals", "rank_marginals"]


def _under(taxonomy: Taxonomy, score_ids: NDArray[np.int64], nodes: NDArray[np.int64]) -> sp.csr_matrix:
    """``A[c, m] = 1`` when score column c's class is node m or lies under it."""
    ix = taxonomy.index
    col_of = {int(n): j for j, n in enumerate(nodes)}
    rows, cols = [], []
    for c, cls in enumerate(score_ids.tolist()):
        for anc in ix.ancestors_of(cls).tolist():
            j = col_of.get(int(anc))
            if j is not None:
                rows.append(c)
                cols.append(j)
    data = np.ones(len(rows))
    return sp.csr_matrix((data, (rows, cols)), shape=(score_ids.size, nodes.size))


def node_marginals(
    probs: NDArray[np.float64], score_ids: NDArray[np.int64], taxonomy: Taxonomy,
    nodes: NDArray[np.int64],
) -> NDArray[np.float64]:
    """``(n, len(nodes))``: the probability mass of the classes under each node."""
    a = _under(taxonomy, np.asarray(score_ids, dtype=np.int64), np.asarray(nodes, dtype=np.int64))
    return np.asarray((a.T @ probs.T).T)


@dataclass(frozen=True)
class RankMarginals:
    """Marginals over the nodes of one rank: ``nodes`` (M,) and ``probs`` (n, M); rows sum
    to the mass of the classes that reach the rank (1 when every class does)."""

    rank: str
    nodes: NDArray[np.int64]
    probs: NDArray[np.float64]


def rank_marginals(
    probs: NDArray[np.float64], score_ids: NDArray[np.int64], taxonomy: Taxonomy, rank: str
) -> RankMarginals:
    """Marginals at ``rank`` on a tree: each class adds its probability to its ancestor at
    the rank (classes coarser than the rank add nothing).

    ``nodes`` are the rank's nodes that some class reaches, in increasing node id (the
    taxonomy's node order). Ranked with scikit-learn's rule
    (:func:`taxovit.metrics.flat.top_k_columns`, as the report's per-rank ``top{k}_accuracy``
    ranks them), equal marginals go to the later column: the higher node id."""
    anc = taxonomy.index.ancestor_at_rank(np.asarray(score_ids, dtype=np.int64), rank)
    has = anc >= 0
    nodes, col = np.unique(anc[has], return_inverse=True)
    rows = np.flatnonzero(has)
    a = sp.csr_matrix((np.ones(rows.size), (rows, col)), shape=(anc.size, nodes.size))
    return RankMarginals(rank, nodes, np.asarray((a.T @ probs.T).T))
