"""Conditional risk minimisation (Karthik et al., ICLR 2021): ``ŷ = argmin_k Σ_j C(k, j) p(j | x)``.

Costs ``C(k, j)`` (0 when ``j = k``): ``lca_height`` (height of LCA(k, j), the
making-better-mistakes distance), ``depth_distance`` (D − depth(LCA)) and
``tree_induced_error`` (edges between k and j). On a tree the risk of every class follows
from the node marginals along its root path: for a cost ``f(LCA(k, j))``,

    R(k) = f(root) − Σ_{v on path(k), v ≠ root} (f(parent v) − f(v)) · M(v) − f(k) · p_k,

and the tree-induced error is ``depth(k)(1 − 2 p_k) + E[depth] − 2 R_depth(k)``; so the risks
of all C classes cost O(n × nodes) and no C × C matrix is built. On a DAG (where the LCA is
not unique) the risk is ``p @ Cᵀ`` with C built in blocks of rows (kept whole only up to
4,096 classes).

Rows need not sum to 1: every function here divides each row by its sum first (a negative,
non-finite or all-zero row is an :class:`~taxovit.errors.ArgumentError`), so the tree and DAG
paths give the dense ``(p / Σp) @ Cᵀ`` on any input.

The decision's ranking (:func:`crm_scores`): the classes by increasing expected cost, rounded
to :data:`RISK_DECIMALS` decimals so that mathematically equal costs tie whatever the order of
summation; ties go to the later score column. That is scikit-learn's top-k rule applied to the
scores ``−cost`` (:func:`taxovit.metrics.ranking.top_k_columns`), so ``taxovit evaluate`` ranks
the scores that ``taxovit decide`` writes exactly as the decision does, and the decision
(:func:`crm_predict`) is their first column.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taxovit.decide.tree import TreeLayers
from taxovit.errors import ArgumentError
from taxovit.taxonomy import Taxonomy

__all__ = ["COSTS", "RISK_DECIMALS", "cost_matrix", "crm_predict", "crm_scores", "expected_costs"]

#: expected costs are compared after rounding to this many decimals (costs are tree distances,
#: so this is far above the float error of any summation order and far below a real difference)
RISK_DECIMALS = 9

COSTS = ("lca_height", "depth_distance", "tree_induced_error")
#: DAG path: a cost block or a chunk of rows holds about this many floats (32 MB)
DAG_BLOCK_ELEMS = 1 << 22


def _check_cost(cost: str) -> None:
    if cost not in COSTS:
        raise ArgumentError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")


def cost_matrix(
    score_ids: NDArray[np.int64],
    taxonomy: Taxonomy,
    cost: str,
    rows: NDArray[np.int64] | None = None,
) -> NDArray[np.float64]:
    """The cost matrix ``C[k, j]`` of predicting class k when the truth is class j.

    Parameters
    ----------
    score_ids : ndarray of shape (C,)
        Taxonomy node id of each score column's class.
    taxonomy : Taxonomy
    cost : {"lca_height", "depth_distance", "tree_induced_error"}
        ``lca_height``: height of LCA(k, j) (Bertinetto et al. 2020's definition);
        ``depth_distance``: D − depth(LCA(k, j)) (their released code's); and
        ``tree_induced_error``: edges between k and j (Dekel et al. 2004). 0 when k = j.
    rows : ndarray of int, optional
        Only the rows of these columns (default: all), for building C in blocks.

    Returns
    -------
    ndarray of shape (len(rows), C)
        float64 costs.

    Raises
    ------
    ArgumentError
        An unknown ``cost``.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges(
    ...     [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...     ranks={"A": "group", "B": "group", "a1": "class", "a2": "class", "b1": "class"})
    >>> ids = tax.ids(["a1", "a2", "b1"])  # the classes of the score columns
    >>> probs = np.array([[0.3, 0.3, 0.4], [0.7, 0.2, 0.1]])
    >>> from taxovit.decide import cost_matrix
    >>> cost_matrix(ids, tax, "lca_height")
    array([[0., 1., 2.],
           [1., 0., 2.],
           [2., 2., 0.]])
    """
    _check_cost(cost)
    ids = np.asarray(score_ids, dtype=np.int64)
    ks = ids if rows is None else ids[rows]
    a = np.repeat(ks, ids.size)
    b = np.tile(ids, ks.size)
    st = taxonomy.index.pair_stats(a, b)
    value = {
        "lca_height": st.lca_height,
        "tree_induced_error": st.distance,
        "depth_distance": taxonomy.index.max_depth - st.lca_depth,
    }[cost]
    return np.where(a == b, 0, value).reshape(ks.size, ids.size).astype(np.float64)


def _tree_risks_t(layers: TreeLayers, probs_t, taxonomy: Taxonomy, cost: str):
    """``(classes, rows)`` expected costs of a chunk given as ``probs_t`` (classes, rows)."""
    ix = taxonomy.index
    ids = layers.score_ids
    f_of = {
        "lca_height": ix.height.astype(np.float64),
        "depth_distance": (ix.max_depth - ix.depth).astype(np.float64),
        "tree_induced_error": ix.depth.astype(np.float64),
    }[cost]
    w = np.zeros(ix.n)
    nonroot = np.flatnonzero(ix.parent >= 0)
    w[nonroot] = f_of[ix.parent[nonroot]] - f_of[nonroot]
    s = layers.path_sums(layers.marginals(probs_t), w)
    f_k = f_of[ids][:, None]
    risk = f_of[ix.root] - layers.class_path_sums(s, probs_t, w) - f_k * probs_t
    if cost != "tree_induced_error":
        return risk
    return f_k * (1 - 2 * probs_t) + (f_of[ids] @ probs_t)[None, :] - 2 * risk


def _normalised_t(probs: NDArray[np.float64], rows: slice) -> NDArray[np.float64]:
    """Rows ``rows`` of ``probs``, each divided by its sum, class-major ``(classes, rows)``;
    a non-finite, negative or all-zero row is refused (named by its index in ``probs``)."""
    p_t = np.array(probs[rows].T, dtype=np.float64, order="C")
    total = p_t.sum(axis=0)
    for bad, why in (
        (~np.isfinite(total), "has a score that is not a finite number"),
        ((p_t < 0).any(axis=0), "has a negative score; probabilities must be >= 0"),
        (total <= 0, "has scores summing to 0; expected probabilities"),
    ):
        if bad.any():
            raise ArgumentError(f"row {rows.start + int(np.argmax(bad))} {why}")
    p_t /= total
    return p_t


def _chunks(
    probs: NDArray[np.float64], score_ids: NDArray[np.int64], taxonomy: Taxonomy, cost: str
):
    """``(row slice, risk_t)`` chunk by chunk: class-major ``(classes, rows)``, from the rows
    of ``probs`` divided by their sums."""
    _check_cost(cost)
    ids = np.asarray(score_ids, dtype=np.int64)
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != ids.size:
        raise ArgumentError(
            f"probs must have shape (samples, {ids.size}) for {ids.size} "
            f"score_ids, got {probs.shape}"
        )
    return _chunk_risks(probs, ids, taxonomy, cost)


def _chunk_risks(probs, ids, taxonomy: Taxonomy, cost: str):
    if taxonomy.is_tree:
        layers = TreeLayers(taxonomy, ids)
        step = layers.rows_per_chunk()
        for lo in range(0, probs.shape[0], step):
            rows = slice(lo, lo + step)
            yield rows, _tree_risks_t(layers, _normalised_t(probs, rows), taxonomy, cost)
        return
    step = max(1, DAG_BLOCK_ELEMS // max(ids.size, 1))  # rows of C per block

    def blocks():
        for lo in range(0, ids.size, step):
            yield cost_matrix(ids, taxonomy, cost, np.arange(lo, min(lo + step, ids.size)))

    # a small C is kept whole; a large one is rebuilt block by block for every row chunk
    cached = list(blocks()) if ids.size**2 <= 4 * DAG_BLOCK_ELEMS else None
    for lo in range(0, probs.shape[0], step):
        rows = slice(lo, lo + step)
        probs_t = _normalised_t(probs, rows)
        yield rows, np.concatenate([blk @ probs_t for blk in cached or blocks()])


def expected_costs(
    probs: NDArray[np.float64],
    score_ids: NDArray[np.int64],
    taxonomy: Taxonomy,
    cost: str = "lca_height",
) -> NDArray[np.float64]:
    """The expected cost ``R(k) = Σ_j C(k, j) p(j | x)`` of predicting each class k, with
    ``p`` each row of ``probs`` divided by its sum.

    On a tree computed from node marginals along each class's root path (no C × C matrix);
    on a DAG from :func:`cost_matrix` in blocks. See the module docstring.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Class probabilities, one column per score class.
    score_ids : ndarray of shape (C,)
        Taxonomy node id of each column's class.
    taxonomy : Taxonomy
    cost : {"lca_height", "depth_distance", "tree_induced_error"}, default "lca_height"
        The cost C(k, j), as in :func:`cost_matrix`.

    Returns
    -------
    ndarray of shape (n, C)
        ``R(k)`` for every row and class.

    Raises
    ------
    ArgumentError
        An unknown ``cost``.

    References
    ----------
    Karthik, Prabhu, Dokania, Gandhi. No Cost Likelihood Manipulation at Test Time for
    Making Better Mistakes in Deep Networks. ICLR 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges(
    ...     [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...     ranks={"A": "group", "B": "group", "a1": "class", "a2": "class", "b1": "class"})
    >>> ids = tax.ids(["a1", "a2", "b1"])  # the classes of the score columns
    >>> probs = np.array([[0.3, 0.3, 0.4], [0.7, 0.2, 0.1]])
    >>> from taxovit.decide import expected_costs
    >>> expected_costs(probs, ids, tax)
    array([[1.1, 1.1, 1.2],
           [0.4, 0.9, 1.8]])
    """
    chunks = _chunks(probs, score_ids, taxonomy, cost)
    out = np.empty(np.shape(probs), dtype=np.float64)
    for rows, risk_t in chunks:
        out[rows] = risk_t.T
    return out


def _scores_of(risk: NDArray[np.float64]) -> NDArray[np.float64]:
    """The decision scores ``−round(cost, RISK_DECIMALS)`` (``+ 0.0``: no ``-0.0``)."""
    return -np.round(risk, RISK_DECIMALS) + 0.0


def crm_scores(
    probs: NDArray[np.float64],
    score_ids: NDArray[np.int64],
    taxonomy: Taxonomy,
    cost: str = "lca_height",
) -> NDArray[np.float64]:
    """``(n, C)``: the CRM decision's scores, ``−expected cost`` rounded to
    :data:`RISK_DECIMALS` decimals. Ranking them with scikit-learn's top-k rule (higher first,
    ties to the later column: :func:`~taxovit.metrics.ranking.top_k_columns`) orders the classes
    as Karthik et al. (2021) report CRM's top-k and hierarchical distance@k; the first is
    :func:`crm_predict`'s choice.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Class probabilities, one column per score class.
    score_ids : ndarray of shape (C,)
        Taxonomy node id of each column's class.
    taxonomy : Taxonomy
    cost : {"lca_height", "depth_distance", "tree_induced_error"}, default "lca_height"

    Returns
    -------
    ndarray of shape (n, C)
        ``−Σ_j C(k, j) p(j | x)`` per column k (higher is better).

    Raises
    ------
    ArgumentError
        An unknown ``cost``.

    References
    ----------
    Karthik et al., No Cost Likelihood Manipulation at Test Time for Making Better
    Mistakes in Deep Networks. ICLR 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> from taxovit.decide import crm_scores
    >>> tax = Taxonomy.from_edges(
    ...     [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...     ranks={"A": "group", "B": "group", "a1": "class", "a2": "class", "b1": "class"})
    >>> ids = tax.ids(["a1", "a2", "b1"])
    >>> crm_scores(np.array([[0.3, 0.3, 0.4], [0.7, 0.2, 0.1]]), ids, tax)
    array([[-1.1, -1.1, -1.2],
           [-0.4, -0.9, -1.8]])
    """
    return _scores_of(expected_costs(probs, score_ids, taxonomy, cost))


def crm_predict(
    probs: NDArray[np.float64],
    score_ids: NDArray[np.int64],
    taxonomy: Taxonomy,
    cost: str = "lca_height",
) -> NDArray[np.int64]:
    """Conditional risk minimisation: the column of the least expected cost of each row.

    ``argmin_k Σ_j C(k, j) p(j | x)`` (:func:`expected_costs`): the first column of the
    ranking of :func:`crm_scores`, so ties (equal costs at 9 decimals) go to the later
    column, as ``taxovit evaluate`` ranks the scores ``decide --rule crm`` writes. Unlike the arg-max, it prefers a class whose
    likely alternatives are close to it in the taxonomy.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Class probabilities, one column per score class (see :func:`to_probabilities`).
    score_ids : ndarray of shape (C,)
        Taxonomy node id of each column's class.
    taxonomy : Taxonomy
    cost : {"lca_height", "depth_distance", "tree_induced_error"}, default "lca_height"
        The cost C(k, j), as in :func:`cost_matrix`.

    Returns
    -------
    ndarray of shape (n,)
        The chosen column of each row (``score_ids[...]`` gives the node).

    Raises
    ------
    ArgumentError
        An unknown ``cost``.

    References
    ----------
    Karthik, Prabhu, Dokania, Gandhi. No Cost Likelihood Manipulation at Test Time for
    Making Better Mistakes in Deep Networks. ICLR 2021.

    Examples
    --------
    In the first row the arg-max is ``b1`` (0.4), but 0.6 of the mass lies under ``A``
    (``a1`` and ``a2`` tie; the later column wins):

    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges(
    ...     [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")],
    ...     ranks={"A": "group", "B": "group", "a1": "class", "a2": "class", "b1": "class"})
    >>> ids = tax.ids(["a1", "a2", "b1"])  # the classes of the score columns
    >>> probs = np.array([[0.3, 0.3, 0.4], [0.7, 0.2, 0.1]])
    >>> from taxovit.decide import crm_predict
    >>> tax.names(ids[crm_predict(probs, ids, tax)])
    ['a2', 'a1']
    """
    chunks = _chunks(probs, score_ids, taxonomy, cost)
    out = np.empty(np.shape(probs)[0], dtype=np.int64)
    for rows, risk_t in chunks:
        # = top_k_columns(_scores_of(risk_t.T), 1)[:, 0] (tested), without its partition:
        # the least rounded cost, ties to the last column
        r = np.round(risk_t, RISK_DECIMALS)
        last = np.argmax(r[::-1] == r.min(axis=0), axis=0)
        out[rows] = r.shape[0] - 1 - last
    return out
