"""Decisions from scores: conditional risk minimisation and the deepest confident ancestor."""

from __future__ import annotations

import sys  # noqa: E402
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taxovit
from taxovit.decide import (
    COSTS,
    confident_ancestor,
    cost_matrix,
    crm_predict,
    expected_costs,
    node_marginals,
)
from taxovit.errors import ArgumentError

sys.path.insert(0, str(Path(__file__).parent))
from strategies import taxonomies  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@st.composite
def scored(draw, dag=None):
    tax = draw(taxonomies(dag=dag, min_nodes=2, max_nodes=30, ranked=not dag))
    n_nodes = len(tax.nodes)
    cols = draw(st.lists(st.integers(0, n_nodes - 1), min_size=1, max_size=n_nodes, unique=True))
    n = draw(st.integers(1, 12))
    raw = np.array(draw(st.lists(st.lists(st.integers(0, 4), min_size=len(cols), max_size=len(cols)),
                                 min_size=n, max_size=n)), dtype=float) + 1e-3  # fmt: skip
    return tax, np.array(cols), raw / raw.sum(axis=1, keepdims=True)


@given(scored(), st.sampled_from(COSTS))
@settings(max_examples=80, deadline=None)
def test_expected_costs_equal_the_dense_product(prob, cost) -> None:
    tax, cols, probs = prob
    dense = probs @ cost_matrix(cols, tax, cost).T
    assert np.allclose(expected_costs(probs, cols, tax, cost), dense, atol=1e-9)


@given(scored(), st.sampled_from(COSTS))
@settings(max_examples=60, deadline=None)
def test_crm_tie_rule(prob, cost) -> None:
    tax, cols, probs = prob
    dense = np.round(probs @ cost_matrix(cols, tax, cost).T, 9)
    pred = crm_predict(probs, cols, tax, cost)
    for i in range(probs.shape[0]):
        # lower risk, then higher probability, then the earlier column
        expected = min(range(cols.size), key=lambda k: (dense[i, k], -round(probs[i, k], 12), k))
        assert pred[i] == expected


def slow_walk(tax, probs_row, cols, threshold, min_rank=None):
    marg = node_marginals(probs_row[None, :], cols, tax, np.arange(len(tax.nodes)))[0]
    cur = tax.root
    while True:
        kids = sorted(tax.children(cur))
        if not kids:
            return cur
        top = max(marg[tax.id_of(c)] for c in kids)
        best = min(c for c in kids if marg[tax.id_of(c)] >= top - 1e-12)  # near-ties: by name
        below = min_rank is not None and tax.index.ancestor_at_rank(
            np.array([tax.id_of(cur)]), min_rank)[0] >= 0  # fmt: skip
        forced = min_rank is not None and not below
        if marg[tax.id_of(best)] >= threshold - 1e-12 or forced:
            cur = best
        else:
            return cur


@given(scored(dag=False), st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0]), st.booleans())
@settings(max_examples=80, deadline=None)
def test_confident_ancestor_equals_a_slow_walk(prob, threshold, use_rank) -> None:
    tax, cols, probs = prob
    min_rank = tax.rank_names[-1] if use_rank and tax.rank_names else None
    got = confident_ancestor(probs, cols, tax, threshold, min_rank)
    for i in range(probs.shape[0]):
        assert tax.nodes[got[i]] == slow_walk(tax, probs[i], cols, threshold, min_rank)


def test_crm_on_imagenet_prefers_a_safe_guess() -> None:
    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "imagenet1k_tree.json")
    leaves = np.asarray(tax.ids(tax.leaves))
    ix = tax.index
    parent = np.bincount(ix.parent[leaves]).argmax()  # the node with most leaf children
    sibs = np.flatnonzero(ix.parent[leaves] == parent)[:3]
    far = next(j for j in range(leaves.size) if ix.parent[leaves[j]] != parent)
    probs = np.full((1, leaves.size), 1e-6)
    probs[0, sibs], probs[0, far] = 0.25, 0.26  # the single most probable class is far away
    probs /= probs.sum()
    assert probs[0].argmax() == far
    assert crm_predict(probs, leaves, tax)[0] in sibs


def test_bad_arguments() -> None:
    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "fashion_mnist.json")
    cols = np.asarray(tax.ids(tax.leaves))
    probs = np.full((2, cols.size), 0.1)
    with pytest.raises(ArgumentError, match="cost"):
        expected_costs(probs, cols, tax, "hamming")
    with pytest.raises(ArgumentError, match="threshold"):
        confident_ancestor(probs, cols, tax, 1.5)
    with pytest.raises(ArgumentError, match="min_rank"):
        confident_ancestor(probs, cols, tax, 0.5, "phylum")
    assert tax.nodes[confident_ancestor(probs, cols, tax, 0.5, "class")[0]] in tax.leaves


def test_decide_cli_rewrites_only_y_pred(tmp_path) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from taxovit.cli import app

    example = ROOT / "examples" / "birds_preds.csv"
    birds = ROOT / "taxonomies" / "birds.json"
    runner = CliRunner()
    out = tmp_path / "crm.csv"
    res = runner.invoke(app, ["decide", str(example), "-t", str(birds), "-o", str(out)])
    assert res.exit_code == 0, res.output
    before = pd.read_csv(example, dtype=str, keep_default_na=False)
    after = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(after.columns) == list(before.columns)
    assert after.drop(columns="y_pred").equals(before.drop(columns="y_pred"))
    tax = taxovit.load_taxonomy(birds)
    cols = np.asarray(tax.ids([c[len("score_"):] for c in before.columns[3:]]))
    probs = before.iloc[:, 3:].to_numpy(float)
    probs /= probs.sum(1, keepdims=True)
    assert after["y_pred"].tolist() == tax.names(cols[crm_predict(probs, cols, tax)])
    res = runner.invoke(app, ["evaluate", str(out), "-t", str(birds), "-f", "json"])
    assert res.exit_code == 0
    res = runner.invoke(app, ["decide", str(example), "-t", str(birds), "-o", str(example)])
    assert res.exit_code == 2 and "same file" in res.output
    bare = tmp_path / "bare.csv"
    before.iloc[:, :3].to_csv(bare, index=False)
    res = runner.invoke(app, ["decide", str(bare), "-t", str(birds), "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "needs scores" in res.output and not (tmp_path / "x.csv").exists()
    res = runner.invoke(app, ["decide", str(example), "-t", str(birds), "--rule", "ancestor",
                              "--min-rank", "kingdom", "-o", str(tmp_path / "y.csv")])  # fmt: skip
    assert res.exit_code == 2 and "--min-rank" in res.output
