"""The writers of every predictions format (taxovit.predictions.writers) and
`taxovit predict --format`: writer -> read_any gives the predictions written, and the same
report as the wide CSV for every key the format supports; the default-size rule; refusals
before anything is computed or written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import taxovit
from taxovit.cli import app
from taxovit.errors import ArgumentError
from taxovit.evaluation.report import flatten_metrics
from taxovit.evaluation.score_metrics import CALIBRATION_KEYS
from taxovit.predictions import MAP_KEYS, read_any
from taxovit.predictions import writers as W

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
TOP_K = (1, 3, 5)
K = 3
runner = CliRunner()


@pytest.fixture(scope="module")
def tax() -> taxovit.Taxonomy:
    return taxovit.load_taxonomy(BIRDS)


@pytest.fixture(scope="module", params=["ties", "distinct"])
def preds(tax, request):
    """120 ids, 20 species + 4 internal classes; scores in quarters (ties, at the top too)
    or distinct within each row, exact in CSV's 6 digits either way."""
    rng = np.random.default_rng(0)
    species = [str(s) for s in rng.choice(sorted(tax.leaves), 22, replace=False)]
    classes = species[:20] + list(dict.fromkeys(tax.parents(s)[0] for s in species[:4]))
    n, c = 120, len(classes)
    if request.param == "ties":
        scores = rng.integers(0, 5, size=(n, c)) / 4.0
    else:
        scores = rng.permuted(np.tile(np.arange(c), (n, 1)), axis=1) / 1000.0
    ids = [f"img{i:03d}" for i in range(n)]
    return ids, [str(x) for x in rng.choice(species, n)], classes, scores


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    p = tmp / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def files(tmp: Path, preds) -> dict[str, tuple[Path, Path | None]]:
    ids, y_true, classes, scores = preds
    truth = write(tmp, "truth.csv", W.truth_csv(ids, y_true))
    return {
        "csv": (write(tmp, "w.csv", W.wide_csv(ids, y_true, classes, scores)), None),
        "parquet": (write(tmp, "w.parquet", W.wide_parquet(ids, y_true, classes, scores)), None),
        "npz": (write(tmp, "a.npz", W.npz_bytes(ids, y_true, classes, scores)), None),
        "long-csv": (write(tmp, "l.csv", W.long_csv(ids, y_true, classes, scores)), None),
        "long-parquet": (write(tmp, "l.pq", W.long_parquet(ids, y_true, classes, scores)), None),
        "long-csv-k": (write(tmp, "lk.csv", W.long_csv(ids, y_true, classes, scores, K)), None),
        "long-parquet-k": (
            write(tmp, "lk.parquet", W.long_parquet(ids, y_true, classes, scores, K)),
            None,
        ),
        "topk": (write(tmp, "sub.csv", W.topk_csv(ids, classes, scores, K)), truth),
    }


def report(tax, data):
    labels = data.score_labels if data.scores is not None else None
    rep = taxovit.evaluate(
        data.y_true,
        data.y_pred,
        tax,
        data.scores,
        score_labels=labels,
        ranked=data.ranked,
        notes=data.notes,
        top_k=TOP_K,
    )
    return flatten_metrics({**rep.metrics, "per_rank": rep.per_rank}), rep


def test_every_writer_round_trips(tmp_path, tax, preds) -> None:
    ids, y_true, classes, scores = preds
    best = np.argsort(-scores, axis=1, kind="stable")
    ref_flat, _ = report(tax, read_any(files(tmp_path, preds)["csv"][0], tax.name_to_id))
    null_ranked = {
        *MAP_KEYS,
        *CALIBRATION_KEYS,
        "top5_accuracy",
        "avg_hierarchical_distance_at_5",
        "avg_hierarchical_distance_at_5_depth",
    }
    for fmt, (path, truth) in files(tmp_path, preds).items():
        data = read_any(path, tax.name_to_id, truth=truth)
        assert data.format == fmt.removesuffix("-k"), fmt
        assert list(data.ids) == ids
        assert data.y_true.tolist() == tax.ids(y_true).tolist()
        assert data.y_pred.tolist() == tax.ids([classes[j] for j in best[:, 0]]).tolist(), fmt
        got, rep = report(tax, data)
        if data.ranked is None:  # every class: the same matrix, columns in class order
            assert data.score_labels.tolist() == tax.ids(classes).tolist(), fmt
            np.testing.assert_array_equal(data.scores, scores)
            assert got == ref_flat, fmt
            continue
        assert data.ranked.tolist() == tax.ids(np.array(classes)[best[:, :K]]).tolist(), fmt
        assert got["accuracy"] == ref_flat["accuracy"]
        if (scores == scores.max(axis=1, keepdims=True)).sum() > len(ids):
            continue  # ties: evaluate ranks tied scores later column first, as scikit-learn
        for key, value in ref_flat.items():
            if key in null_ranked:
                assert got.get(key) is None and key in rep.notes, (fmt, key)
            elif key in got:
                assert got[key] == value, (fmt, key)
        assert got["top3_accuracy"] == ref_flat["top3_accuracy"]


def test_cli_evaluates_every_written_file(tmp_path, tax, preds) -> None:
    for fmt, (path, truth) in files(tmp_path, preds).items():
        args = ["evaluate", str(path), "-t", str(BIRDS), "-f", "json", "-k", "1", "-k", "3"]
        res = runner.invoke(app, args + (["--truth", str(truth)] if truth else []))
        assert res.exit_code == 0, (fmt, res.output)
        assert json.loads(res.stdout)["input"]["format"] == fmt.removesuffix("-k")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 80), st.integers(1, 90), st.integers(0, 2**31))
def test_ranked_columns_is_a_stable_sort(n, c, k, seed) -> None:
    s = np.random.default_rng(seed).integers(0, 3, size=(n, c)) / 2.0
    want = np.argsort(-s, axis=1, kind="stable")[:, : min(k, c)]
    np.testing.assert_array_equal(W.ranked_columns(s, k), want)


def test_writers_refuse_disagreeing_arguments() -> None:
    s = np.zeros((2, 3))
    cases = [
        (lambda: W.long_csv(["a"], ["x"], ["x", "y", "z"], s), "scores of shape (2, 3)"),
        (lambda: W.npz_bytes(["a", "b"], ["x"], ["x", "y", "z"], s), "1 true labels for 2 ids"),
        (lambda: W.topk_csv(["a", "b"], ["x", "y z", "w"], s, 2), "contains a space"),
        (lambda: W.topk_csv(["a", "b"], ["x", "y", "w"], s, 0), "k = 0"),
        (lambda: W.wide_parquet(["a", "b"], ["x", "x"], ["x", "x", "y"], s), "listed twice"),
        (lambda: W.long_csv(["a"], ["x"], [], np.zeros((1, 0))), "no classes"),
    ]
    for call, fragment in cases:
        with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            call()


def test_choose_format_defaults_and_refusals() -> None:
    small, big = [f"c{i}" for i in range(W.DEFAULT_MAX_CLASSES)], [f"c{i}" for i in range(10_000)]
    assert W.choose_format(None, small, None) == ("csv", None)
    assert W.choose_format("topk", small, None) == ("topk", W.DEFAULT_TOPK)
    assert W.choose_format("topk", ["a", "b"], None) == ("topk", 2)  # the default 5, capped
    for fmt in ("topk", "long"):  # an explicit K beyond the classes is refused, not capped
        with pytest.raises(ArgumentError, match=r"--top-k 9: the model has 2 classes"):
            W.choose_format(fmt, ["a", "b"], 9)
    assert W.choose_format("long", big, 10) == ("long", 10)
    assert W.choose_format("csv", big, None) == ("csv", None)  # asked for: written
    with pytest.raises(ArgumentError) as e:
        W.choose_format(None, big, None)
    assert "--format long --top-k K" in str(e.value) and "npz" in str(e.value)
    for args, fragment in [
        (("csv", small, 5), "--top-k applies to --format topk and long"),
        (("xml", small, None), "--format 'xml'"),
        (("long", small, 0), "--top-k 0"),
        (("topk", ["Ankle boot"], None), "contains a space"),
    ]:
        with pytest.raises(ArgumentError, match=fragment):
            W.choose_format(*args)


# ----------------------------------------------------------------------- taxovit predict


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch = pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))  # test_train
    from test_train import tiny_config

    from taxovit.training.run.loop import train

    tmp = tmp_path_factory.mktemp("ce")
    torch.set_num_threads(1)
    cfg = tiny_config(tmp, method="ce", train_rank=None, optim={"epochs": 1}, eval={"every": 0})
    train(cfg, out=tmp / "run")
    return tmp / "run" / "checkpoint.pt", cfg["taxonomy"]


@pytest.mark.torch
@pytest.mark.parametrize(
    ("fmt", "name", "extra", "want"),
    [
        (None, "p.csv", [], "csv"),
        ("parquet", "p.parquet", [], "parquet"),
        ("npz", "p.npz", [], "npz"),
        ("long", "p.csv", [], "long-csv"),
        ("long", "p.parquet", ["--top-k", "3"], "long-parquet"),
    ],
)
def test_predict_format(tmp_path, checkpoint, fmt, name, extra, want) -> None:
    ck, tax_path = checkpoint
    out = tmp_path / name
    args = ["predict", "--checkpoint", str(ck), "--out", str(out), *extra]
    res = runner.invoke(app, args + (["--format", fmt] if fmt else []))
    assert res.exit_code == 0, res.output
    tax = taxovit.load_taxonomy(tax_path)
    data = read_any(out, tax.name_to_id)
    assert data.format == want and len(data) == 20
    assert (data.ranked is not None) == bool(extra)
    res = runner.invoke(app, ["evaluate", str(out), "-t", str(tax_path), "-f", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["metrics"]["n_samples"] == 20


@pytest.mark.torch
def test_predict_refuses_before_writing(tmp_path, checkpoint) -> None:
    ck, _ = checkpoint
    for args, fragment in [
        (["--format", "topk"], "contains a space"),  # Fashion-MNIST's 'Ankle boot'
        (["--format", "csv", "--top-k", "2"], "--top-k applies to"),
        (["--format", "npz", "--truth-out", str(tmp_path / "t.csv")], "--truth-out is for"),
        (["--format", "jpeg"], "--format 'jpeg'"),
    ]:
        res = runner.invoke(
            app, ["predict", "--checkpoint", str(ck), "--out", str(tmp_path / "p.csv"), *args]
        )
        assert res.exit_code == 2 and fragment in res.output, (args, res.output)
        assert "Traceback" not in res.output and list(tmp_path.iterdir()) == []


# ------------------------------------------------------- the long reader's fast paths


def test_long_reader_fast_paths_agree_with_the_general_one(tmp_path, tax) -> None:
    """Rows in order (no sort, K per id) vs shuffled (sorted), dictionary vs plain strings,
    Parquet vs CSV: the same candidates per id; a repeated pair found on the same row."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from taxovit.errors import InputError

    rng = np.random.default_rng(3)
    classes = sorted(tax.leaves)[:15]
    n = 40
    scores = rng.permuted(np.tile(np.arange(15), (n, 1)), axis=1) / 100.0  # no ties: row order
    ids, y_true = [f"s{i}" for i in range(n)], [str(x) for x in rng.choice(classes, n)]
    ordered = write(tmp_path, "o.parquet", W.long_parquet(ids, y_true, classes, scores, 4))
    df = pd.read_parquet(ordered).astype(str).assign(score=lambda d: d.score.astype(float))
    shuffled = df.sample(frac=1, random_state=0)
    shuffled.to_csv(tmp_path / "s.csv", index=False)
    table = pa.Table.from_pandas(shuffled, preserve_index=False)
    pq.write_table(table, tmp_path / "s.parquet")
    ref = read_any(ordered, tax.name_to_id)
    by_id = {i: (r.tolist(), p) for i, r, p in zip(ref.ids, ref.ranked, ref.y_pred, strict=True)}
    for path in (tmp_path / "s.csv", tmp_path / "s.parquet"):
        data = read_any(path, tax.name_to_id)
        got = {
            i: (r.tolist(), p) for i, r, p in zip(data.ids, data.ranked, data.y_pred, strict=True)
        }
        assert got == by_id, path
    bad = df.copy()
    bad.loc[6, "label"] = bad.loc[5, "label"]  # id s1: rows 5 and 6 (1-based 6, 7)
    bad.to_csv(tmp_path / "b.csv", index=False)
    pq.write_table(
        pa.Table.from_pandas(bad, preserve_index=False).combine_chunks(), tmp_path / "b.parquet"
    )
    for path, where in ((tmp_path / "b.csv", "line 8"), (tmp_path / "b.parquet", "row 7")):
        with pytest.raises(InputError, match="listed twice") as e:
            read_any(path, tax.name_to_id)
        assert where in str(e.value) and "first seen on" in str(e.value), str(e.value)
