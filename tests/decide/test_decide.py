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
    crm_scores,
    expected_costs,
    node_marginals,
)
from taxovit.errors import ArgumentError
from taxovit.metrics.ranking import top_k_columns

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from strategies import taxonomies  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@st.composite
def scored(draw, dag=None):
    tax = draw(taxonomies(dag=dag, min_nodes=2, max_nodes=30, ranked=not dag))
    n_nodes = len(tax.nodes)
    cols = draw(st.lists(st.integers(0, n_nodes - 1), min_size=1, max_size=n_nodes, unique=True))
    n = draw(st.integers(1, 12))
    raw = (
        np.array(
            draw(
                st.lists(
                    st.lists(st.integers(0, 4), min_size=len(cols), max_size=len(cols)),
                    min_size=n,
                    max_size=n,
                )
            ),
            dtype=float,
        )
        + 1e-3
    )
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
    ranking = top_k_columns(crm_scores(probs, cols, tax, cost), cols.size)
    for i in range(probs.shape[0]):
        # lower risk (9 decimals), then the later column: the whole ranking, and its first
        expected = sorted(range(cols.size), key=lambda k: (dense[i, k], -k))
        assert ranking[i].tolist() == expected
        assert pred[i] == expected[0]


@st.composite
def unnormalised(draw, dag=None):
    """Rows scaled by arbitrary positive factors (and some zero entries)."""
    tax, cols, probs = draw(scored(dag=dag))
    scale = np.array(
        draw(
            st.lists(
                st.sampled_from([1e-3, 0.5, 1.0, 3.0, 250.0]),
                min_size=probs.shape[0],
                max_size=probs.shape[0],
            )
        )
    )
    raw = np.where(probs > 2e-3, probs, 0.0) * scale[:, None]  # the 1e-3 floor becomes zeros
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    return tax, cols, raw


@given(unnormalised(), st.sampled_from(COSTS))
@settings(max_examples=80, deadline=None)
def test_unnormalised_rows_give_the_dense_result(prob, cost) -> None:
    """Trees and DAGs: rows are divided by their sums on every path, so the expected costs
    are the dense product of the normalised rows and the decision is the dense one."""
    tax, cols, raw = prob
    probs = raw / raw.sum(axis=1, keepdims=True)
    dense = probs @ cost_matrix(cols, tax, cost).T
    assert np.allclose(expected_costs(raw, cols, tax, cost), dense, atol=1e-9)
    rounded = np.round(dense, 9)
    expected = [max(range(cols.size), key=lambda k: (-rounded[i, k], k)) for i in range(len(raw))]
    assert crm_predict(raw, cols, tax, cost).tolist() == expected
    np.testing.assert_array_equal(crm_scores(raw, cols, tax, cost), -rounded + 0.0)


def test_bad_rows_are_refused_on_every_path() -> None:
    for name in ("fashion_mnist.json", "imagenet1k_tree.json"):
        tax = taxovit.load_taxonomy(ROOT / "taxonomies" / name)
        cols = np.asarray(tax.ids(tax.leaves))[:10]
        for bad, why in ((-0.1, "negative"), (np.nan, "finite"), (np.inf, "finite")):
            probs = np.full((3, cols.size), 0.1)
            probs[2, 4] = bad
            for fn in (crm_predict, expected_costs, crm_scores):
                with pytest.raises(ArgumentError, match=f"row 2 .*{why}"):
                    fn(probs, cols, tax)
        with pytest.raises(ArgumentError, match="row 0 .*summing to 0"):
            crm_predict(np.zeros((1, cols.size)), cols, tax)
        for shape in ((1, 9), (10,), ()):
            with pytest.raises(ArgumentError, match=r"shape \(samples, 10\)"):
                crm_predict(np.full(shape, 0.1), cols, tax)


def slow_walk(tax, probs_row, cols, threshold, min_rank=None):
    marg = node_marginals(probs_row[None, :], cols, tax, np.arange(len(tax.nodes)))[0]
    cur = tax.root
    while True:
        kids = sorted(tax.children(cur))
        if not kids:
            return cur
        top = max(marg[tax.id_of(c)] for c in kids)
        best = min(c for c in kids if marg[tax.id_of(c)] >= top - 1e-12)  # near-ties: by name
        below = (
            min_rank is not None
            and tax.index.ancestor_at_rank(np.array([tax.id_of(cur)]), min_rank)[0] >= 0
        )
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


def _metrics(runner, app, path, birds) -> dict:
    import json

    res = runner.invoke(app, ["evaluate", str(path), "-t", str(birds), "-f", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["metrics"]


def _dense_crm_distance_at(example, birds, k: int) -> float:
    """Karthik et al.'s distance@k of the CRM ranking, computed densely: rows normalised,
    risks p @ C.T over the full LCA-height matrix, candidates by rising risk (9 decimals,
    ties to the later column), the mean LCA height of the first k to the truth."""
    import pandas as pd

    tax = taxovit.load_taxonomy(birds)
    df = pd.read_csv(example)
    cols = [c for c in df.columns if c.startswith("score_")]
    ids = tax.ids([c.removeprefix("score_") for c in cols])
    probs = df[cols].to_numpy(float)
    probs = probs / probs.sum(axis=1, keepdims=True)
    cost = cost_matrix(ids, tax, "lca_height")
    risk = np.round(probs @ cost.T, 9)
    order = np.lexsort((-np.arange(len(cols))[None, :].repeat(len(df), 0), risk), axis=1)
    truth_col = np.searchsorted(ids, tax.ids(df["y_true"].tolist()), sorter=np.argsort(ids))
    truth_col = np.argsort(ids)[truth_col]
    return float(np.mean(cost[order[:, :k], truth_col[:, None]].mean(axis=1)))


def test_crm_decision_evaluates_as_its_ranking(tmp_path) -> None:
    """After decide --rule crm, evaluate ranks the candidates by expected cost: Karthik et
    al.'s distance@1 and @5 on the example (as a dense reference computes them; @1 = the
    decision's mean LCA height);
    top-1 is the decision itself; --keep-scores and the ancestor rule keep the model's
    ranking (the numbers of the original file)."""
    from typer.testing import CliRunner

    from taxovit.cli import app

    example = ROOT / "examples" / "birds_preds.csv"
    birds = ROOT / "taxonomies" / "birds.json"
    runner = CliRunner()
    paths = {}
    for name, extra in (
        ("crm", []),
        ("kept", ["--keep-scores"]),
        ("ancestor", ["--rule", "ancestor", "--threshold", "0.5"]),
    ):
        paths[name] = tmp_path / f"{name}.csv"
        res = runner.invoke(
            app, ["decide", str(example), "-t", str(birds), *extra, "-o", str(paths[name])]
        )
        assert res.exit_code == 0, res.output
    crm = _metrics(runner, app, paths["crm"], birds)
    for k in (1, 5):
        assert crm[f"avg_hierarchical_distance_at_{k}"] == pytest.approx(
            _dense_crm_distance_at(example, birds, k), abs=1e-9
        )
    assert crm["top1_accuracy"] == crm["accuracy"]
    assert crm["avg_hierarchical_distance_at_1"] == pytest.approx(crm["mean_lca_height"])
    assert crm["ece"] is None and crm["map_macro"] is not None
    original = _metrics(runner, app, example, birds)
    assert original["avg_hierarchical_distance_at_1"] != crm["avg_hierarchical_distance_at_1"]
    for name in ("kept", "ancestor"):
        got = _metrics(runner, app, paths[name], birds)
        for key in ("top1_accuracy", "top5_accuracy", "avg_hierarchical_distance_at_5", "ece"):
            assert got[key] == original[key]
    assert _metrics(runner, app, paths["kept"], birds)["accuracy"] == crm["accuracy"]


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
    assert after[["id", "y_true"]].equals(before[["id", "y_true"]])
    tax = taxovit.load_taxonomy(birds)
    cols = np.asarray(tax.ids([c[len("score_") :] for c in before.columns[3:]]))
    probs = before.iloc[:, 3:].to_numpy(float)  # rows sum to 1 +- 1e-3: decide normalises
    assert after["y_pred"].tolist() == tax.names(cols[crm_predict(probs, cols, tax)])
    # the score columns hold the decision's scores, exactly (9 decimals)
    np.testing.assert_array_equal(after.iloc[:, 3:].to_numpy(float), crm_scores(probs, cols, tax))
    kept = tmp_path / "kept.csv"
    res = runner.invoke(
        app, ["decide", str(example), "-t", str(birds), "--keep-scores", "-o", str(kept)]
    )
    assert res.exit_code == 0, res.output
    kept_df = pd.read_csv(kept, dtype=str, keep_default_na=False)
    assert kept_df.drop(columns="y_pred").equals(before.drop(columns="y_pred"))
    assert kept_df["y_pred"].equals(after["y_pred"])
    res = runner.invoke(app, ["evaluate", str(out), "-t", str(birds), "-f", "json"])
    assert res.exit_code == 0
    res = runner.invoke(app, ["decide", str(example), "-t", str(birds), "-o", str(example)])
    assert res.exit_code == 2 and "same file" in res.output
    bare = tmp_path / "bare.csv"
    before.iloc[:, :3].to_csv(bare, index=False)
    res = runner.invoke(app, ["decide", str(bare), "-t", str(birds), "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "needs scores" in res.output and not (tmp_path / "x.csv").exists()
    res = runner.invoke(
        app,
        [
            "decide",
            str(example),
            "-t",
            str(birds),
            "--rule",
            "ancestor",
            "--min-rank",
            "kingdom",
            "-o",
            str(tmp_path / "y.csv"),
        ],
    )
    assert res.exit_code == 2 and "--min-rank" in res.output
