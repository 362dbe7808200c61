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
``(k, B)``): its memory depends on B and the taxonomy, not on the number of samples.
Intervals are percentiles of the table's values over the B resamples (mAP and
``ece_adaptive`` need every score: no interval).

An update is vectorised over the resamples: the batch's samples are grouped into units of
equal signature (:func:`taxovit.evaluation.bootstrap.build_units`), the units' ``(U, B)``
weights summed from the samples' (made a cache-sized chunk at a time), then every sum is one
dense and every per-class count one sparse product with them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError
from taxovit.evaluation.bootstrap import Units, build_units, percentile_intervals
from taxovit.evaluation.exact_sums import N_LIMBS, carry, limbs, value
from taxovit.evaluation.streaming import StreamingEvaluator

__all__ = ["PoissonState", "evaluate_poisson", "poisson_counts", "poisson_weights"]

_M1, _M2, _GOLD, _SEED = (
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xD1B54A32D192ED03),
)
# Poisson(1) CDF up to 20 (P(X > 20) < 1e-19, below a double's resolution of u)
_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(21)])
# u = (z >> 11) * 2**-53 >= CDF[k]  <=>  z >= ceil(CDF[k] * 2**53) << 11 (exact; CDF[k] = 1.0
# is never reached): the quantile function as comparisons of the hash itself
_Z = np.array([math.ceil(c * 2.0**53) << 11 for c in _CDF if c < 1.0], dtype=np.uint64)
_CHUNK = 1 << 16  # weights made per chunk (samples x resamples): 512 KB of hashes
# samples per product: their weights sum below 2**24 (18 at most each): float32 is exact
_MAX_SAMPLES = 1 << 19


def _mix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser, in place (arithmetic modulo 2**64)."""
    tmp = np.empty_like(z)
    for shift, mult in ((30, _M1), (27, _M2), (31, None)):
        np.right_shift(z, np.uint64(shift), out=tmp)
        z ^= tmp
        if mult is not None:
            z *= mult
    return z


def _keys(ids: Any, n_resamples: int, seed: int) -> tuple[NDArray, NDArray]:
    """The ids' 64-bit hashes (n,) and the resamples' offsets (B,)."""
    import pandas as pd

    h = pd.util.hash_array(np.asarray(ids, dtype=object)).astype(np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64
        r = np.arange(1, n_resamples + 1, dtype=np.uint64) * _GOLD + np.uint64(seed) * _SEED
    return h, r


def _counts(h: NDArray[np.uint64], r: NDArray[np.uint64]) -> NDArray[np.uint8]:
    with np.errstate(over="ignore"):
        return poisson_quantile(_mix(h[:, None] + r[None, :]))


def poisson_counts(ids: Any, n_resamples: int, seed: int) -> NDArray[np.uint8]:
    """``(n, B)`` Poisson(1) weights (``uint8``) of the samples ``ids`` (strings), a
    function of (id, resample, seed) only: the Poisson(1) quantile of u, the top 53 bits of
    splitmix64(hash(id) + resample * golden + seed * constant) over 2**53."""
    return _counts(*_keys(ids, n_resamples, seed))


def poisson_quantile(z: NDArray[np.uint64]) -> NDArray[np.uint8]:
    """The Poisson(1) quantile of u = (z >> 11) / 2**53: the number of CDF values <= u."""
    w = (z >= _Z[0]).view(np.uint8)
    w += z >= _Z[1]
    w += z >= _Z[2]
    tail = np.flatnonzero(z >= _Z[3])  # P(X >= 3) = 8 %
    w.ravel()[tail] = np.searchsorted(_Z, z.ravel()[tail], side="right")
    return w


def poisson_weights(ids: Any, n_resamples: int, seed: int) -> NDArray[np.float64]:
    """:func:`poisson_counts` as ``float64``."""
    return poisson_counts(ids, n_resamples, seed).astype(np.float64)


def unit_weights(
    ids: Any, unit_of: NDArray[np.int64], u: int, n_resamples: int, seed: int, dtype: Any
) -> NDArray:
    """``(U, B)`` sums of the samples' Poisson weights per unit: the samples sorted by unit,
    their weights made a cache-sized chunk at a time and summed by unit (differences of a
    running sum at the units' ends: exact, the sums are integers below 2**24)."""
    h, r = _keys(ids, n_resamples, seed)
    order = np.argsort(unit_of, kind="stable")
    su, h = unit_of[order], h[order]
    wu = np.zeros((u, r.size), dtype)
    step = max(1, _CHUNK // max(r.size, 1))
    for s in range(0, su.size, step):
        uc = su[s : s + step]
        ends = np.flatnonzero(np.r_[uc[1:] != uc[:-1], True])
        run = np.cumsum(_counts(h[s : s + step], r), axis=0, dtype=dtype)[ends]
        run[1:] -= run[:-1].copy()
        wu[uc[ends]] += run
    return wu


def _resample_sums(
    units: Units, ids: Any, b: int, seed: int, exact: list[str], conf: dict[str, Any]
) -> tuple[NDArray, NDArray[np.int64], NDArray, dict[str, NDArray[np.int64]]]:
    """B Poisson resamples of the samples ``ids`` (at most :data:`_MAX_SAMPLES`): the
    ``(B, columns)`` sums of the columns not in ``exact``, the ``(B, len(exact), N_LIMBS)``
    limb sums of those in it (:mod:`taxovit.evaluation.exact_sums`), the ``(count rows, B)``
    counts and the ``(bins, B, N_LIMBS)`` limb sums of the binned confidences ``conf``. Every
    product's values are integers below 2**53, so exact; units' weights and counts of ones
    and zeros (below 2**24) in float32, half the memory traffic."""
    import scipy.sparse as sp

    ones = bool(np.isin(units.A.data, (0.0, 1.0)).all())
    wu = unit_weights(ids, units.unit_of, units.n_units, b, seed, np.float32 if ones else float)
    counts = units.A.astype(wu.dtype, copy=False) @ wu
    at = [units.cols[n] for n in exact]
    plain = [i for n, i in units.cols.items() if n not in set(exact)]
    x = np.concatenate([units.X[:, plain], limbs(units.X[:, at]).reshape(units.n_units, -1)], 1)
    m = {n: _conf_limbs(units, v) for n, v in conf.items()}  # (bins x limbs, U)
    tot = np.zeros((b, x.shape[1]))
    conf_tot = {n: np.zeros((v.shape[0], b)) for n, v in m.items()}
    step = max(1, _CHUNK * 64 // max(b, 1))  # float64 copies of 32 MB at most
    for s in range(0, units.n_units, step):
        w64 = wu[s : s + step].astype(np.float64)
        tot += w64.T @ x[s : s + step]
        for n, v in m.items():
            conf_tot[n] += sp.csc_matrix(v[:, s : s + step]) @ w64
    conf_sums = {  # (bins, B, N_LIMBS)
        n: v.astype(np.int64).reshape(-1, N_LIMBS, b).transpose(0, 2, 1).copy()
        for n, v in conf_tot.items()
    }
    exact_sums = tot[:, len(plain) :].astype(np.int64).reshape(b, len(exact), N_LIMBS)
    return tot[:, : len(plain)], exact_sums, counts, conf_sums


def _conf_limbs(units: Units, binned: Any) -> Any:
    """A binned confidence's limbs as a sparse (bins x limbs, units) matrix (confidence:
    every sample is its own unit)."""
    import scipy.sparse as sp

    if units.n_units != units.unit_of.size:
        raise AssertionError("binned confidences need a unit per sample")
    bins, w = binned.bins[units.rep], binned.weights[units.rep]
    ok = np.flatnonzero(bins >= 0)
    rows = (bins[ok, None] * N_LIMBS + np.arange(N_LIMBS)).ravel()
    cols = np.repeat(ok, N_LIMBS)
    shape = (binned.size * N_LIMBS, units.n_units)
    return sp.csc_matrix((limbs(w[ok]).ravel(), (rows, cols)), shape=shape)


def _add(acc: dict[str, NDArray], name: str, got: NDArray, dtype: Any = np.float64) -> None:
    """``acc[name] += got`` in ``dtype`` (floats; int64 limbs stay int64)."""
    if got.dtype.kind != "f":
        dtype = got.dtype
    if name not in acc:
        acc[name] = got.astype(dtype)  # a copy
        return
    if acc[name].dtype != dtype:
        acc[name] = acc[name].astype(dtype)
    acc[name] += got


class PoissonState:
    """The point state plus B Poisson-weighted copies; ``update`` takes the samples' ids."""

    wants_ids = True

    def __init__(
        self, taxonomy: Any, n_resamples: int, seed: int = 0, top_k: Sequence[int] = (1, 5)
    ) -> None:
        if int(n_resamples) < 1 or not 0 <= int(seed) < 1 << 64:
            raise ArgumentError(
                f"Poisson bootstrap: resamples must be >= 1 and the seed in [0, 2**64); "
                f"got {n_resamples} resamples, seed {seed}"
            )
        self.point = StreamingEvaluator(taxonomy, top_k=top_k)
        self.b, self.seed = int(n_resamples), int(seed)
        self.sums: dict[str, NDArray] = {}  # (B,) of integer statistics: exact
        # limbs of float sums: (B, N_LIMBS), or (bins, B, N_LIMBS) of binned confidences
        self.exact: dict[str, NDArray[np.int64]] = {}
        self.counts: dict[str, NDArray] = {}  # (k, B)
        # samples x the largest weight added so far: while below 2**24 every count is an
        # integer float32 holds exactly, and the counts stay float32 (half the traffic)
        self.weight_bound = 0

    def update(
        self,
        y_true: NDArray,
        y_pred: NDArray,
        scores: None = None,
        ranked: NDArray | None = None,
        ids: Any = None,
        ranked_scores: NDArray | None = None,
    ) -> None:
        """Add a batch of node ids with their ranked candidates (and their scores) and the
        sample ids (module docstring: one product per statistic kind for all B resamples)."""
        if scores is not None or ids is None:
            raise ArgumentError("the Poisson bootstrap needs sample ids and takes no score matrix")
        t, p, ids = np.asarray(y_true), np.asarray(y_pred), np.asarray(ids)
        for lo in range(0, t.size, _MAX_SAMPLES):  # keeps every product's sums exact
            at = slice(lo, lo + _MAX_SAMPLES)
            cut = [None if a is None else np.asarray(a)[at] for a in (ranked, ranked_scores)]
            batch = self.point.batch(t[at], p[at], ranked=cut[0], ranked_scores=cut[1])
            confusions = self.point.confusions(batch.comp.y_true, batch.comp.y_pred)
            self.point.add_batch(batch, confusions)  # the point state, from the same batch
            self._add_resamples(batch.statistics, confusions, ids[at])

    def _add_resamples(self, st: Any, confusions: list, ids: Any) -> None:
        from dataclasses import replace

        # counts by node id (flat) and position in the rank, as the point state's; the
        # confidences' bin sums (floats) apart, as exact sums
        conf = {n: v for n, v in st.binned.items() if n.startswith("ece_conf")}
        st = replace(
            st,
            confusions=dict(confusions),
            binned={n: v for n, v in st.binned.items() if n not in conf},
            # per-sample units only for per-sample bins (a batch without them groups)
            layout=replace(st.layout, confidence=bool(st.binned)),
        )
        units = build_units(st)
        exact = [n for n in units.cols if st.columns[n].dtype.kind == "f"]
        sums, limb_sums, counts, conf_sums = _resample_sums(
            units, ids, self.b, self.seed, exact, conf
        )
        for i, name in enumerate(n for n in units.cols if n not in set(exact)):
            _add(self.sums, name, sums[:, i])
        self.weight_bound += units.unit_of.size * _Z.size
        dtype = np.float32 if self.weight_bound < 1 << 24 else np.float64
        for name, rows in units.count_rows.items():
            _add(self.counts, name, counts[rows], dtype)
        for name, got in [
            *zip(exact, np.moveaxis(limb_sums, 1, 0), strict=True),
            *conf_sums.items(),
        ]:
            _add(self.exact, name, got)
            carry(self.exact[name])

    def merge(self, other: PoissonState) -> PoissonState:
        """Add another state of the same resamples (B and seed) and options."""
        if (other.b, other.seed) != (self.b, self.seed):
            raise ArgumentError(
                f"cannot merge Poisson states of {other.b} resamples, seed {other.seed} "
                f"into {self.b} resamples, seed {self.seed}"
            )
        self.point.merge(other.point)
        for k, v in other.sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.weight_bound += other.weight_bound
        dtype = np.float32 if self.weight_bound < 1 << 24 else np.float64
        for k, v in other.counts.items():
            _add(self.counts, k, v, dtype)
        for k, v in other.exact.items():
            self.exact[k] = carry(self.exact[k] + v) if k in self.exact else v.copy()
        return self

    def to_bytes(self) -> bytes:
        """The state as versioned plain bytes
        (:func:`~taxovit.evaluation.state_io.poisson_to_bytes`)."""
        from taxovit.evaluation.state_io import poisson_to_bytes

        return poisson_to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes, taxonomy: Any) -> PoissonState:
        """The state of :meth:`to_bytes` on ``taxonomy``, checked (ArgumentError if not)."""
        from taxovit.evaluation.state_io import poisson_from_bytes

        return poisson_from_bytes(data, taxonomy)

    def report(self, ci: float) -> Any:
        """The point report with percentile intervals over the resamples."""
        from taxovit.metrics.table import compute

        report = self.point.compute()
        state = {**self.sums, **{k: value(v).T for k, v in self.exact.items()}}  # (B, bins)
        state.update({k: v.T.astype(np.float64) for k, v in self.counts.items()})
        state = {k: np.ascontiguousarray(v) for k, v in state.items()}
        layout = self.point.report_layout()[0]  # the point report's keys
        draws = compute(layout, lambda name: np.asarray(state[name], dtype=np.float64))
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
    batch_rows: int | None = None,
    score_kind: str = "probs",
) -> Any:
    """The report of a long or top-k Parquet dataset with Poisson bootstrap intervals (the
    state of :func:`~taxovit.evaluation.dataset.evaluate_dataset` with ``n_resamples``)."""
    from taxovit.evaluation.dataset import evaluate_dataset

    if not 0 < ci < 1:
        raise ArgumentError(f"ci must be in (0, 1), got {ci}")
    state = evaluate_dataset(
        path,
        taxonomy,
        top_k=top_k,
        label_attr=label_attr,
        batch_rows=batch_rows,
        score_kind=score_kind,
        n_resamples=n_resamples,
        seed=seed,
    )
    return state.report(ci)
