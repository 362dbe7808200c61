"""Every CLI command, run on read-only copies of its inputs, changes nothing outside its
declared outputs: byte for byte and mode for mode, on success and on failure."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from taxovit.cli import app

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "data" / "fashion-mnist-mini"
runner = CliRunner()


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        data = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
        out[str(p.relative_to(folder))] = (st.st_mode, data)
    return out


def set_read_only(folder: Path, on: bool) -> None:
    for p in [folder, *folder.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555 if on else 0o755)
        else:
            p.chmod(0o444 if on else 0o644)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """inputs/ (preds, taxonomies, data, config) and out/ with one trained run."""
    w = tmp_path_factory.mktemp("world")
    inp = w / "inputs"
    inp.mkdir()
    shutil.copy(ROOT / "examples" / "birds_preds.csv", inp / "preds.csv")
    shutil.copy(ROOT / "taxonomies" / "birds.json", inp / "birds.json")
    shutil.copy(ROOT / "taxonomies" / "fashion_mnist.json", inp / "fashion.json")
    shutil.copytree(MINI, inp / "data")
    cfg = {
        "taxonomy": str(inp / "fashion.json"),
        "train_rank": "group",
        "method": "ce",
        "seed": 1,
        "device": "cpu",
        "threads": 1,
        "data": {"root": str(inp / "data"), "train_per_class": 4, "test_per_class": 2},
        "model": {"preset": "vit_nano", "patch_size": 7},
        "optim": {"epochs": 1, "batch_size": 20, "warmup_epochs": 0.5},
        "eval": {"every": 0, "knn_k": 3},
        "log": {"progress": False},
    }
    (inp / "config.yaml").write_text(yaml.safe_dump(cfg))
    (w / "out").mkdir()
    res = runner.invoke(
        app,
        ["train", "-c", str(inp / "config.yaml"), "-o", str(w / "out" / "run"), "--no-progress"],
    )
    assert res.exit_code == 0, res.output
    return w


# (name, arguments with {i} = inputs/ and {o} = out/, expected exit status, declared outputs)
CASES = [
    (
        "evaluate",
        "evaluate {i}/preds.csv -t {i}/birds.json -f json -o {o}/r.json "
        "--per-class {o}/pc.csv --plot {o}/plots",
        0,
        ["r.json", "pc.csv", "plots"],
    ),
    (
        "evaluate onto its input",
        "evaluate {i}/preds.csv -t {i}/birds.json -o {i}/preds.csv --per-class {o}/pc2.csv",
        2,
        [],
    ),
    ("evaluate, bad taxonomy", "evaluate {i}/preds.csv -t {i}/preds.csv -o {o}/r2.json", 2, []),
    (
        "compare",
        "compare {i}/preds.csv {i}/preds.csv -t {i}/birds.json -b 20 -o {o}/c.md -f markdown",
        0,
        ["c.md"],
    ),
    (
        "compare onto the taxonomy",
        "compare {i}/preds.csv {i}/preds.csv -t {i}/birds.json -o {i}/birds.json",
        2,
        [],
    ),
    ("decide", "decide {i}/preds.csv -t {i}/birds.json -o {o}/crm.csv", 0, ["crm.csv"]),
    ("decide onto its input", "decide {i}/preds.csv -t {i}/birds.json -o {i}/preds.csv", 2, []),
    ("taxonomy info", "taxonomy info {i}/birds.json", 0, []),
    ("taxonomy validate", "taxonomy validate {i}/birds.json", 0, []),
    (
        "taxonomy convert",
        "taxonomy convert {i}/birds.json {o}/birds.tsv --to ranks",
        0,
        ["birds.tsv"],
    ),
    ("taxonomy convert onto itself", "taxonomy convert {i}/birds.json {i}/birds.json", 2, []),
    ("train", "train -c {i}/config.yaml -o {o}/run2 --no-progress", 0, ["run2"]),
    ("train over an existing run", "train -c {i}/config.yaml -o {o}/run --no-progress", 2, []),
    ("train, --out a file", "train -c {i}/config.yaml -o {i}/config.yaml --no-progress", 2, []),
    ("predict", "predict --checkpoint {o}/run/checkpoint.pt -o {o}/p.csv --knn 3", 0, ["p.csv"]),
    (
        "predict onto the checkpoint",
        "predict --checkpoint {o}/run/checkpoint.pt -o {o}/run/checkpoint.pt",
        2,
        [],
    ),
    (
        "predict onto its data",
        "predict --checkpoint {o}/run/checkpoint.pt -o {i}/data/train-labels-idx1-ubyte.gz",
        2,
        [],
    ),
]


@pytest.mark.parametrize("name, argv, code, outputs", CASES, ids=[c[0] for c in CASES])
def test_nothing_outside_declared_outputs_changes(world: Path, name, argv, code, outputs) -> None:
    args = argv.format(i=world / "inputs", o=world / "out").split()
    before = snapshot(world)
    set_read_only(world / "inputs", True)
    try:
        res = runner.invoke(app, args)
    finally:
        set_read_only(world / "inputs", False)
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    if code == 2:
        assert "error:" in res.output
    after = snapshot(world)
    declared = [f"out/{o}" for o in outputs]

    def is_declared(path: str) -> bool:
        return any(path == d or path.startswith(d + os.sep) for d in declared)

    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert {p for p in changed if not is_declared(p)} == set(), name
    for d in declared:
        assert d in after, f"{name}: {d} was not written"
    for p in changed:  # leave the world as it was for the next case
        target = world / p
        if p not in before:
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
