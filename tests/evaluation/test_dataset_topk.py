"""Top-k Parquet datasets (id, predicted, y_true) and --truth for datasets without y_true
(top-k and long): equal to the single-file reports; bad rows exit 2 naming file, row, column."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="datasets need pyarrow ([parquet] extra)")
pq = pytest.importorskip("pyarrow.parquet")

from typer.testing import CliRunner  # noqa: E402

from taxovit.cli import app  # noqa: E402
from taxovit.errors import TaxovitError  # noqa: E402
from taxovit.evaluation.dataset import evaluate_dataset  # noqa: E402
from taxovit.taxonomy import save_taxonomy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_dataset import LEAVES, long_rows, write_parts  # noqa: E402
from test_evaluation import hand_taxonomy  # noqa: E402
from test_streaming import _same  # noqa: E402


def topk_rows(n: int, k: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "id": np.array([f"s{i}" for i in range(n)]),
        "predicted": np.array([" ".join(rng.permutation(LEAVES)[:k]) for _ in range(n)]),
        "y_true": rng.choice(LEAVES[:4], n),
    }


@pytest.fixture
def tax(tmp_path) -> Path:
    path = tmp_path / "tax.json"
    save_taxonomy(hand_taxonomy(), path)
    return path


def _json(args: list[str], out: Path) -> dict:
    res = CliRunner().invoke(app, ["evaluate", *args, "-f", "json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def _truth(rows: dict, path: Path) -> Path:
    order = np.random.default_rng(9).permutation(len(rows["id"]))  # another order
    with path.open("w") as f:
        f.write("id,expected\n")
        f.writelines(f"{rows['id'][i]},{rows['y_true'][i]}\n" for i in order)
    return path


def _drop_truth(rows: dict) -> dict:
    return {k: v for k, v in rows.items() if k != "y_true"}


def test_topk_dataset_equals_single_file(tmp_path, tax) -> None:
    rows = topk_rows(90)
    write_parts(rows, tmp_path / "lake", [10, 50, 51])
    write_parts(_drop_truth(rows), tmp_path / "lake_nt", [40, 41, 70])
    single = tmp_path / "one.csv"
    single.write_text(
        "id,predicted\n"
        + "".join(f"{a},{b}\n" for a, b in zip(rows["id"], rows["predicted"], strict=True))
    )
    truth = _truth(rows, tmp_path / "truth.csv")
    top = ["-t", str(tax), "--top-k", "1", "--top-k", "3"]
    one = _json([str(single), "--truth", str(truth), *top], tmp_path / "1.json")
    lake = _json([str(tmp_path / "lake"), *top], tmp_path / "2.json")
    lake_nt = _json([str(tmp_path / "lake_nt"), "--truth", str(truth), *top], tmp_path / "3.json")
    for got in (lake, lake_nt):
        for key, want in one["metrics"].items():
            assert got["metrics"][key] == (
                pytest.approx(want, rel=1e-12) if isinstance(want, float) else want
            ), key
    assert one["metrics"]["top3_accuracy"] is not None
    boot = ["--bootstrap", "25", *top]  # Poisson weights from the ids: any partitioning
    a = _json([str(tmp_path / "lake"), *boot], tmp_path / "4.json")["confidence_intervals"]
    b = _json([str(tmp_path / "lake_nt"), "--truth", str(truth), *boot], tmp_path / "5.json")
    assert a == b["confidence_intervals"] and "top3_accuracy" in a


def test_long_dataset_with_truth_file(tmp_path, tax) -> None:
    rows = long_rows(40)
    write_parts(rows, tmp_path / "lake", [30, 60])
    write_parts(_drop_truth(rows), tmp_path / "nt", [3, 90])
    per_id = {"id": rows["id"][::3], "y_true": rows["y_true"][::3]}
    truth = _truth(per_id, tmp_path / "truth.csv")
    want = evaluate_dataset(tmp_path / "lake", hand_taxonomy(), top_k=(1, 3)).compute()
    got = evaluate_dataset(tmp_path / "nt", hand_taxonomy(), top_k=(1, 3), truth=truth)
    _same(got.compute(), want)
    boot = ["-t", str(tax), "--bootstrap", "20", "--top-k", "1", "--top-k", "3"]
    a = _json([str(tmp_path / "lake"), *boot], tmp_path / "a.json")
    b = _json([str(tmp_path / "nt"), "--truth", str(truth), *boot], tmp_path / "b.json")
    assert a["confidence_intervals"] == b["confidence_intervals"]


def _fails(args: list[str], tmp_path: Path, *where: str) -> None:
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["evaluate", *args, "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and not out.exists()
    text = " ".join(res.output.split())
    for part in where:
        assert part in text, (part, text)


def test_bad_rows_name_file_row_column(tmp_path, tax) -> None:
    rows = topk_rows(20)
    rows["predicted"][13] = "a1 zz b1"  # file f001 holds rows 10..19: its row 4
    write_parts(rows, tmp_path / "unknown", [10], hive=False)
    _fails(
        [str(tmp_path / "unknown"), "-t", str(tax)],
        tmp_path,
        "f001.parquet",
        "row 4",
        "'predicted'",
        "zz",
    )
    rows = topk_rows(20)
    rows["predicted"][12] = "a1 b1"  # 2 labels, the dataset's first row has 3
    write_parts(rows, tmp_path / "k", [10], hive=False)
    _fails(
        [str(tmp_path / "k"), "-t", str(tax)], tmp_path, "f001.parquet", "'predicted'", "2 labels"
    )
    rows = topk_rows(20)
    rows["id"][5] = rows["id"][3]  # in one batch (row groups of 7 rows)
    write_parts(rows, tmp_path / "dup", [], hive=False)
    _fails(
        [str(tmp_path / "dup"), "-t", str(tax)],
        tmp_path,
        "f000.parquet",
        "row 6",
        "'id'",
        "duplicate id",
    )


def test_truth_errors_and_refusals(tmp_path, tax) -> None:
    rows = topk_rows(20)
    truth = _truth(rows, tmp_path / "truth.csv")
    bad = dict(_drop_truth(rows))
    bad["id"] = bad["id"].copy()
    bad["id"][15] = "nope"
    write_parts(bad, tmp_path / "missing", [10], hive=False)
    args = ["-t", str(tax), "--truth", str(truth)]
    _fails(
        [str(tmp_path / "missing"), *args],
        tmp_path,
        "f001.parquet",
        "row 6",
        "'id'",
        "not in the truth file",
    )
    again = dict(_drop_truth(rows))
    again["id"] = again["id"].copy()
    again["id"][15] = again["id"][2]  # in an earlier file
    write_parts(again, tmp_path / "again", [10], hive=False)
    _fails([str(tmp_path / "again"), *args], tmp_path, "f001.parquet", "row 6", "met before")
    write_parts({k: v[:19] for k, v in _drop_truth(rows).items()}, tmp_path / "short", [10])
    _fails([str(tmp_path / "short"), *args], tmp_path, "truth.csv", "'id'", "not in the dataset")
    write_parts(rows, tmp_path / "both", [10])
    _fails([str(tmp_path / "both"), *args], tmp_path, "y_true column or --truth FILE")
    write_parts(_drop_truth(rows), tmp_path / "none", [10])
    _fails([str(tmp_path / "none"), "-t", str(tax)], tmp_path, "y_true column or --truth FILE")
    wide = {"id": rows["id"], "y_true": rows["y_true"], "y_pred": rows["y_true"]}
    write_parts(wide, tmp_path / "wide", [10])
    _fails([str(tmp_path / "wide"), *args], tmp_path, "f000.parquet", "this one is wide")
    dask = [str(tmp_path / "none"), *args, "--engine", "dask"]
    _fails(dask, tmp_path, "--truth is not available with --engine dask")
    with pytest.raises(TaxovitError, match="not in the dataset"):
        evaluate_dataset(tmp_path / "short", hand_taxonomy(), truth=truth)


def test_truth_lookup_by_hash_equals_a_pandas_index(tmp_path) -> None:
    import pandas as pd

    from taxovit.evaluation.dataset_truth import TruthLookup
    from taxovit.predictions.labels import label_map

    rows = topk_rows(300)
    lookup = TruthLookup(_truth(rows, tmp_path / "t.csv"), label_map(hand_taxonomy(), None))
    query = np.r_[rows["id"][::-1], ["s1000", "", "s1"]].astype(object)
    got = lookup.positions(query)
    lookup.index = pd.Index(np.asarray(lookup.ids.to_pylist(), dtype=object))  # the fallback
    assert np.array_equal(got, lookup.positions(query)) and (got[-3:-1] == -1).all()
    assert (got[:-3] >= 0).all() and got[-1] == got[298]  # "s1" twice: the same row
