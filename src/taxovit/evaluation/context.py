"""Per-sample quantities behind every metric, computed once over the compiled index.

Every scalar metric of the report is a weighted statistic of these arrays (unit weights for
the point estimate, draw counts for a bootstrap resample), so nothing here is recomputed
between resamples. Top-k hits and hierarchical distances@k come from the scores, or from
``ranked`` candidates (node ids, best first) when a file lists only K per sample: then
``top_k`` holds only the k <= K (those it can compute).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit._repeats import rows_with_repeat
from taxovit._side import side_thread
from taxovit.errors import ArgumentError
from taxovit.metrics import dense_codes
from taxovit.metrics.hierarchical import HierarchicalComponents, components_of_ids
from taxovit.metrics.per_rank import RankCodes, rank_codes_of_labels
from taxovit.metrics.ranking import top_k_columns
from taxovit.predictions.contract import CheckedRanked
from taxovit.taxonomy import Taxonomy

__all__ = ["SampleContext", "as_ranked", "build_context", "context_of_ids"]


@dataclass
class SampleContext:
    """The per-sample arrays of one evaluation (see the module docstring)."""

    comp: HierarchicalComponents
    inv_t: NDArray[np.int64]  # codes of y_true / y_pred into the union of labels
    inv_p: NDArray[np.int64]
    n_labels: int
    true_depth: NDArray[np.int64]
    depth_distance: NDArray[np.int64]  # 0 if equal, else D - depth(LCA)
    is_tree: bool
    ranks: dict[str, RankCodes]
    top_k: tuple[int, ...]
    hits: dict[int, NDArray[np.bool_]] = field(default_factory=dict)
    hdist: dict[int, NDArray[np.float64]] = field(default_factory=dict)  # mean LCA height
    hdist_depth: dict[int, NDArray[np.float64]] = field(default_factory=dict)  # mean D - depth
    true_col: NDArray[np.int64] | None = None
    scores: NDArray[np.float64] | None = None
    score_ids: NDArray[np.int64] | None = None
    column_ap: NDArray[np.float64] | None = None  # per score column, point estimate
    ranked: NDArray[np.int64] | None = None  # (n, K) node ids, best first, -1 padding
    statistics: Any = None  # the per-sample statistics of the point estimate, for resampling
    ranked_conf: NDArray[np.float64] | None = None  # the first candidate's probability (ECE)
    #: the optional questions' per-sample statistics, {question: {statistic: column}}
    questions: dict[str, dict[str, NDArray[np.float64]]] = field(default_factory=dict)

    @property
    def labels(self) -> NDArray[np.int64]:
        """The node id behind each code of ``inv_t``/``inv_p``."""
        out = np.empty(self.n_labels, dtype=np.int64)
        out[self.inv_t], out[self.inv_p] = self.comp.y_true, self.comp.y_pred
        return out


def build_context(
    comp: HierarchicalComponents,
    taxonomy: Taxonomy,
    scores: NDArray[np.float64] | None,
    score_ids: NDArray[np.int64] | None,
    top_k: Sequence[int],
    ranked: NDArray[np.int64] | None = None,
) -> SampleContext:
    """Code the labels, project them to every rank and (with scores) rank the columns, or
    (with ``ranked`` candidates, see :func:`as_ranked`) take their ranking."""
    return context_of_ids(
        comp.y_true, comp.y_pred, taxonomy, scores, score_ids, top_k, ranked, comp
    )


def context_of_ids(
    t: NDArray[np.int64],
    p: NDArray[np.int64],
    taxonomy: Taxonomy,
    scores: NDArray[np.float64] | None,
    score_ids: NDArray[np.int64] | None,
    top_k: Sequence[int],
    ranked: NDArray[np.int64] | None = None,
    comp: HierarchicalComponents | None = None,
) -> SampleContext:
    """:func:`build_context` of checked node ids (``comp``: their components, if known).
    The candidates' part (top-k hits, distances@k) is computed beside the components and the
    ranks, in a second thread for a large input (:func:`taxovit._side.side_thread`)."""
    cand = _Candidates(t, taxonomy.index.max_depth, tuple(sorted(set(int(k) for k in top_k))))
    with side_thread(t.size) as submit:
        if scores is not None and score_ids is not None and scores.shape[1] > 0:
            job = submit(_add_score_context, cand, taxonomy, scores, score_ids)
        elif ranked is not None:
            job = submit(_add_ranked_context, cand, taxonomy, ranked)
        else:
            job = None
        ctx = _label_context(
            components_of_ids(t, p, taxonomy) if comp is None else comp, taxonomy, cand.top_k
        )
        _add_rank_codes(ctx, taxonomy)
        if job is not None:
            job.result()
    for name in ("hits", "hdist", "hdist_depth", "true_col", "scores", "score_ids", "ranked"):
        setattr(ctx, name, getattr(cand, name))
    return ctx


@dataclass
class _Candidates:
    """What the scores or ranked candidates add to a :class:`SampleContext`: made from the
    truths ``t`` alone, so it is computed beside the rest."""

    t: NDArray[np.int64]
    max_depth: int
    top_k: tuple[int, ...]
    hits: dict[int, NDArray[np.bool_]] = field(default_factory=dict)
    hdist: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    hdist_depth: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    true_col: NDArray[np.int64] | None = None
    scores: NDArray[np.float64] | None = None
    score_ids: NDArray[np.int64] | None = None
    ranked: NDArray[np.int64] | None = None


def _label_context(
    comp: HierarchicalComponents, taxonomy: Taxonomy, top_k: tuple[int, ...]
) -> SampleContext:
    """The context of the true and predicted labels (no ranks, no candidates yet)."""
    t, p = comp.y_true, comp.y_pred
    inv = dense_codes(np.concatenate([t, p]), len(taxonomy.nodes))
    return SampleContext(
        comp=comp,
        inv_t=inv[: t.size],
        inv_p=inv[t.size :],
        n_labels=int(inv.max(initial=-1)) + 1,
        true_depth=taxonomy.index.depth[t],
        depth_distance=np.where(comp.correct, 0, comp.max_depth - comp.lca_depth),
        is_tree=taxonomy.is_tree,
        ranks={},
        top_k=top_k,
    )


def _add_rank_codes(ctx: SampleContext, taxonomy: Taxonomy) -> None:
    """Each sample's true and predicted label projected to every rank."""
    labels = ctx.labels
    is_truth = np.zeros(ctx.n_labels, dtype=bool)
    is_truth[ctx.inv_t] = True
    for r in taxonomy.rank_names:
        anc = taxonomy.index.ancestor_at_rank(labels, r)
        ctx.ranks[r] = rank_codes_of_labels(anc, ctx.inv_t, ctx.inv_p, is_truth)


def ranked_confidence(
    ranked: NDArray[np.int64], ranked_scores: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The first candidate's score (the confidence of the ECE) and whether each row's scores
    are probabilities (each listed one in [0, 1], summing to at most 1)."""
    rs = np.asarray(ranked_scores, dtype=np.float64)
    if rs.shape != ranked.shape:
        raise ArgumentError(f"ranked_scores has shape {rs.shape}, ranked {ranked.shape}")
    listed = np.where(ranked >= 0, rs, 0.0) if ranked.min(initial=0) < 0 else rs
    if not np.isfinite(listed).all():
        raise ArgumentError("ranked_scores must be finite")
    # short rows (K <= 16): the sums as K column additions and the range checked row by row
    # only when some value is out of it: ~4x faster than the axis-1 reductions at K = 5
    if 0 < listed.shape[1] <= 16:
        total = listed[:, 0].copy()
        for j in range(1, listed.shape[1]):
            total += listed[:, j]
    else:
        total = listed.sum(axis=1)
    probs = total <= 1 + 1e-6
    if listed.size and not (listed.min() >= 0 and listed.max() <= 1):
        probs &= ((listed >= 0) & (listed <= 1)).all(axis=1)
    return listed[:, 0], probs


def as_ranked(ranked: object, n: int, n_nodes: int) -> NDArray[np.int64]:
    """Check ``ranked`` candidates: an ``(n, K)`` integer array of node ids, best first, each
    row starting with a node, ``-1`` only as padding at its end, no node twice in a row."""
    r = np.asarray(ranked)
    if r.ndim != 2 or r.shape[0] != n or r.shape[1] == 0 or r.dtype.kind not in "iu":
        raise ArgumentError(
            f"ranked must be an integer array of shape (n_samples={n}, K >= 1) "
            f"holding node ids; got {r.dtype} of shape {r.shape}"
        )
    checked = isinstance(ranked, CheckedRanked)  # by its reader: only the range is left
    r = r.astype(np.int64, copy=False).view(np.ndarray)
    low = r.min() if r.size else 0
    if low < -1 or (r.size and r.max() >= n_nodes):
        raise ArgumentError(
            f"ranked holds values outside [-1, {n_nodes}); expected node ids and -1 padding"
        )
    if checked:
        return r
    pad = r < 0 if low < 0 else None
    if pad is not None and (pad[:, 0].any() or (pad[:, :-1] & ~pad[:, 1:]).any()):
        raise ArgumentError("ranked: every row must start with a node id; -1 only pads the end")
    if rows_with_repeat(r, pad=-1 if pad is not None else None).any():
        raise ArgumentError("ranked lists a node twice in one row; expected distinct candidates")
    return r


#: rows per block of the ranked context on a tree: the block's (K, rows) temporaries stay in
#: the CPU cache (benchmarks/RESULTS.md: 1 M x top-10 on a 10k-leaf tree, the whole context
#: 0.49 -> 0.23 s on a 2-core x86-64)
RANKED_BLOCK = 16_384


def _add_ranked_context(ctx: _Candidates, taxonomy: Taxonomy, ranked: NDArray[np.int64]) -> None:
    """Hits and mean distances (LCA height; D − depth(LCA)) of the first k candidates, for
    every k <= K (a row padded with -1 averages over the candidates it lists). Only the
    first max(k) columns are read; the truths broadcast against them. A candidate equal to
    the truth, and padding (taken as the truth), has the truth itself as LCA: the sums over
    all columns less those terms are the sums over the mistakes (integers: exact). Trees are
    done in blocks of :data:`RANKED_BLOCK` rows; a DAG in one (its pairs are deduplicated)."""
    ctx.ranked = ranked
    if not ctx.top_k:
        return
    n = ctx.t.size
    for k in ctx.top_k:  # zeros: a k above K is never filled (its keys are null), and its
        # sums must still be finite (a streamed state's bytes are checked) and equal
        ctx.hits[k] = np.zeros(n, dtype=bool)
        ctx.hdist[k] = np.zeros(n, dtype=np.float64)
        ctx.hdist_depth[k] = np.zeros(n, dtype=np.float64)
    step = RANKED_BLOCK if taxonomy.is_tree else max(n, 1)
    for lo in range(0, n, step):
        _ranked_block(ctx, taxonomy, ranked, slice(lo, min(n, lo + step)))


def _ranked_block(
    ctx: _Candidates, taxonomy: Taxonomy, ranked: NDArray[np.int64], rows: slice
) -> None:
    """:func:`_add_ranked_context` for the samples ``rows``."""
    ix, t, big_d = taxonomy.index, ctx.t[rows], ctx.max_depth
    cols = np.ascontiguousarray(ranked[rows, : max(ctx.top_k)].T)  # (k, b): a vector per rank
    padded = bool(cols.min(initial=0) < 0)
    nodes = np.where(cols >= 0, cols, t) if padded else cols
    height, depth = ix.lca_height_depth(t[None, :], nodes)
    t_height, t_depth = ix.height[t], ix.depth[t]  # the LCA of (t, t) is t, in a DAG too
    hit = np.zeros(t.size, dtype=bool)
    n_listed = np.zeros(t.size, dtype=np.int64)
    height_sum, depth_sum = np.zeros_like(n_listed), np.zeros_like(n_listed)
    for j in range(cols.shape[0]):  # running sums over the ranks (cheaper than cumsum)
        hit |= cols[j] == t  # candidates are distinct (as_ranked): the truth at most once
        if padded:
            n_listed += cols[j] >= 0
        height_sum += height[j]
        depth_sum += depth[j]
        if (k := j + 1) in ctx.top_k:
            listed = n_listed if padded else k
            equal = hit + (k - n_listed) if padded else hit  # the truth listed, or padding
            ctx.hits[k][rows] = hit
            ctx.hdist[k][rows] = (height_sum - equal * t_height) / listed
            ctx.hdist_depth[k][rows] = (k * big_d - depth_sum - equal * (big_d - t_depth)) / listed


def _add_score_context(
    ctx: _Candidates,
    taxonomy: Taxonomy,
    scores: NDArray[np.float64],
    score_ids: NDArray[np.int64],
) -> None:
    t = ctx.t
    c = scores.shape[1]
    col_of = np.full(len(taxonomy.nodes), -1, dtype=np.int64)
    col_of[score_ids] = np.arange(c)
    ctx.true_col = col_of[t]
    ctx.scores, ctx.score_ids = scores, score_ids
    kmax = min(max(ctx.top_k), c)
    top = top_k_columns(scores, kmax)  # best first, so a prefix is the top-k
    tnodes = score_ids[top]
    hit_cols = top == ctx.true_col[:, None]
    stats = taxonomy.index.pair_stats(np.broadcast_to(t[:, None], tnodes.shape), tnodes)
    equal = tnodes == t[:, None]
    d_height = np.where(equal, 0, stats.lca_height)
    d_depth = np.where(equal, 0, ctx.max_depth - stats.lca_depth)
    for k in ctx.top_k:
        kk = min(k, c)
        ctx.hits[k] = hit_cols[:, :kk].any(axis=1)
        ctx.hdist[k] = d_height[:, :kk].mean(axis=1)
        ctx.hdist_depth[k] = d_depth[:, :kk].mean(axis=1)
