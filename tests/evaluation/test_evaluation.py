"""Evaluation core: cross-checks against scikit-learn and slow set-based implementations,
and the properties the metrics must have, on hypothesis-generated trees, DAGs and predictions.
"""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_recall_fscore_support
from strategies import taxonomies

from taxovit import Taxonomy, evaluate
from taxovit.metrics import (
    hierarchical_precision_recall_f1,
    lca_height,
    mistake_severity,
    per_level_accuracy,
    per_rank_metrics,
    tree_induced_error,
)

SETTINGS = settings(max_examples=100, deadline=None)


def hand_taxonomy() -> Taxonomy:
    return Taxonomy.from_edges(
        [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")]
    )


@st.composite
def problems(draw, dag=None, min_nodes=2, max_nodes=20, with_scores=False, ranked=False):
    """A taxonomy plus predictions at any node (leaf, internal or root)."""
    tax = draw(taxonomies(dag=dag, min_nodes=min_nodes, max_nodes=max_nodes, ranked=ranked))
    n_nodes = len(tax.nodes)
    n = draw(st.integers(1, 25))
    node = st.integers(0, n_nodes - 1)
    t = np.array(draw(st.lists(node, min_size=n, max_size=n)))
    p = np.array(draw(st.lists(node, min_size=n, max_size=n)))
    if not with_scores:
        return tax, t, p
    cols = draw(st.lists(node, min_size=1, max_size=n_nodes, unique=True))
    scores = np.array(
        draw(
            st.lists(
                st.lists(st.integers(0, 3), min_size=len(cols), max_size=len(cols)),
                min_size=n,
                max_size=n,
            )
        ),
        dtype=float,
    )  # small integers: many ties
    return tax, t, p, np.array(cols), scores


def slow_hsets(tax: Taxonomy, name: str) -> set[str]:
    return (nx.ancestors(tax.graph, name) | {name}) - {tax.root}


# ------------------------------------------------------------------ the spec's hand example
def test_hand_example_hierarchical_values() -> None:
    m = evaluate(["a1", "a1", "a2", "b1"], ["a1", "a2", "b1", "b1"], hand_taxonomy()).metrics
    assert m["accuracy"] == 0.5
    for key in ("precision", "recall", "f1"):
        assert m[f"hierarchical_{key}_micro"] == pytest.approx(0.625)
        assert m[f"hierarchical_{key}_macro"] == pytest.approx(0.625)
    assert m["mean_lca_height"] == 0.75
    assert m["mistake_severity"] == 1.5
    assert m["tree_induced_error_mean"] == 1.5 and m["tree_induced_error_sum"] == 6
    assert m["per_level_accuracy"] == {"1": 0.75, "2": 0.5}
    assert m["mean_lca_depth"] == 1.25
    # Flat values follow the spec's definitions table and scikit-learn. (The hand example in
    # metrics.md lists recall_macro 1/3, f1_macro 0.375, f1_weighted 0.625 and
    # precision_weighted 1.0, which contradict both; scikit-learn gives the values below.)
    assert m["precision_macro"] == 0.5 and m["recall_macro"] == 0.5
    assert m["f1_macro"] == pytest.approx(4 / 9)
    assert m["precision_weighted"] == 0.625 and m["f1_weighted"] == pytest.approx(0.5)


# ------------------------------------------------------------------ cross-checks
@given(problems())
@SETTINGS
def test_flat_metrics_match_sklearn(prob) -> None:
    tax, t, p = prob
    m = evaluate(t, p, tax).metrics
    for avg in ("micro", "macro", "weighted"):
        want = precision_recall_fscore_support(t, p, average=avg, zero_division=0)[:3]
        got = (m[f"precision_{avg}"], m[f"recall_{avg}"], m[f"f1_{avg}"])
        np.testing.assert_allclose(got, want, atol=1e-12)
    # micro P = R = F1 = accuracy for single-label data
    assert m["precision_micro"] == pytest.approx(m["accuracy"])
    assert m["f1_micro"] == pytest.approx(m["accuracy"])


@given(problems())
@SETTINGS
def test_hierarchical_prf_match_set_implementation(prob) -> None:
    tax, t, p = prob
    tn, pn = tax.names(t), tax.names(p)
    inter = [len(slow_hsets(tax, a) & slow_hsets(tax, b)) for a, b in zip(tn, pn, strict=True)]
    st_ = [len(slow_hsets(tax, a)) for a in tn]
    sp = [len(slow_hsets(tax, b)) for b in pn]
    hp = sum(inter) / sum(sp) if sum(sp) else 0.0
    hr = sum(inter) / sum(st_) if sum(st_) else 0.0
    hf = 2 * hp * hr / (hp + hr) if hp + hr else 0.0
    np.testing.assert_allclose(
        hierarchical_precision_recall_f1(tn, pn, tax, "micro"), (hp, hr, hf), atol=1e-12
    )
    hpi = [i / s if s else 0.0 for i, s in zip(inter, sp, strict=True)]
    hri = [i / s if s else 0.0 for i, s in zip(inter, st_, strict=True)]
    hfi = [2 * a * b / (a + b) if a + b else 0.0 for a, b in zip(hpi, hri, strict=True)]
    np.testing.assert_allclose(
        hierarchical_precision_recall_f1(t, p, tax, "macro"),
        (np.mean(hpi), np.mean(hri), np.mean(hfi)),
        atol=1e-12,
    )


@given(problems(with_scores=True))
@SETTINGS
def test_score_metrics_match_sklearn(prob) -> None:
    tax, t, p, cols, scores = prob
    m = evaluate(t, p, tax, scores, score_labels=cols).metrics
    y = (t[:, None] == cols[None, :]).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on columns without positives
        per_col = [
            average_precision_score(y[:, j], scores[:, j]) if y[:, j].any() else 0.0
            for j in range(len(cols))
        ]
        if y.any():
            assert m["map_micro"] == pytest.approx(
                average_precision_score(y.ravel(), scores.ravel()), abs=1e-10
            )
    assert m["map_macro"] == pytest.approx(np.mean(per_col), abs=1e-10)
    assert m["map_weighted"] == pytest.approx(
        np.average(per_col, weights=y.sum(0)) if y.any() else 0.0, abs=1e-10
    )
    present = [ap for ap, pos in zip(per_col, y.sum(0), strict=True) if pos]
    assert m["map_macro_present"] == (pytest.approx(np.mean(present)) if present else None)
    # top-k: the true label among the k best columns (sklearn's tie rule)
    order = np.argsort(scores, axis=1, kind="mergesort")[:, ::-1]
    for k in (1, 5):
        kk = min(k, len(cols))
        hits = [(cols[order[i, :kk]] == t[i]).any() for i in range(len(t))]
        assert m[f"top{k}_accuracy"] == pytest.approx(np.mean(hits))
        d = [
            np.mean([lca_height([t[i]], [c], tax)[0] for c in cols[order[i, :kk]]])
            for i in range(len(t))
        ]
        assert m[f"avg_hierarchical_distance_at_{k}"] == pytest.approx(np.mean(d))


# ------------------------------------------------------------------ properties
@given(problems())
@SETTINGS
def test_bounds_and_identities(prob) -> None:
    tax, t, p = prob
    m = evaluate(t, p, tax).metrics
    for key, v in m.items():
        if key.startswith(("accuracy", "precision", "recall", "f1", "hierarchical")):
            assert 0.0 <= v <= 1.0 + 1e-12, key
    d = lca_height(t, p, tax)
    assert ((d == 0) == (t == p)).all()  # LCA height 0 iff equal
    assert (d <= tax.index.max_depth).all()
    sev = mistake_severity(t, p, tax)
    assert (sev is None) == bool((t == p).all())
    if sev is not None:
        assert sev >= 1


@given(problems())
@SETTINGS
def test_hf_is_one_exactly_when_equal(prob) -> None:
    tax, t, p = prob
    nonroot = (t != tax.id_of(tax.root)) & (p != tax.id_of(tax.root))
    for a, b in zip(t[nonroot], p[nonroot], strict=True):
        hf = hierarchical_precision_recall_f1([a], [b], tax, "macro")[2]
        assert (hf == 1.0) == (a == b)


@given(problems(), st.data())
@SETTINGS
def test_tie_symmetric_and_triangle_on_trees(prob, data) -> None:
    tax, t, p = prob
    np.testing.assert_array_equal(
        tree_induced_error(t, p, tax, "none"), tree_induced_error(p, t, tax, "none")
    )
    if tax.is_tree:
        c = np.array(
            data.draw(
                st.lists(st.integers(0, len(tax.nodes) - 1), min_size=t.size, max_size=t.size)
            )
        )
        tp_ = tree_induced_error(t, p, tax, "none")
        assert (
            tp_ <= tree_induced_error(t, c, tax, "none") + tree_induced_error(c, p, tax, "none")
        ).all()
        assert ((tp_ == 0) == (t == p)).all()


@given(problems(), st.data())
@SETTINGS
def test_invariant_to_renaming_and_row_order(prob, data) -> None:
    tax, t, p = prob
    base = evaluate(t, p, tax).to_frame().set_index("metric")["value"]
    perm = np.array(data.draw(st.permutations(range(t.size))))
    shuffled = evaluate(t[perm], p[perm], tax).to_frame().set_index("metric")["value"]
    np.testing.assert_allclose(base.to_numpy(float), shuffled.to_numpy(float), atol=1e-12)
    mapping = {n: f"renamed_{n}" for n in tax.nodes}
    renamed = Taxonomy(nx.relabel_nodes(tax.graph, mapping))
    r2 = evaluate([mapping[x] for x in tax.names(t)], [mapping[x] for x in tax.names(p)], renamed)
    np.testing.assert_allclose(
        base.to_numpy(float), r2.to_frame().set_index("metric")["value"].to_numpy(float), atol=1e-12
    )


@given(taxonomies(dag=False, min_nodes=2, max_nodes=30), st.data())
@SETTINGS
def test_per_level_accuracy_non_increasing_when_leaves_share_depth(tax, data) -> None:
    # make every leaf sit at the same depth by padding shallow leaves with chains
    g = tax.graph.copy()
    depth = dict(zip(tax.nodes, tax.index.depth, strict=True))
    deepest = max(depth[leaf] for leaf in tax.leaves)
    for leaf in tax.leaves:
        prev = leaf
        for i in range(deepest - depth[leaf]):
            g.add_edge(prev, f"{leaf}_pad{i}")
            prev = f"{leaf}_pad{i}"
    tax = Taxonomy(g)
    leaves = tax.ids(tax.leaves)
    n = data.draw(st.integers(1, 20))
    t = np.array(data.draw(st.lists(st.sampled_from(leaves.tolist()), min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(st.integers(0, len(tax.nodes) - 1), min_size=n, max_size=n)))
    levels = per_level_accuracy(t, p, tax)
    vals = [levels[str(d)] for d in range(1, tax.index.max_depth + 1)]
    assert all(a >= b for a, b in zip(vals, vals[1:], strict=False))


def test_per_level_is_null_for_dag() -> None:
    tax = Taxonomy.from_edges([("r", "a"), ("r", "b"), ("a", "c"), ("b", "c")])
    assert per_level_accuracy(["c"], ["a"], tax) is None
    assert evaluate(["c"], ["a"], tax).metrics["per_level_accuracy"] is None


# ------------------------------------------------------------------ per rank
def test_per_rank_projection_and_coarse_predictions() -> None:
    g = nx.DiGraph()
    for parent, child, rank in [
        ("Aves", "O1", "order"),
        ("O1", "F1", "family"),
        ("F1", "g1", "genus"),
        ("F1", "g2", "genus"),
        ("g1", "s1", "species"),
        ("g1", "s2", "species"),
        ("g2", "s3", "species"),
    ]:
        g.add_edge(parent, child)
        g.nodes[child]["rank"] = rank
    tax = Taxonomy(g)
    assert tax.rank_names == ["order", "family", "genus", "species"]
    # s1->s2 (same genus), s1->s3 (other genus), s3->F1 (coarse prediction), F1->F1 (coarse truth)
    res = per_rank_metrics(["s1", "s1", "s3", "F1"], ["s2", "s3", "F1", "F1"], tax)
    assert res["genus"]["n_samples"] == 3 and res["genus"]["accuracy"] == pytest.approx(1 / 3)
    assert res["family"]["n_samples"] == 4 and res["family"]["accuracy"] == 1.0
    assert res["species"]["n_samples"] == 3 and res["species"]["accuracy"] == 0.0
    # genus: g1 (TP 1, FP 0, FN 1), g2 (TP 0, FP 1, FN 1); the coarse "none" prediction is no FP
    assert res["genus"]["precision_macro"] == pytest.approx(0.5)
    assert res["genus"]["recall_macro"] == pytest.approx(0.25)


@given(taxonomies(ranked=True, min_nodes=2), st.data())
@settings(max_examples=60, deadline=None)
def test_rank_codes_of_labels_equal_the_per_sample_coding(tax, data) -> None:
    """Coding the distinct labels' ancestors once gives the per-sample codes of rank_codes,
    with truths and predictions above the rank (no ancestor there) among them."""
    from taxovit.metrics import dense_codes
    from taxovit.metrics.per_rank import rank_codes, rank_codes_of_labels

    n_nodes = len(tax.nodes)
    ids = st.integers(0, n_nodes - 1)
    t = np.array(data.draw(st.lists(ids, min_size=1, max_size=30)))
    p = np.array(data.draw(st.lists(ids, min_size=t.size, max_size=t.size)))
    inv = dense_codes(np.concatenate([t, p]), n_nodes)
    inv_t, inv_p = inv[: t.size], inv[t.size :]
    labels = np.empty(int(inv.max()) + 1, dtype=np.int64)
    labels[inv_t], labels[inv_p] = t, p
    is_truth = np.zeros(labels.size, dtype=bool)
    is_truth[inv_t] = True
    for rank in tax.rank_names:
        ix = tax.index
        want = rank_codes(ix.ancestor_at_rank(t, rank), ix.ancestor_at_rank(p, rank))
        got = rank_codes_of_labels(ix.ancestor_at_rank(labels, rank), inv_t, inv_p, is_truth)
        assert got.k == want.k, rank
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=rank)


# ------------------------------------------------------------------ bootstrap
@given(problems(with_scores=True, ranked=True), st.integers(0, 10_000))
@settings(max_examples=30, deadline=None)
def test_bootstrap_resample_equals_evaluating_the_resample(prob, seed) -> None:
    tax, t, p, cols, scores = prob
    one = evaluate(t, p, tax, scores, score_labels=cols, bootstrap=1, seed=seed)
    idx = np.random.default_rng(seed).integers(0, t.size, size=t.size)
    direct = (
        evaluate(t[idx], p[idx], tax, scores[idx], score_labels=cols)
        .to_frame()
        .set_index("metric")["value"]
    )
    for key, (lo, hi) in one.intervals.items():
        assert lo == pytest.approx(hi)
        assert lo == pytest.approx(direct[key], abs=1e-9), key


def test_bootstrap_seeded_and_ordered() -> None:
    tax = hand_taxonomy()
    rng = np.random.default_rng(1)
    leaves = np.array(tax.leaves)
    t, p = rng.choice(leaves, 200), rng.choice(leaves, 200)
    a = evaluate(t, p, tax, bootstrap=200, seed=3)
    b = evaluate(t, p, tax, bootstrap=200, seed=3)
    assert a.intervals == b.intervals
    lo, hi = a.intervals["accuracy"]
    assert lo < a.metrics["accuracy"] < hi
    assert hi - lo < 0.2


@given(problems(with_scores=True))
@SETTINGS
def test_per_class_table_matches_sklearn(prob) -> None:
    tax, t, p, cols, scores = prob
    table = evaluate(t, p, tax, scores, score_labels=cols).per_class
    want_labels = np.unique(np.concatenate([t, p]))
    pr, rc, f, sup = precision_recall_fscore_support(t, p, labels=want_labels, zero_division=0)
    got = table.loc[tax.names(want_labels)]
    np.testing.assert_allclose(got["precision"], pr, atol=1e-12)
    np.testing.assert_allclose(got["recall"], rc, atol=1e-12)
    np.testing.assert_allclose(got["f1"], f, atol=1e-12)
    np.testing.assert_array_equal(got["support"], sup)
    np.testing.assert_array_equal(got["predicted"], [np.sum(p == x) for x in want_labels])
    d = lca_height(t, p, tax)
    for x, row in zip(want_labels, got.itertuples(), strict=True):
        wrong = (t == x) & (t != p)
        assert row.n_mistakes == wrong.sum()
        if wrong.any():
            assert row.mistake_severity == pytest.approx(d[wrong].mean())
        else:
            assert np.isnan(row.mistake_severity)
        j = np.flatnonzero(cols == x)
        if j.size and (t == x).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert row.ap == pytest.approx(average_precision_score(t == x, scores[:, j[0]]))
        elif j.size:
            assert row.ap == 0.0
        else:
            assert np.isnan(row.ap)
