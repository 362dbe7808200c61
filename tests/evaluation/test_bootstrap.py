"""The vectorised bootstrap (taxovit.evaluation.bootstrap) equals evaluating each resample."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxovit import evaluate
from taxovit.evaluation.bootstrap import build_units, resample_metrics
from taxovit.evaluation.context import build_context
from taxovit.evaluation.score_metrics import ScoreInputs
from taxovit.evaluation.statistics import batch_of_one, statistics_of
from taxovit.metrics import components
from taxovit.metrics.table import compute

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_evaluation import problems  # noqa: E402


@given(problems(with_scores=True, ranked=True), st.booleans(), st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_matrix_equals_the_one_at_a_time_loop(prob, use_scores, seed) -> None:
    tax, t, p, cols, scores = prob
    comp = components(t, p, tax)
    ctx = build_context(
        comp, tax, scores if use_scores else None, tax.ids(cols) if use_scores else None, (1, 2, 5)
    )
    inputs = None
    if use_scores:
        inputs = ScoreInputs(
            tax, ctx.comp.y_true, ctx.true_col, ctx.scores, ctx.score_ids, (1, 2, 5)
        )
    st = statistics_of(ctx, inputs, rows=False)
    units = build_units(st)
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 4, size=(7, t.size)).astype(np.float64)  # any weights, zeros too
    wu = np.stack([np.bincount(units.unit_of, weights=row, minlength=units.n_units) for row in w])
    batch = resample_metrics(units, wu)
    for r in range(w.shape[0]):  # the one-at-a-time definition: sums weighted per sample
        loop = compute(st.layout, batch_of_one(st.weighted_sums(w[r])))
        assert list(loop) == list(batch)  # same keys, same order
        for key, value in loop.items():
            got = batch[key][r]
            if np.isnan(value[0]):
                assert np.isnan(got), key
            else:
                assert got == pytest.approx(value[0], rel=1e-12, abs=1e-12), key


def test_units_are_few_without_scores() -> None:
    rng = np.random.default_rng(0)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from _common import synthetic_predictions, synthetic_tree

    tax = synthetic_tree()
    t, p = synthetic_predictions(tax, 50_000, seed=1)
    ctx = build_context(components(t, p, tax), tax, None, None, (1, 5))
    units = build_units(statistics_of(ctx, None, rows=False))
    assert units.n_units < 0.8 * t.size
    r = evaluate(t[:2000], p[:2000], tax, bootstrap=50, seed=int(rng.integers(100)))
    assert r.intervals["accuracy"][0] <= r.metrics["accuracy"] <= r.intervals["accuracy"][1]
