"""taxovit compare: paired bootstrap intervals and p-values, McNemar's exact test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from typer.testing import CliRunner

import taxovit
from taxovit.cli import app
from taxovit.evaluation.compare import compare, mcnemar
from taxovit.metrics import table
from taxovit.predictions import Predictions

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
FASHION = ROOT / "taxonomies" / "fashion_mnist.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_identical_files_give_zero_and_p_one(tmp_path: Path) -> None:
    copy = tmp_path / "copy.csv"
    shutil.copy(EXAMPLE, copy)
    res = run("compare", EXAMPLE, copy, "-t", BIRDS, "-b", 200, "-f", "json")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["mcnemar"] == {"a_only": 0, "b_only": 0, "p": 1.0}
    for key, e in obj["metrics"].items():
        if e["a"] is not None and table.lookup(key)[0].resample:
            assert e["diff"] == 0 and e["p"] == 1.0 and e["ci"] == [0.0, 0.0], key
        elif e["a"] is not None:  # mAP, ece_adaptive: need every score, no interval
            assert e["diff"] == 0 and e["p"] is None and e["ci"] is None, key
    for rank, entries in obj["per_rank"].items():
        assert entries["mcnemar"]["p"] == 1.0 and entries["accuracy"]["diff"] == 0, rank


def _preds(tax, ids, t, p) -> Predictions:
    return Predictions(
        np.asarray(ids, dtype=object),
        tax.ids(t),
        tax.ids(p),
        np.zeros(0, dtype=np.int64),
        None,
        "x.csv",
    )


def test_mcnemar_equals_scipy_and_rows_are_paired_by_id() -> None:
    tax = taxovit.load_taxonomy(FASHION)
    rng = np.random.default_rng(0)
    leaves = np.array(tax.leaves)
    t = rng.choice(leaves, 300)
    pa = np.where(rng.random(300) < 0.6, t, rng.choice(leaves, 300))
    pb = np.where(rng.random(300) < 0.7, t, rng.choice(leaves, 300))
    ids = [f"s{i}" for i in range(300)]
    order = rng.permutation(300)  # B lists the same samples in another order
    a = _preds(tax, ids, t, pa)
    b = _preds(tax, [ids[i] for i in order], t[order], pb[order])
    res = compare(a, b, tax, bootstrap=100)
    a_only = int(np.sum((pa == t) & (pb != t)))
    b_only = int(np.sum((pb == t) & (pa != t)))
    expected = binomtest(b_only, a_only + b_only, 0.5).pvalue
    assert res.mcnemar == {"a_only": a_only, "b_only": b_only, "p": pytest.approx(expected)}
    acc = res.metrics["accuracy"]
    assert acc["diff"] == pytest.approx(np.mean(pb == t) - np.mean(pa == t))
    assert mcnemar(np.array([True]), np.array([True]))["p"] == 1.0


def test_interval_covers_the_true_difference_at_the_nominal_rate() -> None:
    """Simulated pairs with a known population difference in accuracy (0.05)."""
    tax = taxovit.load_taxonomy(FASHION)
    leaves = np.array(tax.leaves)
    rng = np.random.default_rng(7)
    n, sims, covered = 300, 80, 0
    for _ in range(sims):
        t = rng.choice(leaves, n)
        u = rng.random(n)  # shared difficulty: correlated correctness, as for two real models
        a_ok = u < 0.70
        b_ok = np.where(rng.random(n) < 0.5, u < 0.75, rng.random(n) < 0.75)  # P = 0.75
        wrong = np.array([leaves[(list(leaves).index(x) + 1) % len(leaves)] for x in t])
        a = _preds(tax, range(n), t, np.where(a_ok, t, wrong))
        b = _preds(tax, range(n), t, np.where(b_ok, t, wrong))
        lo, hi = compare(
            a, b, tax, bootstrap=300, seed=int(rng.integers(1 << 30)), top_k=(1,)
        ).metrics["accuracy"]["ci"]
        covered += lo <= 0.05 <= hi
    # nominal 95 % (80 simulations: sd 2.4 points); percentile intervals run a little short
    assert 0.88 <= covered / sims <= 1.0


def test_files_that_do_not_pair_are_refused(tmp_path: Path) -> None:
    df = pd.read_csv(EXAMPLE)
    df.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    res = run("compare", EXAMPLE, tmp_path / "short.csv", "-t", BIRDS, "-b", 0)
    assert res.exit_code == 2 and "different ids" in res.output and df["id"].iloc[-1] in res.output
    other = df.copy()
    other.loc[5, "y_true"] = (
        "Laysan_Albatross" if df.loc[5, "y_true"] != "Laysan_Albatross" else "Mallard"
    )
    other.to_csv(tmp_path / "truth.csv", index=False)
    res = run("compare", EXAMPLE, tmp_path / "truth.csv", "-t", BIRDS, "-b", 0)
    assert res.exit_code == 2 and "different y_true" in res.output and df["id"][5] in res.output
    res = run("compare", EXAMPLE, tmp_path / "truth.csv", "-t", BIRDS, "-o", EXAMPLE)
    assert res.exit_code == 2 and "same file" in res.output


def test_table_csv_and_markdown(tmp_path: Path) -> None:
    for fmt in ("table", "csv", "markdown"):
        res = run(
            "compare",
            EXAMPLE,
            EXAMPLE,
            "-t",
            BIRDS,
            "-b",
            50,
            "-f",
            fmt,
            "-o",
            tmp_path / f"c.{fmt}",
        )
        assert res.exit_code == 0, res.output
        text = (tmp_path / f"c.{fmt}").read_text()
        assert "accuracy" in text and "mistake_severity" in text


def test_two_top_k_submissions_with_a_truth_file(tmp_path: Path) -> None:
    df = pd.read_csv(EXAMPLE)
    scores = df.filter(like="score_")
    labels = np.array([c[len("score_") :] for c in scores.columns])
    order = np.argsort(-scores.to_numpy(), axis=1, kind="stable")[:, :5]
    rng = np.random.default_rng(0)
    worse = np.where(rng.random((len(df), 1)) < 0.3, order[:, ::-1], order)  # B: 30 % reversed
    for name, rows in (("a", order), ("b", worse)):
        pd.DataFrame({"id": df["id"], "predicted": [" ".join(labels[r]) for r in rows]}).to_csv(
            tmp_path / f"{name}.csv", index=False
        )
    df[["id", "y_true"]].rename(columns={"y_true": "expected"}).to_csv(
        tmp_path / "truth.csv", index=False
    )
    res = run(
        "compare",
        tmp_path / "a.csv",
        tmp_path / "b.csv",
        "-t",
        BIRDS,
        "--truth",
        tmp_path / "truth.csv",
        "-b",
        100,
        "-f",
        "json",
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    top1_a = np.mean(labels[order[:, 0]] == df["y_true"])
    top1_b = np.mean(labels[worse[:, 0]] == df["y_true"])
    assert m["top1_accuracy"]["diff"] == pytest.approx(top1_b - top1_a)
    assert m["top5_accuracy"]["diff"] == 0 and m["top5_accuracy"]["p"] == 1.0  # same 5 labels
    assert m["map_macro"]["a"] is None  # a top-k file has no full scores
