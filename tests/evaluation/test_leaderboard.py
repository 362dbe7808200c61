"""`taxovit leaderboard`: Holm's correction, the paired draws, ranking, tiers, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from taxovit import load_taxonomy
from taxovit.cli import app
from taxovit.evaluation.core import evaluate_point, resample_draws
from taxovit.evaluation.leaderboard import holm, leaderboard, paired_draws
from taxovit.predictions import label_map, read_any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
BIRDS = ROOT / "taxonomies" / "birds.json"


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_holm_by_hand() -> None:
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Four models on the birds samples: the example, a copy, a slightly and a much worse one."""
    tmp = tmp_path_factory.mktemp("runs")
    df = pd.read_csv(EXAMPLE, usecols=["id", "y_true", "y_pred"])
    rng = np.random.default_rng(0)
    out = []
    for k, rate in enumerate([0.0, 0.0, 0.03, 0.4]):
        d = df.copy()
        m = rng.random(len(d)) < rate
        d.loc[m, "y_pred"] = rng.permutation(d.y_true.to_numpy())[m]
        d = d.sample(frac=1.0, random_state=k)  # another row order: aligned by id
        out.append(tmp / f"model_{k}.csv")
        d.to_csv(out[-1], index=False)
    return out


def test_paired_draws_are_those_of_resample_draws(runs) -> None:
    tax = load_taxonomy(BIRDS)
    keys = [
        "accuracy",
        "f1_macro",
        "mistake_severity",
        "per_rank/genus/f1_macro",
        "per_rank/family/accuracy",
        "hierarchical_f1_micro",
    ]
    contexts = []
    for f in runs[2:]:
        p = read_any(f, label_map(tax, None))
        _, ctx, inputs = evaluate_point(p.y_true, p.y_pred, tax)
        contexts.append((ctx, inputs))
    got = paired_draws(contexts, keys, 120, seed=7)
    for (ctx, inputs), d in zip(contexts, got, strict=True):
        full = resample_draws(ctx, inputs, 120, 7)
        for k in keys:
            np.testing.assert_allclose(d[k], full[k], equal_nan=True)


def test_ranking_tests_and_tiers(runs) -> None:
    tax = load_taxonomy(BIRDS)
    preds = [(f.stem, read_any(f, label_map(tax, None))) for f in runs]
    lb = leaderboard(preds, tax, metrics=["accuracy", "mistake_severity"], bootstrap=400)
    by = {r["model"]: r for r in lb.rows}
    assert [r["model"] for r in lb.rows][-1] == "model_3"
    assert by["model_0"]["accuracy"] == by["model_1"]["accuracy"] == pytest.approx(0.78)
    best = lb.rows[0]["model"]
    twin = "model_1" if best == "model_0" else "model_0"
    assert by[twin]["p"] == 1.0 and by[twin]["tier"] == 1 and not by[twin]["significant"]
    assert by["model_3"]["significant"] and by["model_3"]["tier"] > 1
    assert by["model_3"]["diff"] == pytest.approx(by["model_3"]["accuracy"] - by[best]["accuracy"])
    lo, hi = by["model_3"]["accuracy/ci"]
    assert lo < by["model_3"]["accuracy"] < hi
    assert lb.test["correction"] == "Holm" and lb.test["comparisons"] == 3
    # lower is better: ranked by mistake severity, the worst model is still last
    lb2 = leaderboard(preds, tax, metrics=["mistake_severity"], bootstrap=0)
    sev = [r["mistake_severity"] for r in lb2.rows]
    assert sev == sorted(sev) and all(r["p"] is None for r in lb2.rows)


def test_cli_formats_and_saved_report(runs, tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    assert (
        _run("evaluate", runs[2], "-t", BIRDS, "-f", "json", "-o", saved, "-b", "50").exit_code == 0
    )
    res = _run("leaderboard", *runs, saved, "-t", BIRDS, "-b", "200")
    assert res.exit_code == 0, res.output
    assert "Holm" in res.output and "saved report" in res.output
    out = tmp_path / "board.json"
    res = _run("leaderboard", *runs, saved, "-t", BIRDS, "-b", "200", "-f", "json", "-o", out)
    assert res.exit_code == 0, res.output
    board = json.loads(out.read_text())
    assert len(board["rows"]) == 5 and "Holm" in board["explanation"]
    row = next(r for r in board["rows"] if r["model"] == "saved")
    assert row["tier"] is None and row["accuracy/ci"] is not None  # its own interval
    res = _run("leaderboard", *runs, "-t", BIRDS, "-b", "100", "-f", "csv", "-m", "top5_accuracy")
    assert res.exit_code == 2 and "top5_accuracy" in res.output  # no scores in these files
    res = _run(
        "leaderboard", *runs, "-t", BIRDS, "-b", "100", "-f", "csv", "-m", "per_rank/genus/accuracy"
    )
    frame = pd.read_csv(__import__("io").StringIO(res.stdout))
    assert res.exit_code == 0 and list(frame["model"])[-1] == "model_3"
    assert {"per_rank/genus/accuracy_ci_low", "p_holm", "tier"} <= set(frame.columns)
    res = _run("leaderboard", *runs, "-t", BIRDS, "-b", "0", "-f", "markdown")
    assert res.exit_code == 0 and res.stdout.startswith("| position | tier | model |")


def test_cli_bad_inputs(runs, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    pd.read_csv(runs[0]).iloc[:-1].to_csv(other, index=False)
    res = _run("leaderboard", runs[0], other, "-t", BIRDS)
    assert res.exit_code == 2 and "different ids" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = _run("leaderboard", runs[0], bad, "-t", BIRDS)
    assert res.exit_code == 2 and "bad.json" in res.output and "line 1" in res.output
    res = _run("leaderboard", runs[0], runs[1], "-t", BIRDS, "-m", "nope")
    assert res.exit_code == 2 and "'nope'" in res.output
    before = runs[1].read_bytes()
    res = _run("leaderboard", runs[0], runs[1], "-t", BIRDS, "-o", runs[1])
    assert res.exit_code == 2 and runs[1].read_bytes() == before
    res = _run("leaderboard", runs[0], "-t", BIRDS)
    assert res.exit_code == 2 and "at least 2" in res.output


def test_paired_draws_in_two_threads_are_the_same() -> None:
    """From 65,536 samples x models half the models go to a second thread: same draws."""
    tax = load_taxonomy(BIRDS)
    leaves = np.asarray(tax.ids(tax.leaves))
    rng = np.random.default_rng(3)
    t = rng.choice(leaves, 17_000)
    contexts = []
    for k in range(4):
        p = np.where(rng.random(t.size) < 0.3 + 0.1 * k, rng.choice(leaves, t.size), t)
        _, ctx, inputs = evaluate_point(t, p, tax)
        contexts.append((ctx, inputs))
    keys = ["accuracy", "f1_macro", "mistake_severity"]
    got = paired_draws(contexts, keys, 60, seed=1)
    for (ctx, inputs), d in zip(contexts, got, strict=True):
        full = resample_draws(ctx, inputs, 60, 1)
        for k in keys:
            np.testing.assert_allclose(d[k], full[k])


def test_saved_reports_only_and_their_sample_counts(runs, tmp_path: Path) -> None:
    reports = []
    for k, f in enumerate(runs[2:]):
        reports.append(tmp_path / f"r{k}.json")
        assert _run("evaluate", f, "-t", BIRDS, "-f", "json", "-o", reports[-1]).exit_code == 0
    res = _run("leaderboard", *reports, "-t", BIRDS, "-f", "json")
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout)
    assert [r["model"] for r in board["rows"]] == ["r0", "r1"] and board["test"]["against"] is None
    assert "No tests" in board["explanation"] and "not tested" in " ".join(board["notes"])
    fewer = tmp_path / "fewer.csv"
    pd.read_csv(runs[0]).iloc[:-3].to_csv(fewer, index=False)
    small = tmp_path / "small.json"
    assert _run("evaluate", fewer, "-t", BIRDS, "-f", "json", "-o", small).exit_code == 0
    res = _run("leaderboard", reports[0], small, "-t", BIRDS)
    assert res.exit_code == 2 and "small.json" in res.output and "397" in res.output
