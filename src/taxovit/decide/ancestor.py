"""Deepest confident ancestor (what iNaturalist's vision service returns when unsure).

From the root, step to the child with the largest marginal ``P(child | x)`` while that
marginal is at least ``threshold`` (up to :data:`TOLERANCE`, so that a marginal summed to
0.9999999999999999 counts as 1; ties, also up to :data:`TOLERANCE`: the child whose name
sorts first); the prediction
is the last node reached (a leaf when the walk reaches one). With ``min_rank``, the walk
does not stop above that rank: until it reaches a node at or below the rank it steps to the
best child whatever its marginal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taxovit.decide.tree import TreeLayers
from taxovit.errors import ArgumentError
from taxovit.taxonomy import Taxonomy

__all__ = ["TOLERANCE", "confident_ancestor"]

#: rounding allowed when a summed marginal is compared with the threshold
TOLERANCE = 1e-12


def _children_table(taxonomy: Taxonomy) -> NDArray[np.int64]:
    """``(nodes, max children)`` child ids sorted by name, padded with -1."""
    ix = taxonomy.index
    names = np.asarray(taxonomy.nodes, dtype=object)
    counts = np.diff(ix.child_ptr)
    table = np.full((ix.n, max(int(counts.max(initial=0)), 1)), -1, dtype=np.int64)
    parent_of_slot = np.repeat(np.arange(ix.n), counts)
    kids = ix.child_idx
    order = np.lexsort((names[kids].astype(str), parent_of_slot))
    kids, parent_of_slot = kids[order], parent_of_slot[order]
    slot = np.arange(kids.size) - ix.child_ptr[parent_of_slot]
    table[parent_of_slot, slot] = kids
    return table


def confident_ancestor(
    probs: NDArray[np.float64],
    score_ids: NDArray[np.int64],
    taxonomy: Taxonomy,
    threshold: float = 0.9,
    min_rank: str | None = None,
) -> NDArray[np.int64]:
    """The deepest node whose marginal clears ``threshold``, for each row (trees).

    From the root, step to the child with the largest marginal ``P(child | x)`` while it is
    at least ``threshold`` (see the module docstring for ties and rounding).

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Class probabilities, one column per score class (see :func:`to_probabilities`).
    score_ids : ndarray of shape (C,)
        Taxonomy node id of each column's class.
    taxonomy : Taxonomy
        A tree.
    threshold : float, default 0.9
        The marginal a step needs, in [0, 1].
    min_rank : str, optional
        Never stop above this rank: until the walk reaches it, it steps to the best child
        whatever its marginal.

    Returns
    -------
    ndarray of shape (n,)
        Node ids (a leaf, an internal node, or the root when no child clears the threshold).

    Raises
    ------
    ArgumentError
        ``threshold`` outside [0, 1] or ``min_rank`` not a rank of the taxonomy.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges(
    ...     [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...     ranks={"A": "group", "B": "group", "a1": "class", "a2": "class", "b1": "class"})
    >>> ids = tax.ids(["a1", "a2", "b1"])  # the classes of the score columns
    >>> probs = np.array([[0.3, 0.3, 0.4], [0.7, 0.2, 0.1]])
    >>> from taxovit.decide import confident_ancestor
    >>> tax.names(confident_ancestor(probs, ids, tax, threshold=0.6))
    ['A', 'a1']
    >>> tax.names(confident_ancestor(probs, ids, tax, threshold=0.95, min_rank="group"))
    ['A', 'A']
    """
    if not 0.0 <= threshold <= 1.0:
        raise ArgumentError(f"threshold must lie in [0, 1], got {threshold!r}")
    if min_rank is not None and min_rank not in taxonomy.rank_names:
        raise ArgumentError(
            f"min_rank {min_rank!r} is not a rank of the taxonomy; it has "
            f"{', '.join(taxonomy.rank_names) or 'no ranks'}"
        )
    ids = np.asarray(score_ids, dtype=np.int64)
    layers = TreeLayers(taxonomy, ids)
    table = _children_table(taxonomy)
    ix = taxonomy.index
    out = np.empty(probs.shape[0], dtype=np.int64)
    step = layers.rows_per_chunk()
    for lo in range(0, probs.shape[0], step):
        chunk = np.ascontiguousarray(probs[lo : lo + step].T)
        m = layers.marginals(chunk)  # (internal nodes, rows)
        cur = np.full(m.shape[1], ix.root, dtype=np.int64)
        rows = np.arange(m.shape[1])
        for _ in range(ix.max_depth):
            kids = table[cur]  # (rows, max children)
            vals = np.where(
                kids >= 0, layers.node_marginals(m, chunk, np.maximum(kids, 0), rows), -np.inf
            )
            top = vals.max(axis=1, keepdims=True)
            j = np.argmax(vals >= top - TOLERANCE, axis=1)  # first of the (near-)equal: by name
            best, val = kids[rows, j], vals[rows, j]
            forced = False if min_rank is None else ix.ancestor_at_rank(cur, min_rank) < 0
            move = (best >= 0) & ((val >= threshold - TOLERANCE) | forced)
            if not move.any():
                break
            cur = np.where(move, best, cur)
        out[lo : lo + step] = cur
    return out
