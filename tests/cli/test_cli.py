"""The CLI end to end on the shipped files, and every bad-input path: one clear message naming
file, line and column, exit status 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxovit.cli import app

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_evaluate_example_table_and_json() -> None:
    res = run("evaluate", EXAMPLE, "--taxonomy", BIRDS)
    assert res.exit_code == 0, res.output
    for text in ("Flat", "Hierarchical", "Per rank", "mistake severity", "genus", "mAP (macro)"):
        assert text in res.output
    res = run("evaluate", EXAMPLE, "-t", BIRDS, "--format", "json")
    assert res.exit_code == 0
    obj = json.loads(res.stdout)
    m = obj["metrics"]
    spec_keys = {
        "n_samples",
        "n_mistakes",
        "accuracy",
        "mean_lca_height",
        "mistake_severity",
        "mean_lca_depth",
        "mean_lca_depth_distance",
        "tree_induced_error_mean",
        "tree_induced_error_sum",
        "per_level_accuracy",
        "map_macro",
        "map_weighted",
        "map_micro",
        "map_macro_present",
        "top1_accuracy",
        "top5_accuracy",
        "avg_hierarchical_distance_at_1",
        "avg_hierarchical_distance_at_5",
        *(
            f"{a}_{b}"
            for a in ("precision", "recall", "f1")
            for b in ("micro", "macro", "weighted")
        ),
        *(
            f"hierarchical_{a}_{b}"
            for a in ("precision", "recall", "f1")
            for b in ("micro", "macro")
        ),
    }
    assert spec_keys <= set(m)
    assert all(m[k] is not None for k in spec_keys)
    assert m["n_samples"] == 400
    assert set(obj["per_rank"]) == {"order", "family", "genus", "species"}
    assert set(m["per_level_accuracy"]) == {"1", "2", "3", "4"}


def test_evaluate_outputs_and_bootstrap(tmp_path: Path) -> None:
    out, pc, plots = tmp_path / "r.csv", tmp_path / "pc.csv", tmp_path / "plots"
    res = run(
        "evaluate",
        EXAMPLE,
        "-t",
        BIRDS,
        "-f",
        "csv",
        "-o",
        out,
        "--per-class",
        pc,
        "--plot",
        plots,
        "--bootstrap",
        "20",
        "--top-k",
        "3",
    )
    assert res.exit_code == 0, res.output
    head = out.read_text().splitlines()[0]
    assert head == "group,metric,value,ci_low,ci_high"
    assert "top3_accuracy" in out.read_text()
    assert pc.read_text().startswith("class,support,predicted,precision,recall,f1")
    assert sorted(p.name for p in plots.iterdir()) == [
        "accuracy_per_rank.png",
        "confusion_family.png",
        "mistake_severity.png",
        "reliability.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in plots.iterdir())
    res = run("evaluate", EXAMPLE, "-t", BIRDS, "-f", "markdown")
    assert res.stdout.startswith("| group | metric | value |")


def test_evaluate_other_column_names(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(
        "sample,label,guess,p_Gadwall,p_Mallard\n1,Gadwall,Mallard,0.4,0.6\n2,Mallard,Mallard,0.1,0.9\n"
    )
    res = run(
        "evaluate",
        f,
        "-t",
        BIRDS,
        "--id-col",
        "sample",
        "--true-col",
        "label",
        "--pred-col",
        "guess",
        "--score-prefix",
        "p_",
        "-f",
        "json",
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    assert m["accuracy"] == 0.5 and m["top1_accuracy"] == 0.5 and m["top5_accuracy"] == 1.0


BAD_CASES = [
    # (file content, expected fragments of the message)
    ("", ["empty"]),
    ("id,y_true\n1,Gadwall\n", ["y_pred"]),
    ("id,y_true,y_pred\n1,Gadwall,Mallard\n1,Mallard,Mallard\n", ["line 3", "'id'", "duplicate"]),
    ("id,y_true,y_pred\n1,Gadwall,Mallard\n2,,Mallard\n", ["line 3", "'y_true'"]),
    ("id,y_true,y_pred\n1,Gadwall,Dodo\n", ["line 2", "'y_pred'", "Dodo"]),
    ("id,y_true,y_pred,score_Gadwall\n1,Gadwall,Gadwall,abc\n", ["line 2", "score_Gadwall", "abc"]),
    ("id,y_true,y_pred,score_Gadwall\n1,Gadwall,Gadwall,nan\n", ["line 2", "score_Gadwall"]),
    ("id,y_true,y_pred,score_Dodo\n1,Gadwall,Gadwall,0.5\n", ["score_Dodo"]),
    ("id,y_true,y_pred\n", ["no data"]),
    ("id,y_true,y_pred\n1,Gadwall,Mallard,extra\n", ["line 2"]),
]


@pytest.mark.parametrize(("content", "fragments"), BAD_CASES)
def test_bad_predictions_exit_2_nothing_written(
    tmp_path: Path, content: str, fragments: list[str]
) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(content)
    out = tmp_path / "report.json"
    res = run(
        "evaluate",
        f,
        "-t",
        BIRDS,
        "-f",
        "json",
        "-o",
        out,
        "--per-class",
        tmp_path / "pc.csv",
        "--plot",
        tmp_path / "plots",
    )
    assert res.exit_code == 2, res.output
    msg = " ".join(res.output.split())  # rich may wrap long lines
    assert "bad.csv" in msg and "Traceback" not in msg
    for frag in fragments:
        assert frag.lower() in msg.lower(), (frag, msg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_bad_encoding_and_bad_taxonomy(tmp_path: Path) -> None:
    f = tmp_path / "latin.csv"
    f.write_bytes("id,y_true,y_pred\n1,Gadwall,caf\xe9\n".encode("latin-1"))
    res = run("evaluate", f, "-t", BIRDS)
    msg = " ".join(res.output.split())
    assert res.exit_code == 2 and "line 2" in msg and "UTF-8" in msg
    tax = tmp_path / "cyc.csv"
    tax.write_text("parent,child\nr,a\na,r2\nr2,a\n")
    res = run("evaluate", EXAMPLE, "-t", tax)
    msg = " ".join(res.output.split())
    assert res.exit_code == 2 and "cycle" in msg and "cyc.csv" in msg
    res = run("evaluate", EXAMPLE, "-t", tmp_path / "missing.json")
    assert res.exit_code == 2 and "not found" in res.output


def test_taxonomy_commands(tmp_path: Path) -> None:
    res = run("taxonomy", "info", BIRDS)
    assert res.exit_code == 0
    assert "200" in res.output and "order (13)" in res.output and "species (200)" in res.output
    info = json.loads(run("taxonomy", "info", BIRDS, "--json").stdout)
    assert info["leaves"] == 200 and list(info["ranks"]) == ["order", "family", "genus", "species"]
    assert run("taxonomy", "validate", BIRDS).exit_code == 0
    for fmt, name in (("edges", "b.csv"), ("node-link", "b.json")):
        dst = tmp_path / name
        assert run("taxonomy", "convert", BIRDS, dst, "--to", fmt).exit_code == 0
        again = json.loads(run("taxonomy", "info", dst, "--json").stdout)
        assert again == {**info, "file": str(dst)}
    bad = tmp_path / "two_roots.csv"
    bad.write_text("parent,child\na,b\nc,d\n")
    res = run("taxonomy", "validate", bad)
    assert res.exit_code == 2 and "2 roots" in res.output
    assert run("taxonomy", "validate", bad, "--add-root").exit_code == 0


def test_rank_columns_conversion(tmp_path: Path) -> None:
    src = tmp_path / "cifar.tsv"
    assert (
        run(
            "taxonomy", "convert", ROOT / "taxonomies" / "cifar100.json", src, "--to", "ranks"
        ).exit_code
        == 0
    )
    assert src.read_text().splitlines()[0] == "superclass\tclass"
    info = json.loads(run("taxonomy", "info", src, "--json").stdout)
    assert info["leaves"] == 100 and info["ranks"] == {"superclass": 20, "class": 100}


@pytest.mark.parametrize(
    "name", ["birds", "cifar100", "imagenet1k", "imagenet1k_tree", "fashion_mnist"]
)
def test_shipped_taxonomies_load(name: str) -> None:
    info = json.loads(
        run("taxonomy", "info", ROOT / "taxonomies" / f"{name}.json", "--json").stdout
    )
    leaves = {
        "birds": 200,
        "cifar100": 100,
        "imagenet1k": 1000,
        "imagenet1k_tree": 1000,
        "fashion_mnist": 10,
    }
    assert info["leaves"] == leaves[name]
    assert info["kind"] == ("DAG" if name == "imagenet1k" else "tree")


def test_evaluation_path_imports_no_torch() -> None:
    code = (
        "import sys, taxovit, taxovit.cli, taxovit.evaluation, taxovit.predictions, taxovit.evaluation.render, taxovit.evaluation.plots;"
        "from typer.testing import CliRunner;"
        f"r = CliRunner().invoke(taxovit.cli.app, ['evaluate', {str(EXAMPLE)!r}, '-t', {str(BIRDS)!r}, '-f', 'json']);"
        "assert r.exit_code == 0, r.output;"
        "assert 'torch' not in sys.modules, 'torch imported';"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_console_script_help() -> None:
    out = subprocess.run(
        ["taxovit", "evaluate", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and "--bootstrap" in out.stdout and "Examples" in out.stdout
