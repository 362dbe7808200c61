"""Hierarchical metrics: pure, vectorised functions over labels (node names or ids) and a
taxonomy, from its compiled index (:mod:`taxovit.taxonomy.index`). Definitions and key names
follow ``docs/metrics.md``; every 0/0 is 0 (scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.errors import ArgumentError
from taxovit.metrics._common import SampleWeights, label_ids
from taxovit.metrics.table import value_of
from taxovit.metrics.table_rows import hierarchical_columns
from taxovit.taxonomy import Taxonomy

__all__ = [
    "HierarchicalComponents",
    "components",
    "components_of_ids",
    "hierarchical_precision_recall_f1",
    "hprf_from_components",
    "label_pair",
    "per_level_accuracy",
    "per_level_from_components",
]


@dataclass(frozen=True)
class HierarchicalComponents:
    """Per-sample quantities from which every hierarchical metric is a (weighted) mean.

    Attributes
    ----------
    y_true, y_pred : ndarray of int64, shape (n,)
        The node ids.
    correct : ndarray of bool, shape (n,)
        ``y_true == y_pred``.
    inter, size_true, size_pred : ndarray of int64, shape (n,)
        ``|hset(t) ∩ hset(p)|``, ``|hset(t)|``, ``|hset(p)|`` (ancestor sets, root excluded).
    d : ndarray of int64, shape (n,)
        The LCA height (0 when equal).
    lca_depth : ndarray of int64, shape (n,)
        The maximum depth over the common ancestors.
    tie : ndarray of int64, shape (n,)
        The tree-induced error.
    max_depth : int
        The taxonomy's maximum depth.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2")])
    >>> c = components(["a1", "a1"], ["a1", "B"], tax)
    >>> c.correct, c.size_true, c.size_pred, c.d
    (array([ True, False]), array([2, 2]), array([2, 1]), array([0, 2]))
    """

    y_true: NDArray[np.int64]
    y_pred: NDArray[np.int64]
    correct: NDArray[np.bool_]
    inter: NDArray[np.int64]
    size_true: NDArray[np.int64]
    size_pred: NDArray[np.int64]
    d: NDArray[np.int64]
    lca_depth: NDArray[np.int64]
    tie: NDArray[np.int64]
    max_depth: int


def components(y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy) -> HierarchicalComponents:
    """All per-sample hierarchical quantities in one pass over the taxonomy's index.

    Every hierarchical metric is a (weighted) mean of these columns (the metric table's
    rows name which); the evaluation computes them once and shares them.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).

    Returns
    -------
    HierarchicalComponents
        Node ids, ``correct``, the set sizes, LCA height and depth and the tree-induced
        error of every sample.

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> c = components(["a1", "a1", "a2"], ["a1", "a2", "b1"], tax)
    >>> c.inter, c.d, c.tie
    (array([2, 1, 0]), array([0, 1, 2]), array([0, 2, 4]))
    """
    return components_of_ids(*label_pair(y_true, y_pred, taxonomy), taxonomy)


def label_pair(
    y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The node ids of ``y_true`` and ``y_pred``.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).

    Returns
    -------
    t, p : ndarray of int64, shape (n,)
        The node ids.

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> label_pair(["a1", "B"], ["a2", "a1"], tax)
    (array([3, 2]), array([4, 3]))
    """
    t = label_ids(taxonomy, y_true, "y_true")
    p = label_ids(taxonomy, y_pred, "y_pred")
    if t.shape != p.shape:
        raise ArgumentError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if t.size == 0:
        raise ArgumentError("no samples: y_true and y_pred are empty")
    return t, p


def components_of_ids(
    t: NDArray[np.int64], p: NDArray[np.int64], taxonomy: Taxonomy
) -> HierarchicalComponents:
    """:func:`components` of node ids (from :func:`label_pair`).

    Parameters
    ----------
    t, p : ndarray of int64, shape (n,)
        True and predicted node ids, checked.
    taxonomy : Taxonomy
        The taxonomy the ids index.

    Returns
    -------
    HierarchicalComponents
        As :func:`components`.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> components_of_ids(*label_pair(["a1"], ["b1"], tax), tax).lca_depth
    array([0])
    """
    ix = taxonomy.index
    stats = ix.pair_stats(t, p)
    correct = t == p
    return HierarchicalComponents(
        y_true=t,
        y_pred=p,
        correct=correct,
        inter=stats.n_common - 1,  # CA always holds the root, which hset excludes
        size_true=ix.hset_size(t),
        size_pred=ix.hset_size(p),
        d=np.where(correct, 0, stats.lca_height),
        lca_depth=stats.lca_depth,
        tie=stats.distance,
        max_depth=ix.max_depth,
    )


def hierarchical_precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    average: Literal["micro", "macro"] = "micro",
) -> tuple[float, float, float]:
    """Hierarchical precision, recall and F1 over ancestor sets.

    With Y = hset(y_true), Ŷ = hset(y_pred) (the node and all its ancestors over every path,
    root excluded): ``micro``: hP = Σ|Ŷᵢ∩Yᵢ| / Σ|Ŷᵢ|, hR = Σ|Ŷᵢ∩Yᵢ| / Σ|Yᵢ|,
    hF = 2·hP·hR/(hP+hR); ``macro``: the mean over samples of the per-sample hPᵢ, hRᵢ, hFᵢ
    (a root prediction has Ŷ = ∅ and hPᵢ = 0).

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).
    average : {"micro", "macro"}, default "micro"
        Pool the set sizes (micro) or average the per-sample values (macro).

    Returns
    -------
    (float, float, float)
        hP, hR, hF: the metric table's ``hierarchical_{precision,recall,f1}_<average>``.

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.
    ValueError
        An unknown ``average``.

    References
    ----------
    Kiritchenko, Matwin, Nock & Famili (2006), "Learning and evaluation in the presence of
    class hierarchies: application to text categorization"; matches hiclass
    ``average="micro"``/``"macro"`` (which crashes on Ŷ = ∅, where we return 0).

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> hierarchical_precision_recall_f1(["a1", "a1", "a2"], ["a1", "a2", "b1"], tax)
    (0.5, 0.5, 0.5)
    """
    return hprf_from_components(components(y_true, y_pred, taxonomy), average)


def hprf_from_components(
    c: HierarchicalComponents, average: str, w: SampleWeights | None = None
) -> tuple[float, float, float]:
    """Hierarchical P/R/F1 (:func:`hierarchical_precision_recall_f1`) from the components.

    Parameters
    ----------
    c : HierarchicalComponents
        From :func:`components`.
    average : {"micro", "macro"}
        As :func:`hierarchical_precision_recall_f1`.
    w : SampleWeights, optional
        Sample weights (a bootstrap resample); default 1 each.

    Returns
    -------
    (float, float, float)
        hP, hR, hF.

    Raises
    ------
    ValueError
        An unknown ``average``.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> c = components(["a1", "a1", "a2"], ["a1", "a2", "b1"], tax)
    >>> hprf_from_components(c, "macro")
    (0.5, 0.5, 0.5)
    >>> hprf_from_components(c, "micro", SampleWeights(np.array([1.0, 0.0, 0.0]), 3))
    (1.0, 1.0, 1.0)
    """
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro', got {average!r}")
    w = SampleWeights(None, c.inter.size) if w is None else w
    sums = {name: w.dot(x) for name, x in hierarchical_columns(c).items()} | {"one": w.total}
    keys = [f"hierarchical_{m}_{average}" for m in ("precision", "recall", "f1")]
    return tuple(value_of(key, sums) for key in keys)  # type: ignore[return-value]


def per_level_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy
) -> dict[str, float] | None:
    """Accuracy of the depth-d ancestor for each depth d ≥ 1 (trees only).

    Over samples whose true label has depth ≥ d; a prediction shallower than d is wrong at
    that level.  The depth-d ancestors of t and p agree iff depth(LCA(t, p)) ≥ d.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels: node names or node ids of ``taxonomy`` (any node, so a
        coarse prediction or a coarse truth is allowed).
    taxonomy : Taxonomy
        The taxonomy (a tree or a DAG).

    Returns
    -------
    dict or None
        ``{"1": acc, "2": acc, ...}`` keyed by depth as in the JSON report; ``None`` for a
        DAG (a node may have several depths).

    Raises
    ------
    ArgumentError
        A label that is not a node, arrays of different lengths, or no samples.

    References
    ----------
    The Metrics page, key ``per_level_accuracy``.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> per_level_accuracy(["a1", "a1", "a2"], ["a1", "a2", "b1"], tax)
    {'1': 0.666..., '2': 0.333...}
    """
    if not taxonomy.is_tree:
        return None
    c = components(y_true, y_pred, taxonomy)
    return per_level_from_components(c, taxonomy.index.depth[c.y_true])


def per_level_from_components(
    c: HierarchicalComponents, true_depth: NDArray[np.int64], w: SampleWeights | None = None
) -> dict[str, float]:
    """:func:`per_level_accuracy` from the components and each true label's depth.

    Parameters
    ----------
    c : HierarchicalComponents
        From :func:`components`.
    true_depth : ndarray of int64, shape (n,)
        The depth of each true label.
    w : SampleWeights, optional
        Sample weights (a bootstrap resample); default 1 each.

    Returns
    -------
    dict
        ``{"1": acc, ...}`` for depths 1 .. the taxonomy's maximum depth.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> c = components(["a1", "B"], ["a2", "B"], tax)
    >>> per_level_from_components(c, tax.index.depth[c.y_true])
    {'1': 1.0, '2': 0.0}
    """
    w = SampleWeights(None, true_depth.size) if w is None else w
    out = {}
    for level in range(1, c.max_depth + 1):
        mask = true_depth >= level
        sums = {
            f"level_mask/{level}": w.dot(mask),
            f"level_hit/{level}": w.dot(mask & (c.lca_depth >= level)),
        }
        out[str(level)] = value_of(f"per_level_accuracy/{level}", sums)
    return out
