"""Bootstrap at scale: B resamples of every metric, vectorised vs one resample at a time.

    python benchmarks/bench_bootstrap.py [--n 1000000] [--b 1000] [--scores]

Target (issue "Is model B really better?"): B = 1,000 resamples of every non-mAP metric at
1 M rows in under 30 s on 2 cores. The one-at-a-time loop (the previous implementation:
one weighted pass over all samples per resample) is timed on a few resamples in the same
run and extrapolated to B.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, synthetic_predictions, synthetic_tree  # noqa: E402

from taxovit.evaluation.bootstrap import bootstrap_draws  # noqa: E402
from taxovit.evaluation.context import build_context  # noqa: E402
from taxovit.evaluation.statistics import batch_of_one, statistics_of  # noqa: E402
from taxovit.metrics import components  # noqa: E402
from taxovit.metrics.table import compute  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--b", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=5, help="resamples timed for the loop")
    ap.add_argument("--scores", action="store_true", help="add 100-column scores (top-k keys)")
    a = ap.parse_args()
    print(machine())
    tax = synthetic_tree()
    t, p = synthetic_predictions(tax, a.n, seed=0)
    scores = ids = None
    if a.scores:
        ids = np.asarray(tax.ids(tax.leaves[:100]))
        scores = np.random.default_rng(1).random((a.n, ids.size))
    ctx = build_context(components(t, p, tax), tax, scores, ids, (1, 5))
    st = statistics_of(ctx, None, rows=False)

    t0 = time.perf_counter()
    draws = bootstrap_draws(st, a.b, seed=0)
    ours = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(a.loop):
        w = np.bincount(rng.integers(0, a.n, a.n), minlength=a.n).astype(np.float64)
        compute(st.layout, batch_of_one(st.weighted_sums(w)))
    loop = (time.perf_counter() - t0) / a.loop * a.b
    print(f"n={a.n:,} B={a.b:,} scores={a.scores} keys={len(draws)}")
    print(f"vectorised bootstrap  {ours:8.2f} s   ({ours / a.b * 1e3:.1f} ms per resample)")
    print(f"one at a time (est.)  {loop:8.2f} s   ratio {loop / ours:.1f}x")
    print(f"target < 30 s: {'met' if ours < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
