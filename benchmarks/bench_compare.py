"""``taxovit compare`` with scores and ``--bootstrap``: sums resampled vs score metrics recomputed.

    python benchmarks/bench_compare.py [--n 100000] [--classes 1000] [--b 2000] [--loop 3]

Target (issue 23): two models' scores, 100k samples x 1,000 classes, 2,000 paired bootstrap
resamples in under 60 s. Every sum-decomposable metric (all but mAP and ``ece_adaptive``,
which get no interval) is resampled as weighted sums of per-sample statistics. The peer is
the previous implementation's cost: mAP and calibration recomputed on each resample's rows
(flat and per rank), timed on ``--loop`` resamples in the same run and extrapolated to
B resamples x 2 models.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, synthetic_predictions, synthetic_tree  # noqa: E402

from taxovit.evaluation.compare import compare  # noqa: E402
from taxovit.evaluation.core import evaluate_point  # noqa: E402
from taxovit.evaluation.statistics import row_metrics  # noqa: E402
from taxovit.predictions import Predictions  # noqa: E402


def _scores(rng: np.random.Generator, pred_col: np.ndarray, c: int) -> np.ndarray:
    """Probabilities with most mass on the predicted column (float64, rows sum to 1)."""
    s = rng.random((pred_col.size, c)) ** 8
    s[np.arange(pred_col.size), pred_col] += c / 20
    return s / s.sum(axis=1, keepdims=True)


def _model(tax, t, p, leaves, seed: int) -> Predictions:
    col_of = {int(x): i for i, x in enumerate(leaves)}
    pred_col = np.array([col_of.get(int(x), 0) for x in p])
    scores = _scores(np.random.default_rng(seed), pred_col, leaves.size)
    ids = np.array([f"s{i}" for i in range(t.size)], dtype=object)
    return Predictions(ids, t, p, leaves, scores, "model.csv")


def _previous_per_resample(pred: Predictions, tax, n: int, loop: int) -> float:
    """Seconds per resample of the previous code, a lower bound: mAP, the per-rank marginals
    and an ECE recomputed on the drawn rows (it also recomputed brier, nll and the rest)."""
    _, _, inputs = evaluate_point(
        pred.y_true, pred.y_pred, tax, pred.scores, score_labels=pred.score_labels
    )
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(loop):
        row_metrics(inputs.rows(rng.integers(0, n, n)))  # mAP, per-rank marginals, ECE
    return (time.perf_counter() - t0) / loop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--b", type=int, default=2000)
    ap.add_argument("--loop", type=int, default=3, help="resamples timed for the previous code")
    a = ap.parse_args()
    print(machine())
    c = a.classes
    tax = synthetic_tree((1, 10, 50, 200, c))
    t, p = synthetic_predictions(tax, a.n, seed=0)
    leaves = np.flatnonzero(np.diff(tax.index.child_ptr) == 0)
    ma = _model(tax, t, p, leaves, 1)
    _, p2 = synthetic_predictions(tax, a.n, seed=5)
    mb = _model(tax, t, np.where(np.random.default_rng(2).random(a.n) < 0.5, p, p2), leaves, 2)

    t0 = time.perf_counter()
    cmp = compare(ma, mb, tax, bootstrap=a.b, seed=0)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    compare(ma, mb, tax, bootstrap=0)
    point = time.perf_counter() - t0
    per = _previous_per_resample(ma, tax, a.n, a.loop)
    before = point + 2 * a.b * per
    with_ci = sum(1 for _, e in cmp.rows() if e["ci"] is not None)
    print(f"n={a.n:,} classes={c:,} B={a.b:,} ranks={len(tax.rank_names)} keys with CI={with_ci}")
    print(f"compare, no bootstrap             {point:8.2f} s")
    print(f"compare --bootstrap {a.b:<5}         {ours:8.2f} s   (bootstrap {ours - point:.2f} s)")
    print(
        f"previous (est., score metrics per resample) {before:8.1f} s   ratio {before / ours:.1f}x"
    )
    print(f"target < 60 s: {'met' if ours < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
