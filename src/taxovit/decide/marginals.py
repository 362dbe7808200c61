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


def _under(
    taxonomy: Taxonomy, score_ids: NDArray[np.int64], nodes: NDArray[np.int64]
) -> sp.csr_matrix:
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
    probs: NDArray[np.float64],
    score_ids: NDArray[np.int64],
    taxonomy: Taxonomy,
    nodes: NDArray[np.int64],
) -> NDArray[np.float64]:
    """The probability mass of the classes under each node: ``P(v | x) = Σ_{c ≤ v} p(c | x)``.

    Works on any DAG (a class under a node by several paths counts once).

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Class probabilities, one column per score class (see :func:`to_probabilities`).
    score_ids : ndarray of shape (C,)
        Taxonomy node id of each column's class.
    taxonomy : Taxonomy
    nodes : ndarray of shape (M,)
        Node ids whose marginals are wanted (leaf or internal).

    Returns
    -------
    ndarray of shape (n, M)
        ``P(nodes[m] | x)`` of each row; a class counts for a node when it is the node or
        lies under it.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges(
    ...     [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...     ranks={"A": "group", "B": "group", "a1": "class", "a2": "class", "b1": "class"})
    >>> ids = tax.ids(["a1", "a2", "b1"])  # the classes of the score columns
    >>> probs = np.array([[0.3, 0.3, 0.4], [0.7, 0.2, 0.1]])
    >>> from taxovit.decide import node_marginals
    >>> node_marginals(probs, ids, tax, tax.ids(["A", "B", "root"]))
    array([[0.6, 0.4, 1. ],
           [0.9, 0.1, 1. ]])
    """
    a = _under(taxonomy, np.asarray(score_ids, dtype=np.int64), np.asarray(nodes, dtype=np.int64))
    return np.asarray((a.T @ probs.T).T)


@dataclass(frozen=True)
class RankMarginals:
    """Marginals over the nodes of one rank (what :func:`rank_marginals` returns).

    Attributes
    ----------
    rank : str
        The rank.
    nodes : ndarray of shape (M,)
        Node ids of the rank's nodes that some score class reaches, in id order.
    probs : ndarray of shape (n, M)
        ``P(nodes[m] | x)``; rows sum to the mass of the classes that reach the rank (1
        when every class does).

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> from taxovit.decide import rank_marginals
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...                           ranks={"A": "group", "B": "group"})
    >>> m = rank_marginals(np.array([[0.3, 0.3, 0.4]]), tax.ids(["a1", "a2", "b1"]), tax, "group")
    >>> m.rank, tax.names(m.nodes), m.probs
    ('group', ['A', 'B'], array([[0.6, 0.4]]))
    """

    rank: str
    nodes: NDArray[np.int64]
    probs: NDArray[np.float64]


def rank_marginals(
    probs: NDArray[np.float64], score_ids: NDArray[np.int64], taxonomy: Taxonomy, rank: str
) -> RankMarginals:
    """Marginals at ``rank`` on a tree: each class adds its probability to its ancestor at
    the rank (classes coarser than the rank add nothing).

    The per-rank ``top{k}_accuracy`` and calibration keys of the report are computed from
    these (see the Metrics page, docs/metrics.md). ``nodes`` are the rank's nodes that some
    class reaches, in increasing node id (the taxonomy's node order). Ranked with
    scikit-learn's rule (:func:`taxovit.metrics.ranking.top_k_columns`, as the report's per-rank
    ``top{k}_accuracy`` ranks them), equal marginals go to the later column: the higher node
    id.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Class probabilities, one column per score class.
    score_ids : ndarray of shape (C,)
        Taxonomy node id of each column's class.
    taxonomy : Taxonomy
        A tree (on a DAG the nearest ancestor at the rank is taken, then the smallest id).
    rank : str
        A rank of ``taxonomy``.

    Returns
    -------
    RankMarginals
        The rank's nodes and their ``(n, M)`` marginals.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges(
    ...     [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...     ranks={"A": "group", "B": "group", "a1": "class", "a2": "class", "b1": "class"})
    >>> ids = tax.ids(["a1", "a2", "b1"])  # the classes of the score columns
    >>> probs = np.array([[0.3, 0.3, 0.4], [0.7, 0.2, 0.1]])
    >>> from taxovit.decide import rank_marginals
    >>> groups = rank_marginals(probs, ids, tax, "group")
    >>> tax.names(groups.nodes), groups.probs
    (['A', 'B'], array([[0.6, 0.4],
           [0.9, 0.1]]))
    """
    anc = taxonomy.index.ancestor_at_rank(np.asarray(score_ids, dtype=np.int64), rank)
    has = anc >= 0
    nodes, col = np.unique(anc[has], return_inverse=True)
    rows = np.flatnonzero(has)
    a = sp.csr_matrix((np.ones(rows.size), (rows, col)), shape=(anc.size, nodes.size))
    return RankMarginals(rank, nodes, np.asarray((a.T @ probs.T).T))
