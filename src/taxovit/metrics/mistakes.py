"""How bad are the mistakes: heights and depths of the lowest common ancestor, the
tree-induced error, and the hierarchical distance of the top-k classes.

Pure, vectorised functions over labels (node names or ids) and a taxonomy, from the
per-sample :func:`taxovit.metrics.hierarchical.components`.  Definitions and key names: the
project's Metrics page (``docs/metrics.md``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics._common import label_ids
from taxovit.metrics.hierarchical import components
from taxovit.metrics.ranking import top_k_columns
from taxovit.metrics.table import value_of
from taxovit.taxonomy import Taxonomy

__all__ = [
    "avg_hierarchical_distance_at_k",
    "hierarchical_distance_at_k",
    "lca_depth",
    "lca_height",
    "mistake_severity",
    "tree_induced_error",
]


def lca_height(y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy) -> NDArray[np.int64]:
    """Per-sample mistake height d.

    d = 0 if y_true == y_pred, else height(LCA(y_true, y_pred)); in a DAG the minimum height
    over the common ancestors; if one label is an ancestor of the other, that ancestor is the
    LCA.  ``mean_lca_height`` is its mean.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).

    Returns
    -------
    ndarray of int64, shape (n,)
        The heights.

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.

    References
    ----------
    Bertinetto, Mueller, Tertikas, Samangooei & Lord (2020), "Making Better Mistakes:
    Leveraging Class Hierarchies with Deep Networks", CVPR.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> lca_height(["a1", "a1", "a2"], ["a1", "a2", "b1"], tax)
    array([0, 1, 2])
    """
    return components(y_true, y_pred, taxonomy).d


def mistake_severity(y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy) -> float | None:
    """Mean of :func:`lca_height` over mistakes only.

    ``Σ_i d_i / #{i : y_pred_i ≠ y_true_i}`` with ``d_i`` the LCA height (0 when right): the
    metric table's ``mistake_severity`` row.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).

    Returns
    -------
    float or None
        ``None`` when there is no mistake.

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.

    References
    ----------
    Bertinetto et al. (2020), "Making Better Mistakes", CVPR (its "mistake severity").

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> mistake_severity(["a1", "a1", "a2", "b1"], ["a1", "a2", "b1", "b1"], tax)
    1.5
    >>> mistake_severity(["a1"], ["a1"], tax) is None
    True
    """
    c = components(y_true, y_pred, taxonomy)
    return value_of("mistake_severity", {"d": c.d.sum(), "wrong": np.count_nonzero(~c.correct)})


def lca_depth(y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy) -> NDArray[np.int64]:
    """Per-sample depth of the lowest common ancestor (a similarity).

    In a DAG the maximum depth over the common ancestors.  ``mean_lca_depth`` is its mean;
    ``mean_lca_depth_distance`` the mean of 0 if equal, else D − depth(LCA), D the
    taxonomy's maximum depth.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).

    Returns
    -------
    ndarray of int64, shape (n,)
        The depths (the root has depth 0).

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.

    References
    ----------
    The Metrics page, keys ``mean_lca_depth`` and ``mean_lca_depth_distance``.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> lca_depth(["a1", "a1", "a2"], ["a1", "a2", "b1"], tax)
    array([2, 1, 0])
    """
    return components(y_true, y_pred, taxonomy).lca_depth


def tree_induced_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    reduce: Literal["mean", "sum", "none"] = "mean",
) -> float | NDArray[np.int64]:
    """Tree-induced error: the number of edges on the path between y_pred and y_true.

    In a DAG: min over c in CA(a, b) of sp(c→a) + sp(c→b), shortest directed paths.  The
    mean and sum are the table's ``tree_induced_error_{mean,sum}`` rows.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).
    reduce : {"mean", "sum", "none"}, default "mean"
        Reduce over samples, or return the per-sample values.

    Returns
    -------
    float or ndarray of int64, shape (n,)

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.

    References
    ----------
    Dekel, Keshet & Singer (2004), "Large margin hierarchical classification", ICML.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> tree_induced_error(["a1", "a1", "a2", "b1"], ["a1", "a2", "b1", "b1"], tax)
    1.5
    >>> tree_induced_error(["a1", "a2"], ["a2", "b1"], tax, reduce="none")
    array([2, 4])
    """
    tie = components(y_true, y_pred, taxonomy).tie
    if reduce == "none":
        return tie
    key = "tree_induced_error_mean" if reduce == "mean" else "tree_induced_error_sum"
    return value_of(key, {"tie": tie.sum(), "one": tie.size})


def avg_hierarchical_distance_at_k(
    y_true: ArrayLike,
    scores: ArrayLike,
    score_labels: ArrayLike,
    taxonomy: Taxonomy,
    k: int,
) -> float:
    """Mean over samples of the mean LCA height between y_true and each of its top-k classes.

    The table's ``avg_hierarchical_distance_at_<k>`` row: ``(1/n) Σ_i (1/k) Σ_{j ≤ k}
    d(y_true_i, c_ij)`` with ``c_ij`` the j-th best column's label (ties: the later column
    first, as :func:`taxovit.metrics.ranking.top_k_columns`).

    Parameters
    ----------
    y_true : array-like of str or int, shape (n,)
        True labels (node names or ids).
    scores : array-like of float, shape (n, C)
        Scores, one column per label of ``score_labels``.
    score_labels : array-like of str or int, shape (C,)
        The node of each score column.
    taxonomy : Taxonomy
        The taxonomy.
    k : int
        The cut-off, capped at ``C``.

    Returns
    -------
    float

    Raises
    ------
    ArgumentError
        A label that is not a node.

    References
    ----------
    Bertinetto et al. (2020), "Making Better Mistakes", CVPR ("average hierarchical
    distance@k").

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> s = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    >>> avg_hierarchical_distance_at_k(["a1", "a2"], s, ["a1", "a2", "b1"], tax, 2)
    0.75
    """
    d = hierarchical_distance_at_k(y_true, scores, score_labels, taxonomy, k)
    return value_of(f"avg_hierarchical_distance_at_{k}", {f"hdist/{k}": d.sum(), "one": d.size})


def hierarchical_distance_at_k(
    y_true: ArrayLike,
    scores: ArrayLike,
    score_labels: ArrayLike,
    taxonomy: Taxonomy,
    k: int,
) -> NDArray[np.float64]:
    """Per-sample mean LCA height between y_true and each of its top-k classes.

    Parameters
    ----------
    y_true, scores, score_labels, taxonomy, k
        As :func:`avg_hierarchical_distance_at_k`.

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ArgumentError
        A label that is not a node.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> s = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    >>> hierarchical_distance_at_k(["a1", "a2"], s, ["a1", "a2", "b1"], tax, 2)
    array([0.5, 1. ])
    """
    t = label_ids(taxonomy, y_true, "y_true")
    cols = label_ids(taxonomy, score_labels, "score_labels")
    s = np.asarray(scores, dtype=np.float64)
    k = min(int(k), s.shape[1])
    top = cols[top_k_columns(s, k)]  # (n, k) node ids
    tt = np.repeat(t, k).reshape(top.shape)
    stats = taxonomy.index.pair_stats(tt, top)
    d = np.where(tt == top, 0, stats.lca_height)
    return d.mean(axis=1)
