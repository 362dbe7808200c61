"""Calibration metrics against torchmetrics and scikit-learn; marginals over taxonomy nodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

import taxovit
from taxovit.decide import node_marginals, rank_marginals, to_probabilities
from taxovit.errors import ArgumentError
from taxovit.metrics.calibration import brier_score, expected_calibration_error, log_loss

ROOT = Path(__file__).resolve().parents[2]


def _problem(seed: int, n: int, c: int):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * rng.uniform(0.5, 4)
    probs = to_probabilities(logits, "logits")
    y = np.array([rng.choice(c, p=row) for row in probs])
    return probs, y


@given(st.integers(0, 10_000), st.integers(1, 200), st.integers(2, 12))
@settings(max_examples=40, deadline=None)
def test_ece_equals_torchmetrics(seed, n, c) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchmetrics")
    from torchmetrics.functional.classification import multiclass_calibration_error

    probs, y = _problem(seed, n, c)
    ours = expected_calibration_error(probs, y, n_bins=15)
    theirs = multiclass_calibration_error(
        torch.from_numpy(probs), torch.from_numpy(y), num_classes=c, n_bins=15, norm="l1"
    )
    assert ours == pytest.approx(float(theirs), abs=1e-6)  # torchmetrics bins in float32


@given(st.integers(0, 10_000), st.integers(1, 200), st.integers(2, 12))
@settings(max_examples=40, deadline=None)
def test_brier_and_log_loss_equal_sklearn(seed, n, c) -> None:
    probs, y = _problem(seed, n, c)
    labels = list(range(c))
    sk = brier_score_loss(y, probs, labels=labels, scale_by_half=False)  # 2 classes: no halving
    assert brier_score(probs, y) == pytest.approx(sk)
    assert log_loss(probs, y) == pytest.approx(sk_log_loss(y, probs, labels=labels))


def test_adaptive_ece_and_edge_cases() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    # two equal-mass bins: {0.6, 0.7} all right (conf 0.65), {0.8, 0.9} one right (conf 0.85)
    assert expected_calibration_error(probs, y, n_bins=2, binning="adaptive") == pytest.approx(
        0.5 * abs(1 - 0.65) + 0.5 * abs(0.5 - 0.85)
    )
    perfect = np.eye(3)
    assert expected_calibration_error(perfect, [0, 1, 2]) == 0.0
    assert brier_score(perfect, [0, 1, 2]) == 0.0 and log_loss(perfect, [0, 1, 2]) == 0.0
    assert log_loss(perfect, [-1, 1, 2]) == pytest.approx(-np.log(1e-15) / 3)
    with pytest.raises(ArgumentError, match="negative"):
        to_probabilities([[0.5, -0.1]])
    with pytest.raises(ArgumentError, match="summing to 0"):
        to_probabilities([[0.0, 0.0]])
    assert to_probabilities([[2.0, 2.0]]).tolist() == [[0.5, 0.5]]


def test_marginals_on_the_birds_tree() -> None:
    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "birds.json")
    leaves = np.asarray(tax.ids(tax.leaves))
    probs, _ = _problem(3, 50, leaves.size)
    for rank in tax.rank_names:
        m = rank_marginals(probs, leaves, tax, rank)
        assert np.allclose(m.probs.sum(axis=1), 1.0)  # every leaf reaches every rank
        slow = node_marginals(probs, leaves, tax, m.nodes)
        assert np.allclose(m.probs, slow)
    species = rank_marginals(probs, leaves, tax, "species")
    order = np.argsort(leaves)
    assert np.allclose(species.probs, probs[:, order])


def test_report_calibration_and_rank_marginals() -> None:
    import pandas as pd

    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "birds.json")
    df = pd.read_csv(ROOT / "examples" / "birds_preds.csv")
    scores = df.filter(like="score_")
    labels = [c[len("score_") :] for c in scores.columns]
    rep = taxovit.evaluate(df.y_true, df.y_pred, tax, scores.set_axis(labels, axis=1))
    probs = scores.to_numpy() / scores.to_numpy().sum(1, keepdims=True)
    col = {n: i for i, n in enumerate(labels)}
    y = np.array([col[t] for t in df.y_true])
    m = rep.metrics
    assert m["ece"] == pytest.approx(expected_calibration_error(probs, y))
    assert m["ece_adaptive"] == pytest.approx(
        expected_calibration_error(probs, y, binning="adaptive")
    )
    assert m["brier"] == pytest.approx(brier_score(probs, y)) and m["nll"] == pytest.approx(
        log_loss(probs, y)
    )
    # per rank: the family whose summed probability is largest, against the true family
    fam = tax.index.ancestor_at_rank(tax.ids(labels), "family")
    true_fam = tax.index.ancestor_at_rank(tax.ids(df.y_true.tolist()), "family")
    nodes = np.unique(fam)
    marg = np.stack([probs[:, fam == f].sum(1) for f in nodes], axis=1)
    assert rep.per_rank["family"]["top1_accuracy"] == pytest.approx(
        np.mean(nodes[marg.argmax(1)] == true_fam)
    )
    assert sum(rep.reliability["count"]) == len(df)


def test_score_kinds_and_non_probabilities() -> None:
    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "fashion_mnist.json")
    leaves = tax.leaves
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, len(leaves)))
    t = rng.choice(leaves, 50)
    as_logits = taxovit.evaluate(t, t, tax, logits, score_labels=leaves, score_kind="logits")
    probs = to_probabilities(logits, "logits")
    as_probs = taxovit.evaluate(t, t, tax, probs, score_labels=leaves)
    assert as_logits.metrics["nll"] == pytest.approx(as_probs.metrics["nll"])
    bad = taxovit.evaluate(t, t, tax, logits, score_labels=leaves)  # negative "probabilities"
    assert bad.metrics["ece"] is None and "not probabilities" in bad.notes["ece"]
    assert bad.metrics["map_macro"] is not None  # the ranking metrics stay
    boot = taxovit.evaluate(t, t, tax, probs, score_labels=leaves, bootstrap=20)
    lo, hi = boot.intervals["ece"]
    assert lo <= boot.metrics["ece"] <= hi or lo == hi


# ----------------------------------------------------------------------------- exactness (issue 23)
def _coarse_tree():
    return taxovit.Taxonomy.from_edges(
        [("root", "g"), ("g", "a"), ("g", "b"), ("root", "c")],
        ranks={"g": "genus", "c": "genus", "a": "species", "b": "species"},
    )


def test_brier_counts_a_truth_without_a_score_column() -> None:
    # root -> g -> {a, b}, root -> c; columns a, b, c; y_true = g (no column): its (0 - 1)^2
    assert brier_score(np.array([[1.0, 0.0, 0.0]]), [-1]) == 2.0
    assert brier_score(np.array([[0.5, 0.5, 0.0]]), [-1]) == 1.5
    tax = _coarse_tree()
    rep = taxovit.evaluate(
        ["g", "g"],
        ["a", "a"],
        tax,
        np.array([[1.0, 0, 0], [0.5, 0.5, 0]]),
        score_labels=["a", "b", "c"],
    )
    assert rep.metrics["brier"] == pytest.approx(1.75)
    # per rank: the genus marginals are (g: 1, c: 0) and (g: 1, c: 0): right, brier 0
    assert rep.per_rank["genus"]["brier"] == pytest.approx(0.0)
    # a species truth no score class reaches (columns a, c only): b's (0 - 1)^2 counts
    rep = taxovit.evaluate(["b"], ["a"], tax, np.array([[0.5, 0.5]]), score_labels=["a", "c"])
    assert rep.metrics["brier"] == pytest.approx(0.25 + 0.25 + 1.0)
    assert rep.per_rank["species"]["brier"] == pytest.approx(0.25 + 1.0)  # marginals (a: .5)


def test_adaptive_ece_does_not_depend_on_the_row_order_with_ties() -> None:
    rng = np.random.default_rng(0)
    conf = np.r_[np.full(20, 0.7), rng.uniform(0.4, 1.0, 40), np.full(15, 1.0)]
    probs = np.column_stack([conf, 1 - conf])
    y = (rng.random(conf.size) > conf).astype(int)  # right with probability conf
    values = []
    for _ in range(20):
        order = rng.permutation(conf.size)
        values.append(expected_calibration_error(probs[order], y[order], binning="adaptive"))
    assert max(values) - min(values) < 1e-12  # the same bins: only summation order differs
    # tied confidences are never split: one bin holds all of a tie group
    from taxovit.metrics.calibration import adaptive_bins

    bins = adaptive_bins(conf)
    for c in (0.7, 1.0):
        assert np.unique(bins[conf == c]).size == 1


def test_per_rank_ties_are_broken_by_node_id() -> None:
    tax = _coarse_tree()  # genus marginals g = a + b, c: equal 0.5 / 0.5 on the first row
    ids = tax.ids(["g", "c"])
    high = "g" if ids[0] > ids[1] else "c"
    low = "c" if high == "g" else "g"
    probs = np.array([[0.25, 0.25, 0.5]])
    rep = taxovit.evaluate([high], ["a"], tax, probs, score_labels=["a", "b", "c"], top_k=(1,))
    assert rep.per_rank["genus"]["top1_accuracy"] == 1.0  # the higher node id ranks first
    rep = taxovit.evaluate([low], ["a"], tax, probs, score_labels=["a", "b", "c"], top_k=(1,))
    assert rep.per_rank["genus"]["top1_accuracy"] == 0.0


def test_streaming_calibration_without_keeping_scores() -> None:
    probs, y = _problem(3, 300, 6)
    tax = taxovit.Taxonomy.from_edges([("root", f"c{i}") for i in range(6)])
    names = [f"c{i}" for i in range(6)]
    ev = taxovit.StreamingEvaluator(tax, score_labels=names)  # keep_scores=False
    for lo in range(0, 300, 70):
        ev.update(
            np.array(names)[y[lo : lo + 70]],
            np.array(names)[probs[lo : lo + 70].argmax(1)],
            probs[lo : lo + 70],
        )
    got = ev.compute().metrics
    assert got["ece"] == pytest.approx(expected_calibration_error(probs, y), rel=1e-12)
    assert got["brier"] == pytest.approx(brier_score(probs, y), rel=1e-12)
    assert got["nll"] == pytest.approx(log_loss(probs, y), rel=1e-12)
    assert got["ece_adaptive"] is None and got["map_macro"] is None  # need keep_scores=True


def test_ece_of_ranked_candidates_with_probabilities() -> None:
    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "birds.json")
    rng = np.random.default_rng(0)
    classes = tax.ids(sorted(tax.leaves)[:40])
    probs = rng.random((80, 40)) ** 4
    probs /= probs.sum(axis=1, keepdims=True)
    y = rng.choice(classes, 80)
    from taxovit.metrics import top_k_columns

    top = top_k_columns(probs, 3)
    ranked, rs = classes[top], np.take_along_axis(probs, top, axis=1)
    full = taxovit.evaluate(y, ranked[:, 0], tax, probs, score_labels=classes, bootstrap=40)
    rep = taxovit.evaluate(y, ranked[:, 0], tax, ranked=ranked, ranked_scores=rs, bootstrap=40)
    for key in ("ece", "ece_adaptive"):
        assert rep.metrics[key] == pytest.approx(full.metrics[key], rel=1e-12), key
        assert key not in rep.notes
    assert rep.intervals["ece"] == pytest.approx(full.intervals["ece"], rel=1e-12)
    assert rep.metrics["brier"] is None and "brier" in rep.notes  # needs every class
    bad = taxovit.evaluate(y, ranked[:, 0], tax, ranked=ranked, ranked_scores=rs * 3)
    assert bad.metrics["ece"] is None and "not probabilities" in bad.notes["ece"]
    with pytest.raises(taxovit.errors.ArgumentError, match="shape"):
        taxovit.evaluate(y, ranked[:, 0], tax, ranked=ranked, ranked_scores=rs[:, :2])


def test_ece_of_a_long_top_k_file_end_to_end(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from taxovit.cli import app
    from taxovit.metrics import top_k_columns

    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "birds.json")
    rng = np.random.default_rng(2)
    names = np.array(sorted(tax.leaves)[:30])
    probs = rng.random((50, 30)) ** 6
    probs /= probs.sum(axis=1, keepdims=True)
    truth = rng.choice(names, 50)
    top = top_k_columns(probs, 4)
    rows = ["id,label,score,y_true"]
    for i in range(50):
        rows += [
            f"s{i},{names[j]},{float(probs[i, j])!r},{truth[i]}" for j in top[i][::-1]
        ]  # any order
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = CliRunner().invoke(
        app, ["evaluate", str(path), "-t", str(ROOT / "taxonomies" / "birds.json"), "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)["metrics"]
    want = expected_calibration_error(probs, [list(names).index(x) for x in truth])
    assert got["ece"] == pytest.approx(want, rel=1e-12) and got["brier"] is None


@given(st.integers(0, 2**31), st.integers(1, 30), st.integers(1, 9))
@settings(max_examples=50, deadline=None)
def test_confidence_uses_the_top_k_tie_rule(seed, n, c) -> None:
    from taxovit.metrics import top_k_columns
    from taxovit.metrics.calibration import calibration_terms

    p = np.random.default_rng(seed).integers(0, 3, size=(n, c)).astype(float) + 1e-3  # ties
    p /= p.sum(axis=1, keepdims=True)
    top = top_k_columns(p, 1)[:, 0]
    terms = calibration_terms(p, top)
    assert terms.correct.all() and (terms.confidence == p[np.arange(n), top]).all()
