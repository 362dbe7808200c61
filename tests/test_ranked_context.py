"""Distance@k from ranked candidates (the running sums of evaluation.context) against a
direct per-candidate computation, on random trees and DAGs with padded rows, in blocks of
any size (trees are done block by block)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import taxonomies

from taxovit import Taxonomy
from taxovit.evaluation import context
from taxovit.evaluation.context import build_context
from taxovit.metrics.hierarchical import components


@st.composite
def ranked_case(draw) -> tuple[Taxonomy, np.ndarray, np.ndarray, tuple[int, ...]]:
    tax = draw(taxonomies(max_nodes=30))
    n_nodes = len(tax.nodes)
    n = draw(st.integers(1, 12))
    k_max = draw(st.integers(1, min(6, n_nodes)))
    truth = np.array(draw(st.lists(st.integers(0, n_nodes - 1), min_size=n, max_size=n)))
    rows = []
    for _ in range(n):
        listed = draw(st.lists(st.integers(0, n_nodes - 1), min_size=1, max_size=k_max, unique=True))
        rows.append(listed + [-1] * (k_max - len(listed)))
    ks = tuple(sorted(draw(st.sets(st.integers(1, k_max), min_size=1))))
    return tax, truth, np.array(rows, dtype=np.int64), ks


@given(ranked_case(), st.integers(1, 13))
@settings(max_examples=150, deadline=None)
def test_ranked_distances_match_direct(case, block: int) -> None:
    tax, truth, ranked, ks = case
    default, context.RANKED_BLOCK = context.RANKED_BLOCK, block
    try:
        ctx = build_context(components(truth, ranked[:, 0], tax), tax, None, None, ks, ranked)
    finally:
        context.RANKED_BLOCK = default
    big_d = tax.index.max_depth
    for k in ks:
        for i, t in enumerate(truth):
            listed = [c for c in ranked[i, :k] if c >= 0]
            wrong = [c for c in listed if c != t]
            stats = tax.index.pair_stats(np.full(len(wrong), t), np.array(wrong, dtype=np.int64))
            assert ctx.hits[k][i] == (t in listed)
            assert ctx.hdist[k][i] == stats.lca_height.sum() / len(listed)
            assert ctx.hdist_depth[k][i] == (big_d - stats.lca_depth).sum() / len(listed)
