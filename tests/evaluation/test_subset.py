"""``subset=`` / ``--subset``: clades and checklists (taxovit.evaluation.subset)."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from strategies import taxonomies
from test_evaluation import hand_taxonomy, problems
from typer.testing import CliRunner

from taxovit import evaluate
from taxovit.cli import app
from taxovit.errors import ArgumentError, InputError
from taxovit.evaluation.subset import read_subset, subtree_mask

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"


def test_hand_example_clade() -> None:
    # columns a1 a2 b1 b2; sample 2 (truth b1) is dropped; sample 3 has all its mass in B
    scores = np.array(
        [
            [0.6, 0.2, 0.2, 0.0],
            [0.1, 0.1, 0.8, 0.0],
            [0.0, 0.0, 0.5, 0.5],
            [0.0, 0.0, 0.0, 1.0],
            [0.2, 0.2, 0.3, 0.3],
        ]
    )
    t = ["a1", "a2", "b1", "a1", "a2"]
    p = ["a1", "b1", "b1", "b2", "a2"]
    r = evaluate(t, p, hand_taxonomy(), scores, score_labels=["a1", "a2", "b1", "b2"], subset="A")
    m = r.metrics
    assert m["n_samples"] == 4 and m["accuracy"] == 0.5
    assert r.sections["subset"] == {
        "spec": "A",
        "n_listed": 1,
        "n_nodes": 3,
        "n_samples_kept": 4,
        "n_samples_dropped": 1,
        "n_predicted_outside": 2,
        "n_score_columns_kept": 2,
        "n_score_columns_dropped": 2,
        "n_rows_no_mass": 1,
        "no_mass_rule": "uniform over the kept score columns",
    }
    # renormalised kept rows: [.75 .25], [.5 .5], [.5 .5] (no mass: uniform), [.5 .5]
    # top-1 (ties: the later column first): a1, a2, a2, a2 -> truths a1 a2 a1 a2: 3 of 4
    assert m["top1_accuracy"] == 0.75
    # Brier of the renormalised rows: (.25²+.25²) + (.5²+.5²)·3 over 4 rows
    assert m["brier"] == pytest.approx((0.125 + 0.5 * 3) / 4)
    assert r.to_dict()["subset"]["n_samples_dropped"] == 1


def test_checklist_and_ranked(tmp_path: Path) -> None:
    tax = hand_taxonomy()
    listed = tmp_path / "list.txt"
    listed.write_text("# region\na1\n\nb1\n")
    sub = read_subset(tax, listed)
    assert sorted(tax.names(np.flatnonzero(sub.mask))) == ["a1", "b1"] and sub.n_listed == 2
    ranked = tax.ids(np.array([["a2", "a1"], ["b1", "b2"], ["b2", "a1"]]))
    r = evaluate(
        ["a1", "b1", "a1"], ["a2", "b1", "b2"], tax, ranked=ranked, top_k=[1, 2], subset=listed
    )
    # candidates cut to the checklist: [a1 -], [b1 -], [a1 -]: every truth first
    assert r.metrics["top1_accuracy"] == 1.0 and r.metrics["accuracy"] == pytest.approx(1 / 3)


def test_bad_checklists(tmp_path: Path) -> None:
    tax = hand_taxonomy()
    bad = tmp_path / "list.csv"
    bad.write_text("taxon,count\na1,3\nnope,2\n")
    with pytest.raises(InputError) as exc:
        read_subset(tax, bad)
    assert str(exc.value) == f"{bad}, line 3, column 'taxon': 'nope' is not a node of the taxonomy"
    with pytest.raises(ArgumentError, match="neither a node"):
        read_subset(tax, "Z")
    with pytest.raises(ArgumentError, match="no sample's true label"):
        evaluate(["b1"], ["b1"], tax, subset="A")


@settings(max_examples=60, deadline=None)
@given(taxonomies(dag=True, max_nodes=15))
def test_subtree_mask_is_descendants(tax) -> None:
    for node in range(0, len(tax.nodes), 3):
        name = tax.nodes[node]
        want = nx.descendants(tax.graph, name) | {name}
        assert set(tax.names(np.flatnonzero(subtree_mask(tax, np.array([node]))))) == want


@settings(max_examples=60, deadline=None)
@given(problems(with_scores=True))
def test_whole_taxonomy_equals_plain(problem) -> None:
    tax, t, p, cols, scores = problem
    plain = evaluate(t, p, tax, scores, score_labels=cols).to_dict()
    cut = evaluate(t, p, tax, scores, score_labels=cols, subset=tax.root).to_dict()
    section = cut.pop("subset")
    assert section["n_samples_dropped"] == 0 and section["n_score_columns_dropped"] == 0
    assert json.dumps(cut, sort_keys=True) == json.dumps(plain, sort_keys=True)


def test_cli_subset(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--subset", "Passeriformes", "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    s = obj["subset"]
    assert s["n_samples_kept"] + s["n_samples_dropped"] == 400
    assert obj["metrics"]["n_samples"] == s["n_samples_kept"] < 400
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--subset", "Passeriformes"]
    )
    assert res.exit_code == 0 and "Subset" in res.output
    listed, out = tmp_path / "list.txt", tmp_path / "r.json"
    listed.write_text("Mallard\nNo_such_bird\n")
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--subset", str(listed), "-o", str(out)]
    )
    assert res.exit_code == 2 and "line 2" in res.output and "No_such_bird" in res.output
    assert not out.exists()
    res = runner.invoke(
        app,
        ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--subset", str(listed), "-o", str(listed)],
    )
    assert res.exit_code == 2 and listed.read_text() == "Mallard\nNo_such_bird\n"
