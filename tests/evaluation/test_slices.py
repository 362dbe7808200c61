"""``groups=`` / ``--group-by``: one report per group (taxovit.evaluation.slices)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_evaluation import hand_taxonomy, problems
from typer.testing import CliRunner

from taxovit import evaluate
from taxovit.cli import app

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"


def test_hand_example() -> None:
    t = ["a1", "a1", "a2", "b1", "b2", "b1"]
    p = ["a1", "a2", "a2", "b1", "b1", "a1"]
    site = ["x", "x", "x", "y", "y", None]
    r = evaluate(t, p, hand_taxonomy(), groups={"site": site}, min_support=3, bootstrap=30)
    s = r.sections["slices"]["site"]
    rows = {g["group"]: g for g in s["summary"]}
    assert set(rows) == {"x", "y", "(missing)"}
    assert (rows["x"]["n_samples"], rows["x"]["accuracy"], rows["x"]["small"]) == (3, 2 / 3, False)
    assert (rows["y"]["n_samples"], rows["y"]["accuracy"], rows["y"]["small"]) == (2, 0.5, True)
    assert rows["(missing)"]["accuracy"] == 0.0
    lo, hi = rows["x"]["accuracy_ci"]
    assert lo <= 2 / 3 <= hi
    # worst and best only among groups with >= min_support samples: x alone
    assert s["spread"]["accuracy"] == {
        "best": {"group": "x", "value": 2 / 3},
        "worst": {"group": "x", "value": 2 / 3},
    }
    assert s["n_small_groups"] == 2
    # a group's report is the plain report of its rows
    assert s["reports"]["y"]["metrics"] == evaluate(t[3:5], p[3:5], hand_taxonomy()).metrics


@settings(max_examples=40, deadline=None)
@given(problems(), st.data())
def test_group_counts_add_up(problem, data) -> None:
    tax, t, p = problem
    g = data.draw(st.lists(st.sampled_from("abc"), min_size=t.size, max_size=t.size))
    s = evaluate(t, p, tax, groups=pd.DataFrame({"g": g}), min_support=2).sections["slices"]["g"]
    assert sum(r["n_samples"] for r in s["summary"]) == t.size
    mistakes = sum(rep["metrics"]["n_mistakes"] for rep in s["reports"].values())
    assert mistakes == (t != p).sum()


def test_cli_group_by(tmp_path: Path) -> None:
    ids = pd.read_csv(EXAMPLE, usecols=["id"])["id"]
    meta, out = tmp_path / "meta.csv", tmp_path / "r.json"
    pd.DataFrame({"id": ids, "site": np.where(np.arange(ids.size) % 3 == 0, "s1", "s2")}).to_csv(
        meta, index=False
    )
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--group-by",
            "site",
            "--meta",
            str(meta),
            "-b",
            "20",
            "-o",
            str(out),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(out.read_text())["slices"]["site"]
    assert [r["n_samples"] for r in s["summary"]] == [134, 266]
    assert "accuracy_ci" in s["summary"][0]
    res = runner.invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "--group-by", "site", "--meta", str(meta)]
    )
    assert res.exit_code == 0 and "Slices by site" in res.output
    out.unlink()
    for args, where in (
        (["--group-by", "region", "--meta", str(meta)], "line 1, column 'region'"),
        (["--group-by", "region"], "line 1, column 'region'"),
    ):
        res = runner.invoke(
            app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), *args, "-o", str(out)]
        )
        assert res.exit_code == 2 and where in res.output and not out.exists()
    meta.write_text("id,site\nnot_an_id,s1\n")
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--group-by",
            "site",
            "--meta",
            str(meta),
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 2 and "is not in this file" in res.output and not out.exists()
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            "--group-by",
            "site",
            "--meta",
            str(meta),
            "-o",
            str(meta),
        ],
    )
    assert res.exit_code == 2 and meta.read_text() == "id,site\nnot_an_id,s1\n"


def test_bad_groups_argument() -> None:
    with pytest.raises(ValueError, match="3 values for 2 samples"):
        evaluate(["a1", "a2"], ["a1", "a1"], hand_taxonomy(), groups={"g": [1, 2, 3]})
