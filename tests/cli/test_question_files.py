"""The evaluators' question files (--costs, --subset, --train-counts) are read as every user
text file is (taxonomy.text_input.read_text): a byte that is not UTF-8 is named with its
line, a folder is refused saying what was expected, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxovit.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
BIRDS = ROOT / "taxonomies" / "birds.json"


@pytest.mark.parametrize("option", ["--costs", "--subset", "--train-counts"])
def test_bad_bytes_are_named_by_line(tmp_path: Path, option: str) -> None:
    bad = tmp_path / "q.csv"
    bad.write_bytes(b"name\n\xff\xfe\n")
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-t",
            str(BIRDS),
            option,
            str(bad),
            "-f",
            "json",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 2 and "line 2" in res.output and "not UTF-8" in res.output
    assert not out.exists()


@pytest.mark.parametrize(
    "option, what", [("--costs", "a cost table"), ("--train-counts", "a class,count file")]
)
def test_a_folder_is_refused_saying_what_was_expected(tmp_path: Path, option, what) -> None:
    res = CliRunner().invoke(
        app, ["evaluate", str(EXAMPLE), "-t", str(BIRDS), option, str(tmp_path)]
    )
    assert res.exit_code == 2 and f"is a folder; expected {what}" in res.output
