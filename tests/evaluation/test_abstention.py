"""``abstention=True`` / ``--abstention``: risk–coverage and back-off curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from test_evaluation import hand_taxonomy
from typer.testing import CliRunner

from taxovit import evaluate
from taxovit.cli import app
from taxovit.evaluation.abstention import TAUS, risk_coverage

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
LEAVES = ["a1", "a2", "b1", "b2"]


def test_risk_coverage_hand_example() -> None:
    # accepted by confidence: .9 (right), the tied .8s (one wrong) together, .6 (wrong)
    curve, aurc = risk_coverage(
        np.array([0.8, 0.9, 0.6, 0.8]), np.array([True, False, True, False])
    )
    assert curve == {"coverage": [0.25, 0.75, 1.0], "risk": [0.0, 1 / 3, 0.5]}
    assert aurc == pytest.approx((0 * 1 + 1 / 3 * 2 + 0.5 * 1) / 4)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_backoff_ends(data) -> None:
    n = data.draw(st.integers(1, 12))
    raw = data.draw(arrays(np.float64, (n, 4), elements=st.floats(0.01, 1.0)))
    probs = raw / raw.sum(axis=1, keepdims=True)
    t = data.draw(st.lists(st.sampled_from(LEAVES), min_size=n, max_size=n))
    p = [LEAVES[i] for i in probs.argmax(axis=1)]
    s = evaluate(t, p, hand_taxonomy(), probs, score_labels=LEAVES, abstention=True).sections[
        "abstention"
    ]
    b = s["backoff"]
    assert b["tau"][0] == 0.0 and b["tau"][-1] == 1.0 and len(b["tau"]) == len(TAUS)
    # tau = 0: a leaf for every sample; tau = 1: the root (no child holds all the mass)
    assert b["mean_depth"][0] == 2 and b["accuracy"][0] == b["exact_accuracy"][0]
    assert (b["mean_depth"][-1], b["accuracy"][-1], b["exact_accuracy"][-1]) == (0, 1, 0)
    assert all(x >= y for x, y in zip(b["mean_depth"], b["mean_depth"][1:], strict=False))
    assert 0 <= s["aurc"] <= 1 and 0 <= s["backoff_area"] <= 1


def test_no_scores_note() -> None:
    s = evaluate(["a1"], ["a2"], hand_taxonomy(), abstention=True).sections["abstention"]
    assert "no probabilities" in s["note"]


def test_cli_abstention(tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--abstention",
            "--plot",
            str(plots),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)["abstention"]
    assert s["risk_coverage"]["coverage"][-1] == 1.0 and len(s["backoff"]["tau"]) == 21
    assert (plots / "risk_coverage.png").read_bytes()[:4] == b"\x89PNG"
    assert (plots / "backoff.png").stat().st_size > 1000
