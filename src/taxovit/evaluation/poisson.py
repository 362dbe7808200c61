"""Poisson bootstrap of a dataset read in any partitioning or order.

The out-of-core reader never holds all samples, so the multinomial bootstrap of
:mod:`taxovit.evaluation.bootstrap` (which draws n indices) is out of reach. The Poisson
bootstrap (Hanley & MacGibbon 2006; Chamandy et al. 2012, "Estimating uncertainty for
massive data streams") gives every sample an independent Poisson(1) weight per resample,
and here that weight is a pure function of (sample id, resample, seed): a splitmix64 hash of
the id's 64-bit hash (:func:`pandas.util.hash_array`), mixed with the resample and the seed,
mapped through the Poisson(1) quantile function. So the weights, hence the intervals, do not
depend on how the rows are split into files, batches or workers, nor on their order.

The state is B weighted copies of the streaming state (sums ``(B,)``, per-class counts
``(B, k)``): its memory depends on B and the taxonomy, not on the number of samples.
Intervals are percentiles of the table's values over the B resamples (mAP and
``ece_adaptive`` need every score: no interval).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError
from taxovit.evaluation.streaming import StreamingEvaluator

__all__ = ["PoissonState", "evaluate_poisson", "poisson_weights"]

_M1, _M2, _GOLD, _SEED = (
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xD1B54A32D192ED03),
)
# Poisson(1) CDF up to 20 (P(X > 20) < 1e-19, below a double's resolution of u)
_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(21)])


def _mix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def poisson_weights(ids: Any, n_resamples: int, seed: int) -> NDArray[np.float64]:
    """``(n, B)`` Poisson(1) weights of the samples ``ids`` (strings), a function of (id,
    resample, seed) only."""
    import pandas as pd

    h = pd.util.hash_array(np.asarray(ids, dtype=object)).astype(np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64
        r = np.arange(1, n_resamples + 1, dtype=np.uint64) * _GOLD + np.uint64(seed) * _SEED
        z = _mix(h[:, None] + r[None, :])
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.searchsorted(_CDF, u, side="right").astype(np.float64)


class PoissonState:
    """The point state plus B Poisson-weighted copies; ``update`` takes the samples' ids."""

    wants_ids = True

    def __init__(
        self, taxonomy: Any, n_resamples: int, seed: int = 0, top_k: Sequence[int] = (1, 5)
    ) -> None:
        self.point = StreamingEvaluator(taxonomy, top_k=top_k)
        self.b, self.seed = int(n_resamples), int(seed)
        self.sums: dict[str, NDArray] = {}
        self.counts: dict[str, NDArray] = {}

    def update(
        self,
        y_true: NDArray,
        y_pred: NDArray,
        scores: None = None,
        ranked: NDArray | None = None,
        ids: Any = None,
    ) -> None:
        """Add a batch of node ids with their ranked candidates and sample ids."""
        from taxovit.evaluation.context import as_ranked, build_context
        from taxovit.evaluation.statistics import statistics_of
        from taxovit.metrics import components

        if scores is not None or ids is None:
            raise ArgumentError("the Poisson bootstrap needs sample ids and takes no score matrix")
        self.point.update(y_true, y_pred, ranked=ranked)
        tax = self.point.taxonomy
        comp = components(y_true, y_pred, tax)
        r = None if ranked is None else as_ranked(ranked, comp.y_true.size, tax.index.n)
        st = statistics_of(
            build_context(comp, tax, None, None, self.point.top_k, r), None, rows=False
        )
        w = poisson_weights(ids, self.b, self.seed)
        wt = np.ascontiguousarray(w.T)
        for name, col in st.columns.items():
            self.sums[name] = self.sums.get(name, 0.0) + np.asarray(col, dtype=np.float64) @ w
        for suffix, conf in self.point.confusions(comp.y_true, comp.y_pred):
            per = [conf.counts(wt[j]) for j in range(self.b)]
            for name in per[0]:
                got = np.stack([np.asarray(c[name], dtype=np.float64) for c in per])
                self.counts[name + suffix] = self.counts.get(name + suffix, 0.0) + got

    def merge(self, other: PoissonState) -> PoissonState:
        self.point.merge(other.point)
        for mine, theirs in ((self.sums, other.sums), (self.counts, other.counts)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0.0) + v
        return self

    def report(self, ci: float) -> Any:
        """The point report with percentile intervals over the resamples."""
        from taxovit.evaluation.bootstrap import percentile_intervals
        from taxovit.metrics.table import compute

        report = self.point.compute()
        state = {**self.sums, **self.counts}
        draws = compute(self.point.layout, lambda name: np.asarray(state[name], dtype=np.float64))
        report.intervals = percentile_intervals(draws, ci)
        report.bootstrap = {
            "resamples": self.b,
            "ci": ci,
            "seed": self.seed,
            "method": "percentile, Poisson weights hashed from the sample ids",
        }
        return report


def evaluate_poisson(
    path: str | os.PathLike[str],
    taxonomy: Any,
    *,
    n_resamples: int,
    ci: float = 0.95,
    seed: int = 0,
    top_k: Sequence[int] = (1, 5),
    label_attr: str | None = None,
    batch_rows: int = 1 << 18,
    score_kind: str = "probs",
) -> Any:
    """The report of a long Parquet dataset with Poisson bootstrap intervals."""
    from taxovit.evaluation.arguments import as_taxonomy
    from taxovit.evaluation.dataset import dataset_files, file_state, guarded, schema_spec
    from taxovit.predictions.labels import label_map

    if not 0 < ci < 1:
        raise ArgumentError(f"ci must be in (0, 1), got {ci}")
    tax = as_taxonomy(taxonomy)
    files = dataset_files(path)
    spec = schema_spec(files)
    if spec.layout != "long":
        raise ArgumentError(
            "--bootstrap on a dataset needs the long layout (id,label,score,y_true): "
            "the resample weights are hashed from the ids"
        )
    labels = label_map(tax, label_attr)
    state = PoissonState(tax, n_resamples, seed, top_k)
    for f in files:
        with guarded(f):
            file_state(state, [f], spec, labels, batch_rows)  # type: ignore[arg-type]
    return state.report(ci)
