"""Per-sample quantities behind every metric, computed once over the compiled index.

Every scalar metric of the report is a weighted statistic of these arrays (unit weights for
the point estimate, draw counts for a bootstrap resample), so nothing here is recomputed
between resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from taxovit.metrics import dense_codes
from taxovit.metrics.flat import top_k_columns
from taxovit.metrics.hierarchical import HierarchicalComponents, RankCodes, rank_codes
from taxovit.taxonomy import Taxonomy

__all__ = ["SampleContext", "build_context"]


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
    hdist: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    true_col: NDArray[np.int64] | None = None
    scores: NDArray[np.float64] | None = None
    score_ids: NDArray[np.int64] | None = None
    column_ap: NDArray[np.float64] | None = None  # per score column, point estimate

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
) -> SampleContext:
    """Code the labels, project them to every rank and (with scores) rank the columns."""
    t, p = comp.y_true, comp.y_pred
    inv = dense_codes(np.concatenate([t, p]), len(taxonomy.nodes))
    ix = taxonomy.index
    ctx = SampleContext(
        comp=comp,
        inv_t=inv[: t.size],
        inv_p=inv[t.size :],
        n_labels=int(inv.max(initial=-1)) + 1,
        true_depth=ix.depth[t],
        depth_distance=np.where(comp.correct, 0, comp.max_depth - comp.lca_depth),
        is_tree=taxonomy.is_tree,
        ranks={
            r: rank_codes(ix.ancestor_at_rank(t, r), ix.ancestor_at_rank(p, r))
            for r in taxonomy.rank_names
        },
        top_k=tuple(sorted(set(int(k) for k in top_k))),
    )
    if scores is not None and score_ids is not None and scores.shape[1] > 0:
        _add_score_context(ctx, taxonomy, scores, score_ids)
    return ctx


def _add_score_context(
    ctx: SampleContext,
    taxonomy: Taxonomy,
    scores: NDArray[np.float64],
    score_ids: NDArray[np.int64],
) -> None:
    t = ctx.comp.y_true
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
    d = np.where(tnodes == t[:, None], 0, stats.lca_height)
    for k in ctx.top_k:
        kk = min(k, c)
        ctx.hits[k] = hit_cols[:, :kk].any(axis=1)
        ctx.hdist[k] = d[:, :kk].mean(axis=1)
