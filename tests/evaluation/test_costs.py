"""``costs=`` / ``--costs``: user cost tables (taxovit.evaluation.costs)."""

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
from taxovit.errors import InputError
from taxovit.evaluation.costs import read_costs

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"

# FungiCLEF 2023 (track 3): the 0/1 species error plus 100 for a poisonous taxon predicted
# as edible and 1 for an edible one predicted as poisonous; and an unknown named as a
# known species costs 10 (the example)
FUNGICLEF = """true,predicted,cost
# poisonous genera: Amanita, Cortinarius
*,*,1
Amanita|Cortinarius,*,101
*,Amanita|Cortinarius,2
Amanita|Cortinarius,Amanita|Cortinarius,1
unknown,*,10
"""


def fungi() -> Taxonomy:
    edges = [("Fungi", g) for g in ("Amanita", "Boletus", "Cortinarius", "unknown")] + [
        ("Amanita", "A_phalloides"),
        ("Amanita", "A_muscaria"),
        ("Boletus", "B_edulis"),
        ("Boletus", "B_reticulatus"),
        ("Cortinarius", "C_rubellus"),
    ]
    ranks = {g: "genus" for g in ("Amanita", "Boletus", "Cortinarius")}
    ranks |= {s: "species" for _, s in edges if "_" in s}
    return Taxonomy.from_edges(edges, ranks=ranks)


def test_fungiclef_hand_example(tmp_path: Path) -> None:
    path = tmp_path / "costs.csv"
    path.write_text(FUNGICLEF)
    t = [
        "A_phalloides",
        "B_edulis",
        "A_phalloides",
        "B_edulis",
        "B_edulis",
        "unknown",
        "A_muscaria",
    ]
    p = [
        "B_edulis",
        "A_muscaria",
        "C_rubellus",
        "B_reticulatus",
        "B_edulis",
        "B_edulis",
        "A_muscaria",
    ]
    # poisonous as edible 101, edible as poisonous 2, poisonous as poisonous 1, edible
    # mistake 1, correct 0, unknown as known 10, correct 0
    r = evaluate(t, p, fungi(), costs=path, bootstrap=20)
    assert r.metrics["cost_total"] == 115 and r.metrics["cost_mean"] == pytest.approx(115 / 7)
    # at the genus: Amanita->Boletus 101, Boletus->Amanita 2, Amanita->Cortinarius 1, then
    # right genera 0, 0, (unknown has no genus: left out), 0
    assert r.per_rank["genus"]["cost_mean"] == pytest.approx(104 / 6)
    lo, hi = r.intervals["cost_mean"]
    assert lo <= 115 / 7 <= hi
    section = r.to_dict()["costs"]
    assert section["n_rules"] == 5 and section["total"] == 115
    assert section["mean_per_rank"]["genus"] == pytest.approx(104 / 6)


def test_precedence(tmp_path: Path) -> None:
    path = tmp_path / "costs.csv"
    # the deeper true side wins over a deeper predicted side; on a tie the later line
    path.write_text(
        "true,predicted,cost\nAmanita,*,5\n*,B_edulis,7\nFungi,B_edulis,3\n"
        "A_phalloides,Boletus,8\nA_phalloides,Fungi,9\n"
    )
    table = read_costs(fungi(), path)
    tax = fungi()
    pairs = [
        ("A_muscaria", "B_edulis", 5),
        ("C_rubellus", "B_edulis", 3),
        ("A_phalloides", "B_edulis", 8),
        ("A_phalloides", "C_rubellus", 9),
        ("C_rubellus", "Amanita", 1),
        ("C_rubellus", "C_rubellus", 0),
    ]
    got = table.of_pairs(tax.ids([a for a, _, _ in pairs]), tax.ids([b for _, b, _ in pairs]))
    assert got.tolist() == [c for _, _, c in pairs]


@settings(max_examples=60, deadline=None)
@given(problems())
def test_unit_costs_give_error_rate(problem) -> None:
    tax, t, p = problem
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.csv"
        path.write_text("true,predicted,cost\n*,*,1\n")
        m = evaluate(t, p, tax, costs=path).metrics
        path.write_text("true,predicted,cost\n")  # no rule: a mistake costs 1
        assert evaluate(t, p, tax, costs=path).metrics["cost_mean"] == m["cost_mean"]
    assert m["cost_mean"] == pytest.approx(1 - m["accuracy"])
    assert m["cost_total"] == m["n_mistakes"]
    assert np.isclose(m["cost_total"], (t != p).sum())


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("true,predicted,cost\n*,*,1\nAmanita,Nope,3\n", "line 3, column 'predicted': 'Nope'"),
        ("true,predicted,cost\nAmanita,*,lots\n", "line 2, column 'cost'"),
        ("true,predicted,cost\nAmanita,*,-1\n", "line 2, column 'cost'"),
        ("true,cost\nAmanita,1\n", "line 1: missing column(s) predicted"),
        ("true,predicted,cost\nAmanita,*,1\nAmanita,*,2\n", "line 3, column 'true': the rule"),
        ("true,predicted,cost\nAmanita|,*,1\n", "line 2, column 'true': an empty name"),
    ],
)
def test_bad_cost_tables(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "costs.csv"
    path.write_text(content)
    with pytest.raises(InputError) as exc:
        read_costs(fungi(), path)
    assert str(exc.value).startswith(f"{path}, {where}")


def test_cli_costs(tmp_path: Path) -> None:
    runner = CliRunner()
    costs, out = tmp_path / "costs.csv", tmp_path / "r.json"
    costs.write_text("true,predicted,cost\nPasseriformes,*,10\n")
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--costs",
            str(costs),
            "-o",
            str(out),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(out.read_text())
    assert obj["costs"]["mean"] == obj["metrics"]["cost_mean"] > 1 - obj["metrics"]["accuracy"]
    assert "cost_mean" in obj["per_rank"]["genus"]
    res = runner.invoke(app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--costs", str(costs)])
    assert res.exit_code == 0 and "Costs" in res.output
    costs.write_text("true,predicted,cost\nPasseriformes,Nowhere,10\n")
    out.unlink()
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--costs", str(costs), "-o", str(out)]
    )
    assert res.exit_code == 2 and "line 2" in res.output and "'predicted'" in res.output
    assert not out.exists()
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--costs", str(costs), "-o", str(costs)]
    )
    assert res.exit_code == 2 and "Nowhere" in costs.read_text()


def test_compare_costs(tmp_path: Path) -> None:
    from taxovit.evaluation.compare import compare
    from taxovit.predictions import Predictions

    path = tmp_path / "costs.csv"
    path.write_text(FUNGICLEF)
    tax = fungi()
    t = tax.ids(["A_phalloides", "B_edulis", "A_muscaria", "B_edulis"])
    ids = np.array(["i0", "i1", "i2", "i3"], dtype=object)

    def preds(names: list[str]) -> Predictions:
        return Predictions(ids, t, tax.ids(names), np.empty(0, dtype=np.int64), None, None)

    a = preds(["B_edulis", "B_edulis", "A_muscaria", "A_muscaria"])  # 101 + 0 + 0 + 2
    b = preds(["A_muscaria", "B_edulis", "A_muscaria", "B_edulis"])  # 1 + 0 + 0 + 0
    c = compare(a, b, tax, bootstrap=50, costs=path)
    entry = c.metrics["cost_mean"]
    assert entry["a"] == pytest.approx(103 / 4) and entry["b"] == pytest.approx(1 / 4)
    assert "ci" in entry
    with pytest.raises(ValueError, match="not subset"):
        compare(a, b, tax, bootstrap=0, subset="Amanita")


def test_compare_cli_takes_costs(tmp_path: Path) -> None:
    """taxovit compare --costs FILE: both models' expected cost with the paired difference;
    the cost file is an input (never an output), and a bad rule exits 2 naming its line."""
    import json

    from typer.testing import CliRunner

    from taxovit.cli import app

    costs = tmp_path / "costs.csv"
    costs.write_text("true,predicted,cost\n*,*,1\n")
    res = CliRunner().invoke(
        app,
        [
            "compare",
            str(EXAMPLE),
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--costs",
            str(costs),
            "-b",
            "20",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    entry = json.loads(res.stdout)["metrics"]["cost_mean"]
    accuracy = json.loads(res.stdout)["metrics"]["accuracy"]["a"]
    assert entry["a"] == entry["b"] == pytest.approx(1 - accuracy)  # unit costs: 1 - accuracy
    res = CliRunner().invoke(
        app,
        [
            "compare",
            str(EXAMPLE),
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--costs",
            str(costs),
            "-o",
            str(costs),
        ],
    )
    assert res.exit_code == 2 and costs.read_text() == "true,predicted,cost\n*,*,1\n"
    costs.write_text("true,predicted,cost\nPasseriformes,Nowhere,10\n")
    res = CliRunner().invoke(
        app, ["compare", str(EXAMPLE), str(EXAMPLE), "-t", str(BIRDS), "--costs", str(costs)]
    )
    assert res.exit_code == 2 and "line 2" in res.output
