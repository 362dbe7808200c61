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

ROOT = Path(__file__).resolve().parents[1]


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
    theirs = multiclass_calibration_error(torch.from_numpy(probs), torch.from_numpy(y),
                                          num_classes=c, n_bins=15, norm="l1")  # fmt: skip
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
    labels = [c[len("score_"):] for c in scores.columns]
    rep = taxovit.evaluate(df.y_true, df.y_pred, tax, scores.set_axis(labels, axis=1))
    probs = scores.to_numpy() / scores.to_numpy().sum(1, keepdims=True)
    col = {n: i for i, n in enumerate(labels)}
    y = np.array([col[t] for t in df.y_true])
    m = rep.metrics
    assert m["ece"] == pytest.approx(expected_calibration_error(probs, y))
    assert m["ece_adaptive"] == pytest.approx(expected_calibration_error(probs, y, binning="adaptive"))
    assert m["brier"] == pytest.approx(brier_score(probs, y)) and m["nll"] == pytest.approx(log_loss(probs, y))
    # per rank: the family whose summed probability is largest, against the true family
    fam = tax.index.ancestor_at_rank(tax.ids(labels), "family")
    true_fam = tax.index.ancestor_at_rank(tax.ids(df.y_true.tolist()), "family")
    nodes = np.unique(fam)
    marg = np.stack([probs[:, fam == f].sum(1) for f in nodes], axis=1)
    assert rep.per_rank["family"]["top1_accuracy"] == pytest.approx(np.mean(nodes[marg.argmax(1)] == true_fam))
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
