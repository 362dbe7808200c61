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
        listed = draw(
            st.lists(st.integers(0, n_nodes - 1), min_size=1, max_size=k_max, unique=True)
        )
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


@given(ranked_case())
@settings(max_examples=60, deadline=None)
def test_a_readers_checked_candidates_give_the_same_report(case) -> None:
    """Candidates a reader checked (a read-only CheckedRanked) skip the cell checks, not the
    range check, and give the same report as the plain array."""
    import pytest

    from taxovit import evaluate
    from taxovit.errors import ArgumentError
    from taxovit.evaluation.context import as_ranked
    from taxovit.predictions.contract import CheckedRanked, checked_ranked

    tax, truth, ranked, ks = case
    checked = checked_ranked(ranked)
    assert isinstance(checked, CheckedRanked) and not checked.flags.writeable
    a = evaluate(truth, ranked[:, 0], tax, ranked=ranked, top_k=ks).to_dict()
    b = evaluate(truth, ranked[:, 0], tax, ranked=checked, top_k=ks).to_dict()
    assert a == b
    assert type(as_ranked(checked, len(truth), len(tax.nodes))) is np.ndarray
    with pytest.raises(ArgumentError, match="outside"):
        as_ranked(checked, len(truth), int(ranked.max()))  # node ids beyond a smaller taxonomy
    if ranked.shape[1] > 1 and (ranked[:, 1] >= 0).any():
        twice = ranked.copy()
        row = int(np.flatnonzero(twice[:, 1] >= 0)[0])
        twice[row, 1] = twice[row, 0]
        with pytest.raises(ArgumentError, match="twice"):
            as_ranked(twice, len(truth), len(tax.nodes))
