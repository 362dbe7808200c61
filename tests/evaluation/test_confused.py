"""``confused=N`` / ``--confused``: most-confused pairs (taxovit.evaluation.confused)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from test_evaluation import problems
from typer.testing import CliRunner

from taxovit import Taxonomy, evaluate
from taxovit.cli import app
from taxovit.errors import ArgumentError

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"


def ranked_tax() -> Taxonomy:
    edges = [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")]
    ranks = {"A": "genus", "B": "genus"} | {s: "species" for s in ("a1", "a2", "b1", "b2")}
    return Taxonomy.from_edges(edges, ranks=ranks)


T = ["a1", "a1", "a1", "a2", "b1", "b1"]
P = ["a2", "a2", "b1", "a1", "b1", "A"]


def test_hand_example() -> None:
    s = evaluate(T, P, ranked_tax(), confused=10).sections["confused_pairs"]
    assert (s["n_mistakes"], s["n_distinct_pairs"]) == (5, 4)
    first, *rest = s["pairs"]
    assert first == {
        "true": "a1",
        "predicted": "a2",
        "count": 2,
        "share_of_true": 2 / 3,
        "lca": "A",
        "split_rank": "species",
    }
    got = {(r["true"], r["predicted"]): (r["count"], r["lca"], r["split_rank"]) for r in rest}
    assert got == {
        ("a1", "b1"): (1, "root", "genus"),
        ("a2", "a1"): (1, "A", "species"),
        ("b1", "A"): (1, "root", "genus"),
    }
    assert len(evaluate(T, P, ranked_tax(), confused=2).sections["confused_pairs"]["pairs"]) == 2
    g = evaluate(T, P, ranked_tax(), confused=5, confused_rank="genus").sections["confused_pairs"]
    assert [(r["true"], r["predicted"], r["share_of_true"]) for r in g["pairs"]] == [
        ("A", "B", 0.25),
        ("B", "A", 0.5),
    ]
    with pytest.raises(ArgumentError, match="unknown rank 'family'"):
        evaluate(T, P, ranked_tax(), confused=5, confused_rank="family")


@settings(max_examples=60, deadline=None)
@given(problems())
def test_pair_counts_add_up(problem) -> None:
    tax, t, p = problem
    s = evaluate(t, p, tax, confused=10_000).sections["confused_pairs"]
    assert sum(r["count"] for r in s["pairs"]) == s["n_mistakes"] == (t != p).sum()
    counts = [r["count"] for r in s["pairs"]]
    assert counts == sorted(counts, reverse=True)


def test_cli_confused() -> None:
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--confused",
            "3",
            "--confused-rank",
            "family",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["confused_pairs"]["rank"] == "family"
    res = CliRunner().invoke(
        app,
        ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--confused", "3", "--confused-rank", "tribe"],
    )
    assert res.exit_code == 2 and "tribe" in res.output
