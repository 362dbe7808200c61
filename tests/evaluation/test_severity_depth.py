"""Severity as making-better-mistakes' reference code computes it: D − depth(LCA)."""

from __future__ import annotations

import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings

from taxovit import evaluate
from taxovit.metrics import top_k_columns

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from strategies import taxonomies  # noqa: E402
from test_evaluation import problems  # noqa: E402


def depth_distance(tax, a, b) -> int:
    """0 if equal, else D − max depth over the common ancestors (networkx, slowly)."""
    if a == b:
        return 0
    g = tax.graph
    common = (nx.ancestors(g, a) | {a}) & (nx.ancestors(g, b) | {b})
    depth = {
        n: max(len(p) - 1 for p in nx.all_simple_paths(g, tax.root, n)) if n != tax.root else 0
        for n in common
    }
    return int(tax.index.max_depth - max(depth.values()))


@given(problems(with_scores=True))
@settings(max_examples=40, deadline=None)
def test_depth_keys_equal_a_slow_computation(prob) -> None:
    tax, t, p, cols, scores = prob
    names = tax.nodes
    r = evaluate(t, p, tax, scores, score_labels=cols, top_k=(1, 2))
    d = np.array([depth_distance(tax, names[a], names[b]) for a, b in zip(t, p, strict=True)])
    wrong = t != p
    expected = d[wrong].mean() if wrong.any() else None
    assert r.metrics["mistake_severity_depth"] == pytest.approx(expected)
    top2 = cols[top_k_columns(scores, 2)]  # the ranking rule is tested against scikit-learn
    slow = np.mean(
        [
            np.mean([depth_distance(tax, names[a], names[b]) for b in row])
            for a, row in zip(t, top2, strict=True)
        ]
    )
    assert r.metrics["avg_hierarchical_distance_at_2_depth"] == pytest.approx(slow)


@given(taxonomies(dag=False, min_nodes=3, max_nodes=25))
@settings(max_examples=30, deadline=None)
def test_depth_keys_equal_lca_height_on_balanced_trees(tax) -> None:
    ix = tax.index
    leaves = np.asarray(tax.ids(tax.leaves))
    if len(set(ix.depth[leaves].tolist())) != 1:
        return  # only trees whose leaves all sit at depth D
    rng = np.random.default_rng(0)
    t, p = rng.choice(leaves, 30), rng.choice(leaves, 30)
    m = evaluate(t, p, tax).metrics
    assert m["mistake_severity_depth"] == m["mistake_severity"]
