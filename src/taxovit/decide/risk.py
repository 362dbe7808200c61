"""Conditional risk minimisation (Karthik et al., ICLR 2021): ``ŷ = argmin_k Σ_j C(k, j) p(j | x)``.

Costs ``C(k, j)`` (0 when ``j = k``): ``lca_height`` (height of LCA(k, j), the
making-better-mistakes distance), ``depth_distance`` (D − depth(LCA)) and
``tree_induced_error`` (edges between k and j). On a tree the risk of every class follows
from the node marginals along its root path: for a cost ``f(LCA(k, j))``,

    R(k) = f(root) − Σ_{v on path(k), v ≠ root} (f(parent v) − f(v)) · M(v) − f(k) · p_k,

and the tree-induced error is ``depth(k)(1 − 2 p_k) + E[depth] − 2 R_depth(k)``; so the risks
of all C classes cost O(n × nodes) and no C × C matrix is built. On a DAG (where the LCA is
not unique) the risk is ``p @ Cᵀ`` with C built in blocks of rows.

Ties: the lower risk, then the higher probability, then the earlier score column.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taxovit.decide.tree import CHUNK_ELEMS, TreeLayers
from taxovit.errors import ArgumentError
from taxovit.taxonomy import Taxonomy

__all__ = ["COSTS", "cost_matrix", "crm_predict", "expected_costs"]

COSTS = ("lca_height", "depth_distance", "tree_induced_error")


def _check_cost(cost: str) -> None:
    if cost not in COSTS:
        raise ArgumentError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")


def cost_matrix(
    score_ids: NDArray[np.int64], taxonomy: Taxonomy, cost: str, rows: NDArray[np.int64] | None = None
) -> NDArray[np.float64]:
    """``C[k, j]`` for the classes ``score_ids[rows]`` (default all) against every class."""
    _check_cost(cost)
    ids = np.asarray(score_ids, dtype=np.int64)
    ks = ids if rows is None else ids[rows]
    a = np.repeat(ks, ids.size)
    b = np.tile(ids, ks.size)
    st = taxonomy.index.pair_stats(a, b)
    value = {"lca_height": st.lca_height, "tree_induced_error": st.distance,
             "depth_distance": taxonomy.index.max_depth - st.lca_depth}[cost]  # fmt: skip
    return np.where(a == b, 0, value).reshape(ks.size, ids.size).astype(np.float64)


def _tree_risks(layers: TreeLayers, probs, score_ids, taxonomy: Taxonomy, cost: str):
    ix = taxonomy.index
    f_of = {"lca_height": ix.height.astype(np.float64),
            "depth_distance": (ix.max_depth - ix.depth).astype(np.float64),
            "tree_induced_error": ix.depth.astype(np.float64)}[cost]  # fmt: skip
    probs_t = np.ascontiguousarray(probs.T)
    w = np.zeros(ix.n)
    nonroot = np.flatnonzero(ix.parent >= 0)
    w[nonroot] = f_of[ix.parent[nonroot]] - f_of[nonroot]
    s = layers.path_sums(layers.marginals(probs_t), w)
    risk = f_of[ix.root] - layers.class_path_sums(s, probs_t, w).T - f_of[score_ids] * probs
    if cost != "tree_induced_error":
        return risk
    d = f_of[score_ids]
    return d * (1 - 2 * probs) + (probs @ d)[:, None] - 2 * risk


def expected_costs(
    probs: NDArray[np.float64], score_ids: NDArray[np.int64], taxonomy: Taxonomy,
    cost: str = "lca_height",
) -> NDArray[np.float64]:
    """``(n, C)``: the expected cost ``Σ_j C(k, j) p(j | x)`` of predicting each class k."""
    _check_cost(cost)
    ids = np.asarray(score_ids, dtype=np.int64)
    out = np.empty_like(probs)
    if taxonomy.is_tree:
        layers = TreeLayers(taxonomy, ids)
        step = layers.rows_per_chunk()
        for lo in range(0, probs.shape[0], step):
            out[lo : lo + step] = _tree_risks(layers, probs[lo : lo + step], ids, taxonomy, cost)
        return out
    step = max(1, CHUNK_ELEMS // max(ids.size, 1))  # rows of C per block
    for lo in range(0, ids.size, step):
        rows = np.arange(lo, min(lo + step, ids.size))
        out[:, rows] = probs @ cost_matrix(ids, taxonomy, cost, rows).T
    return out


def crm_predict(
    probs: NDArray[np.float64], score_ids: NDArray[np.int64], taxonomy: Taxonomy,
    cost: str = "lca_height",
) -> NDArray[np.int64]:
    """The column of the minimum-risk class of each row (ties as the module docstring)."""
    risk = expected_costs(probs, score_ids, taxonomy, cost)
    best = risk.min(axis=1, keepdims=True)
    tied = risk <= best + 1e-12 * np.maximum(1.0, np.abs(best))
    return np.argmax(np.where(tied, probs, -np.inf), axis=1)  # first of the most probable
