"""`taxovit evaluate` never loses data and never crashes: every unsafe output, bad path, bad
option and bad file is one message, exit status 2, and nothing created, changed or removed.
The Python API checks its arguments with the same rules."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import taxovit
from taxovit.cli import app
from taxovit.errors import ArgumentError, TaxovitError, UnknownLabelError
from taxovit.metrics import hierarchical_precision_recall_f1
from taxovit.predictions import read_predictions

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
FASHION = ROOT / "taxonomies" / "fashion_mnist.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
runner = CliRunner()


def run(*args: object, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``folder`` with its mode and (for files) its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st_ = p.lstat()
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(folder))] = (st_.st_mode, data)
    return out


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "preds.csv").write_bytes(EXAMPLE.read_bytes())
    (tmp_path / "birds.json").write_bytes(BIRDS.read_bytes())
    return tmp_path


# ----------------------------------------------------------------------------- data loss


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "preds.csv"],
        ["-o", "birds.json"],
        ["--per-class", "preds.csv"],
        ["--per-class", "birds.json"],
        ["--per-class", "x.csv", "-o", "x.csv"],
        ["-o", "sub/../preds.csv"],
        ["--plot", ".", "--plot-rank", "order", "-o", "confusion_order.png"],
        ["-o", "report.json", "--per-class", "preds.csv/x.csv"],
        ["--per-class", "pc.csv", "--plot", "plots", "-o", "."],
        ["--per-class", "pc.csv", "--plot", "preds.csv"],
    ],
)
def test_unsafe_outputs_change_nothing(work: Path, args: list[str]) -> None:
    (work / "sub").mkdir()
    before = snapshot(work)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        res = run("evaluate", "preds.csv", "-t", "birds.json", *args)
    finally:
        os.chdir(cwd)
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and "Traceback" not in res.output
    assert snapshot(work) == before


def test_hard_link_to_the_input_is_refused(work: Path) -> None:
    os.link(work / "preds.csv", work / "alias.csv")
    res = run("evaluate", work / "preds.csv", "-t", work / "birds.json", "-o", work / "alias.csv")
    assert res.exit_code == 2 and "same file" in res.output
    assert (work / "alias.csv").read_bytes() == EXAMPLE.read_bytes()


def test_devices_symlinks_and_stdout(work: Path) -> None:
    res = run(
        "evaluate", work / "preds.csv", "-t", work / "birds.json", "-f", "json", "-o", "/dev/null"
    )
    assert res.exit_code == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    (work / "null-link").symlink_to("/dev/null")
    res = run("evaluate", work / "preds.csv", "-t", work / "birds.json", "-o", work / "null-link")
    assert res.exit_code == 0 and (work / "null-link").is_symlink()
    res = run("evaluate", work / "preds.csv", "-t", work / "birds.json", "-f", "json", "-o", "-")
    assert res.exit_code == 0 and json.loads(res.stdout)["metrics"]["n_samples"] == 400


def test_modes_follow_umask_and_existing_files(work: Path) -> None:
    report = work / "report.md"
    report.write_text("old")
    os.chmod(report, 0o644)
    old = os.umask(0o077)
    try:
        res = run(
            "evaluate",
            work / "preds.csv",
            "-t",
            work / "birds.json",
            "-f",
            "markdown",
            "-o",
            report,
            "--per-class",
            work / "new.csv",
        )
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(report.stat().st_mode) == 0o644 and report.read_text() != "old"
    assert stat.S_IMODE((work / "new.csv").stat().st_mode) == 0o600


def test_missing_folders_are_created_for_every_output(work: Path) -> None:
    res = run(
        "evaluate",
        work / "preds.csv",
        "-t",
        work / "birds.json",
        "-f",
        "json",
        "-o",
        work / "a" / "b" / "r.json",
        "--per-class",
        work / "c" / "pc.csv",
        "--plot",
        work / "d" / "plots",
    )
    assert res.exit_code == 0, res.output
    assert (work / "a" / "b" / "r.json").is_file() and (work / "c" / "pc.csv").is_file()
    assert len(list((work / "d" / "plots").glob("*.png"))) == 4  # with scores: + reliability


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_an_error(work: Path) -> None:
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = run(
            "evaluate",
            work / "preds.csv",
            "-t",
            work / "birds.json",
            "--per-class",
            work / "pc.csv",
            "-o",
            locked / "r.txt",
        )
    finally:
        locked.chmod(0o700)
    assert res.exit_code == 2 and "cannot write" in res.output
    assert not (work / "pc.csv").exists() and list(locked.iterdir()) == []


# ----------------------------------------------------------------------------- paths, options


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.csv", "-t", BIRDS], "file not found"),
        ([".", "-t", BIRDS], "is a folder"),
        ([EXAMPLE, "-t", "missing.json"], "not found"),
        ([EXAMPLE, "-t", BIRDS, "--seed", "-1"], "--seed"),
        ([EXAMPLE, "-t", BIRDS, "--bootstrap", "1000000000"], "--bootstrap"),
        ([EXAMPLE, "-t", BIRDS, "--top-k", "0"], "--top-k value must be at least 1"),
        ([EXAMPLE, "-t", BIRDS, "--pred-col", "y_true"], "must differ"),
        ([EXAMPLE, "-t", BIRDS, "--id-col", "y_pred"], "must differ"),
        ([EXAMPLE, "-t", BIRDS, "--plot-rank", "kingdom"], "not a rank"),
    ],
)
def test_bad_paths_and_options(args: list[object], message: str) -> None:
    res = run("evaluate", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_predictions_from_standard_input() -> None:
    res = run("evaluate", "-", "-t", BIRDS, "-f", "json", input=EXAMPLE.read_text())
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metrics"]["accuracy"] == pytest.approx(0.78)
    res = run("evaluate", "-", "-t", BIRDS, input="id,y_true,y_pred\na,Nope,Nope\n")
    assert res.exit_code == 2 and "<stdin>, line 2" in res.output


# ----------------------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    "text, line",
    [
        ("id,y_true,y_pred\na,Trouser,Bag,\nb,Bag,Bag,\n", 2),  # trailing comma on every row
        ("id,y_true,y_pred\na,Trouser,Bag,\nb,Bag,Bag\n", 2),  # ... on the first row only
        ("id,y_true,y_pred\na,Trouser,Bag\nb,Bag,Bag,\n", 3),  # ... on a later row
    ],
)
def test_trailing_commas_are_one_rule(tmp_path: Path, text: str, line: int) -> None:
    f = tmp_path / "p.csv"
    f.write_text(text)
    with pytest.raises(TaxovitError, match=f"line {line}: row has 4 fields"):
        read_predictions(f, taxovit.load_taxonomy(FASHION).name_to_id)


def test_very_long_field_is_located(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("id,y_true,y_pred\na,Bag,Bag\nb," + "x" * 200_000 + ",Bag\n")
    with pytest.raises(TaxovitError, match="line 3, column 'y_true': 'xxx"):
        read_predictions(f, taxovit.load_taxonomy(FASHION).name_to_id)


VALID = "id,y_true,y_pred,score_Bag,score_Trouser\na,Bag,Bag,0.9,0.1\nb,Trouser,Bag,0.6,0.4\n"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_csv_never_crashes_or_changes_the_input(tmp_path: Path, data) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if op == "delete":
            text = text[:i] + text[i + 1 :]
        elif op == "insert":
            text = (
                text[:i]
                + data.draw(st.sampled_from([",", '"', "\n", "\x00", "é", "nan", " "]))
                + text[i:]
            )
        else:
            text = text[:i] + text[i : i + 8] + text[i:]
    f = tmp_path / "m.csv"
    raw = text.encode("utf-8") if data.draw(st.booleans()) else data.draw(st.binary(max_size=80))
    f.write_bytes(raw)
    res = run("evaluate", f, "-t", FASHION, "-f", "json", "-o", tmp_path / "r.json")
    assert res.exit_code in (0, 2), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert f.read_bytes() == raw
    if res.exit_code == 2:
        assert not (tmp_path / "r.json").exists()
    (tmp_path / "r.json").unlink(missing_ok=True)


# ----------------------------------------------------------------------------- Python API


@pytest.fixture(scope="module")
def tax():
    return taxovit.load_taxonomy(FASHION)


def test_api_argument_checks(tax) -> None:
    t, p = ["Bag", "Trouser"], ["Bag", "Bag"]
    for kwargs, match in [
        ({"top_k": []}, "top_k"),
        ({"top_k": [1.5]}, "whole number"),
        ({"bootstrap": -5}, "bootstrap"),
        ({"bootstrap": 2.5}, "bootstrap"),
        ({"bootstrap": True}, "bootstrap"),
        ({"seed": -1}, "seed"),
        ({"bootstrap": 5, "ci": 1.5}, "ci"),
    ]:
        with pytest.raises(ArgumentError, match=match):
            taxovit.evaluate(t, p, tax, **kwargs)
    with pytest.raises(ValueError, match="no samples"):
        hierarchical_precision_recall_f1([], [], tax)
    with pytest.raises(ValueError, match="missing"):
        taxovit.evaluate(["Bag", None], p, tax)


def test_api_unknown_label_message_is_plain(tax) -> None:
    with pytest.raises(UnknownLabelError) as exc:
        taxovit.evaluate(np.array(["Bag", "zz"]), np.array(["Bag", "Bag"]), tax)
    assert str(exc.value) == "y_true: 'zz' is not a node of the taxonomy"
    assert isinstance(exc.value, KeyError)


def test_api_pandas_inputs(tax) -> None:
    t = pd.Series(["Bag", "Trouser"], index=[10, 11])
    p = pd.Series(["Bag", "Bag"], index=[11, 10])
    with pytest.raises(ArgumentError, match="different pandas indexes"):
        taxovit.evaluate(t, p, tax)
    scores = pd.DataFrame({"Bag": [0.9, 0.6], "Trouser": [0.1, 0.4]}, index=[10, 11])
    with pytest.raises(ArgumentError, match="score_labels differ"):
        taxovit.evaluate(t, p.set_axis([10, 11]), tax, scores, score_labels=["Trouser", "Bag"])
    r = taxovit.evaluate(t, p.set_axis([10, 11]), tax, scores)
    assert r.metrics["top1_accuracy"] == 0.5


def test_api_taxonomy_as_a_path() -> None:
    r = taxovit.evaluate(["Bag"], ["Bag"], str(FASHION))
    assert r.metrics["accuracy"] == 1.0
    with pytest.raises(ArgumentError, match="taxonomy must be"):
        taxovit.evaluate(["Bag"], ["Bag"], {"name": "x"})
