"""``known=`` / ``--known``: novel taxa and the open set (taxovit.evaluation.novel)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from test_evaluation import problems
from typer.testing import CliRunner

from taxovit import Taxonomy, evaluate
from taxovit.cli import app
from taxovit.errors import ArgumentError, InputError

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"


def tax() -> Taxonomy:
    return Taxonomy.from_edges(
        [
            ("root", "A"),
            ("root", "B"),
            ("root", "unknown"),
            ("A", "a1"),
            ("A", "a2"),
            ("A", "a3"),
            ("B", "b1"),
            ("B", "b2"),
        ]
    )


T = ["a1", "a2", "b2", "a3", "a3", "unknown", "b1"]
P = ["a1", "b1", "B", "a1", "root", "unknown", "unknown"]
# max probabilities: known samples (1, 2, 7) .9 .8 .6; novel (3, 4, 5, 6) .5 .7 .4 .35
SCORES = np.array(
    [
        [0.9, 0.05, 0.05],
        [0.1, 0.8, 0.1],
        [0.5, 0.25, 0.25],
        [0.7, 0.15, 0.15],
        [0.4, 0.3, 0.3],
        [0.35, 0.35, 0.3],
        [0.2, 0.2, 0.6],
    ]
)


def test_hand_example(tmp_path: Path) -> None:
    path = tmp_path / "classes.txt"
    path.write_text("a1\na2\nb1\n")
    r = evaluate(T, P, tax(), SCORES, score_labels=["a1", "a2", "b1"], known=path, bootstrap=20)
    m = r.metrics
    assert (m["n_known"], m["n_novel"]) == (3, 4)
    assert m["known_accuracy"] == pytest.approx(1 / 3) and m["known_unknown_rate"] == pytest.approx(
        1 / 3
    )
    # novel: b2->B (its deepest known ancestor), a3->a1 (a known class), a3->root,
    # unknown->unknown (deepest known ancestor: the root, so "unknown" is right)
    assert m["novel_ancestor_accuracy"] == 0.5 and m["novel_unknown_rate"] == 0.5
    assert m["novel_known_class_rate"] == 0.25
    for k in ("precision", "recall", "f1"):  # (1 + 1 + 0 + 0) / (1 + 2 + 0 + 0) and / (1 + 1 + 1)
        assert m[f"novel_hierarchical_{k}"] == pytest.approx(2 / 3)
    s = r.to_dict()["novel"]
    assert s["auroc"] == pytest.approx(11 / 12) and s["fpr_at_95_tpr"] == 0.25
    assert s["n_known_classes"] == 3 and s["novel_known_class_rate"] == 0.25
    assert "novel_ancestor_accuracy" in r.intervals
    auto = evaluate(T, P, tax(), SCORES, score_labels=["a1", "a2", "b1"], known="auto")
    assert (
        auto.metrics["n_novel"] == 4 and auto.sections["novel"]["known_classes"] == "score columns"
    )


def test_bad_known(tmp_path: Path) -> None:
    path = tmp_path / "classes.csv"
    path.write_text("taxon\na1\nzz\n")
    with pytest.raises(InputError, match=r"line 3, column 'taxon': 'zz'"):
        evaluate(T, P, tax(), known=path)
    with pytest.raises(ArgumentError, match="no scores"):
        evaluate(T, P, tax(), known="auto")


@settings(max_examples=60, deadline=None)
@given(problems(dag=False))
def test_all_classes_known(problem) -> None:
    t_ax, t, p = problem
    m = evaluate(t, p, t_ax, known=np.arange(len(t_ax.nodes))).metrics
    assert m["n_novel"] == 0 and m["n_known"] == t.size
    assert m["known_accuracy"] == m["accuracy"]
    assert m["novel_ancestor_accuracy"] is None


def test_cli_known(tmp_path: Path) -> None:
    runner = CliRunner()
    known = tmp_path / "known.txt"
    known.write_text("Mallard\nGadwall\nLaysan_Albatross\n")
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--known", str(known), "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)["novel"]
    assert s["n_known"] + s["n_novel"] == 400 and s["auroc"] is not None
    res = runner.invoke(app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--known", "auto"])
    assert res.exit_code == 0 and "novel" in res.output
    known.write_text("Mallard\nDodo\n")
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--known", str(known), "-o", str(known)]
    )
    assert res.exit_code == 2 and known.read_text() == "Mallard\nDodo\n"
