"""``train_counts=`` / ``--train-counts``: many/medium/few-shot buckets (taxovit.evaluation.long_tail)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_evaluation import hand_taxonomy, problems
from typer.testing import CliRunner

from taxovit import evaluate
from taxovit.cli import app
from taxovit.errors import ArgumentError, InputError
from taxovit.evaluation.long_tail import read_train_counts

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"


def test_hand_example(tmp_path: Path) -> None:
    path = tmp_path / "counts.csv"
    path.write_text("Class,Count\na1,500\na2,50\nb1,5\n")  # b2 unlisted: 0, few-shot
    t = ["a1", "a1", "a2", "a2", "b1", "b2", "b2"]
    p = ["a1", "a2", "a2", "b1", "b1", "b1", "a1"]
    r = evaluate(t, p, hand_taxonomy(), train_counts=path, bootstrap=20)
    m = r.metrics
    want = {  # n_samples, n_classes, accuracy, recall_macro, f1_macro, severity, hier. F1
        "many": (2, 1, 0.5, 0.5, 0.5, 1.0, 0.75),
        "medium": (2, 1, 0.5, 0.5, 0.5, 2.0, 0.5),
        "few": (3, 2, 1 / 3, 0.5, 0.25, 1.5, 0.5),
    }
    keys = (
        "n_samples",
        "n_classes",
        "accuracy",
        "recall_macro",
        "f1_macro",
        "mistake_severity",
        "hierarchical_f1",
    )
    for b, values in want.items():
        assert [m[f"{b}_shot_{k}"] for k in keys] == pytest.approx(list(values)), b
    s = r.to_dict()["long_tail"]
    assert s["n_test_classes_unlisted"] == 1 and s["few"]["f1_macro"] == 0.25
    assert "few_shot_accuracy" in r.intervals
    # thresholds moved: a2 (50) becomes many-shot
    m2 = evaluate(t, p, hand_taxonomy(), train_counts=path, shot_thresholds=(5, 40)).metrics
    assert m2["many_shot_n_samples"] == 4 and m2["medium_shot_n_samples"] == 1


@settings(max_examples=60, deadline=None)
@given(problems(), st.data())
def test_buckets_add_up(problem, data) -> None:
    tax, t, p = problem
    counts = data.draw(
        st.lists(st.integers(0, 150), min_size=len(tax.nodes), max_size=len(tax.nodes))
    )
    m = evaluate(t, p, tax, train_counts=dict(zip(tax.nodes, counts, strict=True))).metrics
    assert sum(m[f"{b}_shot_n_samples"] for b in ("many", "medium", "few")) == m["n_samples"]
    correct = sum(
        m[f"{b}_shot_accuracy"] * m[f"{b}_shot_n_samples"]
        for b in ("many", "medium", "few")
        if m[f"{b}_shot_n_samples"]
    )
    assert correct == pytest.approx(m["accuracy"] * m["n_samples"])
    assert sum(m[f"{b}_shot_n_classes"] for b in ("many", "medium", "few")) == np.unique(t).size


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("class,count\na1,3.5\n", "line 2, column 'count'"),
        ("class,count\na1,-2\n", "line 2, column 'count'"),
        ("class,count\nzz,2\n", "line 2, column 'class'"),
        ("class,count\na1,2\na1,3\n", "line 3, column 'class'"),
        ("name,n\na1,2\n", "line 1: expected the header"),
    ],
)
def test_bad_counts(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(content)
    with pytest.raises(InputError) as exc:
        read_train_counts(hand_taxonomy(), path)
    assert str(exc.value).startswith(f"{path}, {where}")
    with pytest.raises(ArgumentError, match="thresholds"):
        read_train_counts(hand_taxonomy(), path, (100, 20))


def test_cli_long_tail(tmp_path: Path) -> None:
    counts, out = tmp_path / "counts.csv", tmp_path / "r.json"
    counts.write_text("class,count\nMallard,500\nGadwall,30\n")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--train-counts",
            str(counts),
            "--few-below",
            "10",
            "--many-above",
            "200",
            "-o",
            str(out),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(out.read_text())["long_tail"]
    assert s["buckets_defined"]["many"] == "> 200" and s["many"]["n_samples"] == 2
    counts.write_text("class,count\nMallard,lots\n")
    out.unlink()
    res = runner.invoke(
        app,
        ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--train-counts", str(counts), "-o", str(out)],
    )
    assert res.exit_code == 2 and "line 2" in res.output and not out.exists()
