"""Hierarchical metrics: pure, vectorised functions over labels (node names or ids) and a
taxonomy, from its compiled index (:mod:`taxovit.taxonomy.index`). Definitions and key names
follow ``docs/metrics.md``; every 0/0 is 0 (scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.errors import ArgumentError
from taxovit.metrics._common import SampleWeights, dense_codes, node_ids
from taxovit.metrics.flat import counts_from_codes, prf_from_counts, top_k_columns
from taxovit.metrics.table import value_of
from taxovit.metrics.table_rows import hierarchical_columns
from taxovit.taxonomy import Taxonomy

__all__ = [
    "HierarchicalComponents",
    "RankCodes",
    "avg_hierarchical_distance_at_k",
    "components",
    "components_of_ids",
    "hierarchical_distance_at_k",
    "hierarchical_precision_recall_f1",
    "hprf_from_components",
    "label_pair",
    "lca_depth",
    "lca_height",
    "mistake_severity",
    "per_level_accuracy",
    "per_level_from_components",
    "per_rank_metrics",
    "project_to_rank",
    "rank_codes",
    "rank_codes_of_labels",
    "rank_scores",
    "tree_induced_error",
]


def _ids(taxonomy: Taxonomy, y: ArrayLike, name: str = "labels") -> NDArray[np.int64]:
    return node_ids(taxonomy, np.asarray(y).ravel(), name)


@dataclass(frozen=True)
class HierarchicalComponents:
    """Per-sample quantities from which every hierarchical metric is a (weighted) mean.

    ``inter = |hset(t) ∩ hset(p)|``, ``size_true = |hset(t)|``, ``size_pred = |hset(p)|``;
    ``d`` the LCA height (0 when equal), ``lca_depth`` (max depth over CA), ``tie`` the
    tree-induced error; ``correct = (t == p)``.
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
    """Compute all per-sample hierarchical quantities in one pass over the index."""
    return components_of_ids(*label_pair(y_true, y_pred, taxonomy), taxonomy)


def label_pair(
    y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The node ids of ``y_true`` and ``y_pred``: names or ids, as many of each, at least one."""
    t = _ids(taxonomy, y_true, "y_true")
    p = _ids(taxonomy, y_pred, "y_pred")
    if t.shape != p.shape:
        raise ArgumentError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if t.size == 0:
        raise ArgumentError("no samples: y_true and y_pred are empty")
    return t, p


def components_of_ids(
    t: NDArray[np.int64], p: NDArray[np.int64], taxonomy: Taxonomy
) -> HierarchicalComponents:
    """:func:`components` of node ids (from :func:`label_pair`)."""
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
    """Hierarchical precision, recall and F1 over ancestor sets (Kiritchenko et al. 2005/2006).

    With Y = hset(y_true), Ŷ = hset(y_pred) (node and all its ancestors over every path, root
    excluded): ``micro``: hP = Σ|Ŷᵢ∩Yᵢ| / Σ|Ŷᵢ|, hR = Σ|Ŷᵢ∩Yᵢ| / Σ|Yᵢ|, hF = 2·hP·hR/(hP+hR);
    ``macro``: the mean over samples of the per-sample hPᵢ, hRᵢ, hFᵢ (a root prediction has
    Ŷ = ∅ and hPᵢ = 0). Matches hiclass ``average="micro"``/``"macro"`` (which crashes on
    Ŷ = ∅, where we return 0).

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
    """Hierarchical P/R/F1 (see :func:`hierarchical_precision_recall_f1`) from the
    per-sample set sizes in ``c``, weighted by ``w`` (default 1 each)."""
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro', got {average!r}")
    w = SampleWeights(None, c.inter.size) if w is None else w
    sums = {name: w.dot(x) for name, x in hierarchical_columns(c).items()} | {"one": w.total}
    keys = [f"hierarchical_{m}_{average}" for m in ("precision", "recall", "f1")]
    return tuple(value_of(key, sums) for key in keys)  # type: ignore[return-value]


def lca_height(y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy) -> NDArray[np.int64]:
    """Per-sample mistake height d (Bertinetto et al. 2020, "Making Better Mistakes").

    d = 0 if y_true == y_pred, else height(LCA(y_true, y_pred)); in a DAG the minimum height
    over the common ancestors; if one label is an ancestor of the other, that ancestor is the
    LCA. ``mean_lca_height`` is ``lca_height(...).mean()``.

    Examples
    --------
    >>> tax = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")])
    >>> lca_height(["a1", "a1", "a2"], ["a1", "a2", "b1"], tax)
    array([0, 1, 2])
    """
    return components(y_true, y_pred, taxonomy).d


def mistake_severity(y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy) -> float | None:
    """Mean of :func:`lca_height` over mistakes only; ``None`` when there are none.

    ``Σ_i d_i / #{i : y_pred_i ≠ y_true_i}`` with ``d_i`` the LCA height (0 when right), the
    metric table's ``mistake_severity`` row (Bertinetto et al. 2020, "Making Better
    Mistakes").

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges([("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"),
    ...                            ("B", "b1"), ("B", "b2")])
    >>> mistake_severity(["a1", "a1", "a2", "b1"], ["a1", "a2", "b1", "b1"], tax)
    1.5
    """
    c = components(y_true, y_pred, taxonomy)
    return value_of("mistake_severity", {"d": c.d.sum(), "wrong": np.count_nonzero(~c.correct)})


def lca_depth(y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy) -> NDArray[np.int64]:
    """Per-sample depth of the LCA (a similarity; in a DAG the max depth over CA).

    ``mean_lca_depth`` is its mean; ``mean_lca_depth_distance`` the mean of 0 if equal, else
    D − depth(LCA), D the taxonomy's maximum depth.
    """
    return components(y_true, y_pred, taxonomy).lca_depth


def tree_induced_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    reduce: Literal["mean", "sum", "none"] = "mean",
) -> float | NDArray[np.int64]:
    """Tree-induced error (Dekel, Keshet & Singer 2004): edges on the path y_pred — y_true.

    In a DAG: min over c in CA(a, b) of sp(c→a) + sp(c→b), shortest directed paths. The
    mean and sum are the table's ``tree_induced_error_{mean,sum}`` rows.

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> tax = Taxonomy.from_edges([("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"),
    ...                            ("B", "b1"), ("B", "b2")])
    >>> tree_induced_error(["a1", "a1", "a2", "b1"], ["a1", "a2", "b1", "b1"], tax)
    1.5
    """
    tie = components(y_true, y_pred, taxonomy).tie
    if reduce == "none":
        return tie
    key = "tree_induced_error_mean" if reduce == "mean" else "tree_induced_error_sum"
    return value_of(key, {"tie": tie.sum(), "one": tie.size})


def per_level_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy
) -> dict[str, float] | None:
    """Accuracy of the depth-d ancestor for each depth d ≥ 1 (trees only; ``None`` for a DAG).

    Over samples whose true label has depth ≥ d; a prediction shallower than d is wrong at
    that level. Keys are the depths as strings (``{"1": …, "2": …}``), as in the JSON report.
    The depth-d ancestors of t and p agree iff depth(LCA(t, p)) ≥ d (no projection needed).
    """
    if not taxonomy.is_tree:
        return None
    c = components(y_true, y_pred, taxonomy)
    return per_level_from_components(c, taxonomy.index.depth[c.y_true])


def per_level_from_components(
    c: HierarchicalComponents, true_depth: NDArray[np.int64], w: SampleWeights | None = None
) -> dict[str, float]:
    """:func:`per_level_accuracy` from the per-sample LCA depths in ``c`` and the depth of
    each true label, weighted by ``w`` (default 1 each)."""
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


def project_to_rank(y: ArrayLike, taxonomy: Taxonomy, rank: str) -> NDArray[np.int64]:
    """Ancestor-or-self of each label at ``rank`` (node ids; -1 where the label has none).

    In a DAG the nearest such ancestor wins, then the smallest id.
    """
    return taxonomy.index.ancestor_at_rank(_ids(taxonomy, y), rank)


def per_rank_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    ranks: list[str] | None = None,
) -> dict[str, dict[str, float | int]]:
    """Flat metrics after projecting true and predicted labels to each rank.

    For rank r, samples whose true label has no ancestor-or-self at r (it is coarser) are left
    out (``n_samples`` counts the rest); a prediction with no ancestor at r (too coarse) is a
    miss: a false negative for the true class and a false positive for no class, as
    scikit-learn does for a label outside ``labels=``. Reports ``accuracy`` and macro and
    weighted precision/recall/F1 over the classes of rank r seen in either array.
    """
    t = _ids(taxonomy, y_true)
    p = _ids(taxonomy, y_pred)
    out: dict[str, dict[str, float | int]] = {}
    for rank in ranks if ranks is not None else taxonomy.rank_names:
        tr = project_to_rank(t, taxonomy, rank)
        pr = project_to_rank(p, taxonomy, rank)
        out[rank] = rank_scores(rank_codes(tr, pr))
    return out


class RankCodes(NamedTuple):
    """Labels projected to one rank, coded once (they do not change between resamples).

    ``keep``: samples whose truth has an ancestor at the rank; over those, ``it``/``ip`` are
    dense codes of the projected truth/prediction, ``correct`` marks agreement and
    ``has_pred`` a prediction that reaches the rank; ``k`` is the number of codes.
    """

    keep: NDArray[np.bool_]
    it: NDArray[np.integer]
    ip: NDArray[np.integer]
    correct: NDArray[np.bool_]
    has_pred: NDArray[np.bool_]
    k: int


def rank_codes(tr: NDArray[np.int64], pr: NDArray[np.int64]) -> RankCodes:
    """Code projected ids (-1 = no ancestor at the rank) for :func:`rank_scores`."""
    keep = tr >= 0
    tr, pr = tr[keep], pr[keep]
    if tr.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RankCodes(keep, empty, empty, empty.astype(bool), empty.astype(bool), 0)
    # -1 shifts to code 0 of the dense coding; it is never a true label and never counted
    inv = dense_codes(np.concatenate([tr, pr]) + 1, int(max(tr.max(), pr.max())) + 2)
    return RankCodes(keep, inv[: tr.size], inv[tr.size :], tr == pr, pr >= 0, int(inv.max()) + 1)


def rank_codes_of_labels(
    anc: NDArray[np.int64],
    inv_t: NDArray[np.int64],
    inv_p: NDArray[np.int64],
    is_truth: NDArray[np.bool_],
) -> RankCodes:
    """``rank_codes(anc[inv_t], anc[inv_p])``, coded once per distinct label, not per sample.

    ``anc``: each distinct label's ancestor at the rank (-1: none); ``inv_t``/``inv_p``: the
    samples' label codes, every code used by one of them; ``is_truth``: the codes used by a
    truth. When every truth reaches the rank the dense codes of the labels' ancestors are the
    samples' codes (the same values, in the same order): two gathers per rank instead of a
    dense coding of 2n values; otherwise :func:`rank_codes` decides which samples count.
    """
    if not (anc[is_truth] >= 0).all():
        return rank_codes(anc[inv_t], anc[inv_p])
    # -1 (no ancestor) -> code 0, if present; int32 codes (fewer than a taxonomy's nodes):
    # half the memory of n samples x ranks
    code = dense_codes(anc + 1, int(anc.max()) + 2).astype(np.int32)
    it, ip = code[inv_t], code[inv_p]
    has_pred = ip > 0 if (anc < 0).any() else np.ones(it.size, dtype=bool)
    return RankCodes(np.ones(it.size, dtype=bool), it, ip, it == ip, has_pred, int(code.max()) + 1)


def rank_scores(codes: RankCodes, w: SampleWeights | None = None) -> dict[str, float | int]:
    """The per-rank numbers of :func:`per_rank_metrics` (weighted for a bootstrap resample)."""
    w = SampleWeights(None, codes.keep.size) if w is None else w
    w = w.take(codes.keep)
    res: dict[str, float | int] = {"n_samples": int(round(w.total))}
    if codes.k == 0:
        return res | {key: 0.0 for key in _RANK_KEYS}
    # a too-coarse prediction is nobody's false positive
    tp, fp, fn, support = counts_from_codes(codes.it, codes.ip, codes.k, w, codes.has_pred)
    res["accuracy"] = value_of(
        "per_rank/r/accuracy", {"rank_correct/r": w.dot(codes.correct), "rank_keep/r": w.total}
    )
    for avg in ("macro", "weighted"):
        pm, rm, fm = prf_from_counts(tp, fp, fn, support, avg)
        res[f"precision_{avg}"], res[f"recall_{avg}"], res[f"f1_{avg}"] = pm, rm, fm
    return res


_RANK_KEYS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
)


def avg_hierarchical_distance_at_k(
    y_true: ArrayLike,
    scores: ArrayLike,
    score_labels: ArrayLike,
    taxonomy: Taxonomy,
    k: int,
) -> float:
    """Mean over samples of the mean LCA height d between y_true and each top-k class.

    Bertinetto et al. 2020. The top-k columns by score use the same tie rule as
    :func:`taxovit.metrics.flat.top_k_accuracy`; k is capped at the number of columns.
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
    """Per-sample mean LCA height between y_true and each of its top-k classes."""
    t = _ids(taxonomy, y_true)
    cols = _ids(taxonomy, score_labels)
    s = np.asarray(scores, dtype=np.float64)
    k = min(int(k), s.shape[1])
    top = cols[top_k_columns(s, k)]  # (n, k) node ids
    tt = np.repeat(t, k).reshape(top.shape)
    stats = taxonomy.index.pair_stats(tt, top)
    d = np.where(tt == top, 0, stats.lca_height)
    return d.mean(axis=1)
