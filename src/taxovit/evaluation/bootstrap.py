"""Bootstrap percentile intervals for every sum-decomposable metric, B resamples at once.

Every metric of the table (:mod:`taxovit.metrics.table`) except mAP and ``ece_adaptive`` is
a function of sums of per-sample statistics (:mod:`taxovit.evaluation.statistics`), and
every statistic of a sample depends only on its *signature*: its (true, predicted) label
pair and, with candidates, its top-k hits and distances (with probabilities every sample is
its own signature). Samples are grouped into U units of equal signature (without scores U is
the number of distinct confusion cells, usually far fewer than the N samples), and a chunk
of resamples becomes a weight matrix ``Wu`` (resamples x units):

* every column sum is a column of ``Wu @ X`` (X: U x q per-unit statistics);
* every per-class count (flat and per rank) and per-bin sum (ECE) is ``A @ Wu.T`` with a
  sparse A (one entry per unit and count).

Resample r draws the same indices as the one-at-a-time definition
(``rng.integers(0, n, n)`` per resample, in order), so the intervals are exactly those of
evaluating each resample (:meth:`Statistics.weighted_sums` with the draw counts as weights).
mAP and ``ece_adaptive`` need a ranking of every score: they get no interval (NaN draws).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from taxovit.evaluation.statistics import Layout, Statistics
from taxovit.metrics.table import compute

if TYPE_CHECKING:  # scipy is imported when a bootstrap runs (start-up time of evaluate)
    import scipy.sparse as sp

__all__ = [
    "Layout",
    "Units",
    "bootstrap_draws",
    "build_units",
    "draw_counts",
    "paired_draws",
    "percentile_intervals",
    "resample_metrics",
]

#: resamples per chunk are chosen so a chunk's weight matrix holds about this many entries
_CHUNK_ELEMS = 1 << 23


@dataclass
class Units:
    """Samples grouped by signature: ``unit_of`` (N,) maps a sample to its unit,
    ``rep`` (U,) is one sample of each unit, ``X`` the dense per-unit columns named in
    ``cols``, ``A`` (rows x U, sparse) every count and bin sum stacked, with the rows of
    each statistic in ``count_rows``."""

    unit_of: NDArray[np.int64]
    rep: NDArray[np.int64]
    X: NDArray[np.float64]
    cols: dict[str, int]
    A: sp.csc_matrix
    count_rows: dict[str, slice]
    layout: Layout

    @property
    def n_units(self) -> int:
        return int(self.rep.size)


def _signature_units(st: Statistics) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if st.layout.probs or st.layout.confidence:  # per-sample calibration: every sample a unit
        idx = np.arange(st.n)
        return idx, idx
    flat = st.confusions[""]
    pair = flat.t.astype(np.int64) * max(flat.k, 1) + flat.p
    hit_cols = [n for n in st.columns if n.startswith(("hits/", "hdist/", "hdist_depth/"))]
    if not hit_cols:
        _, rep, unit_of = np.unique(pair, return_index=True, return_inverse=True)
        return unit_of.ravel(), rep
    keys = np.column_stack([pair.astype(np.float64), *(st.columns[n] for n in hit_cols)])
    _, rep, unit_of = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return unit_of.ravel(), rep


def _sparse_rows(st: Statistics, rep: NDArray[np.int64]) -> tuple[list, dict[str, slice]]:
    """(rows x U) sparse blocks of every count and bin sum, and the rows of each."""
    import scipy.sparse as sp

    blocks, rows, start = [], {}, 0
    u = rep.size

    def add(name: str, codes: NDArray, mask: NDArray, data: NDArray, k: int) -> None:
        nonlocal start
        cols = np.flatnonzero(mask)
        blocks.append(sp.csr_matrix((data[mask], (codes[mask], cols)), shape=(max(k, 1), u)))
        rows[name] = slice(start, start + max(k, 1))
        start += max(k, 1)

    for suffix, c in st.confusions.items():
        keep = np.ones(st.n, dtype=bool) if c.keep is None else c.keep
        t, p = (np.zeros(st.n, dtype=np.int64) for _ in range(2))
        t[keep], p[keep] = c.t, c.p
        counted = keep.copy()
        if c.pred_counted is not None:
            counted[keep] = c.pred_counted
        t, p, keep, counted = t[rep], p[rep], keep[rep], counted[rep]
        one = np.ones(u)
        add("sup" + suffix, t, keep, one, c.k)
        add("tp" + suffix, t, keep & (t == p), one, c.k)
        add("pred" + suffix, p, counted, one, c.k)
    for name, b in st.binned.items():
        bins = b.bins[rep]
        add(name, bins, bins >= 0, b.weights[rep], b.size)
    return blocks, rows


def build_units(st: Statistics) -> Units:
    """Group the samples of ``st`` by signature (see the module docstring)."""
    import scipy.sparse as sp

    unit_of, rep = _signature_units(st)
    names = list(st.columns)
    X = np.column_stack([np.asarray(st.columns[n], dtype=np.float64)[rep] for n in names])
    X[:, names.index("one")] = 1.0
    blocks, rows = _sparse_rows(st, rep)
    # CSC: the product with the (U x b) draw counts walks unit by unit, reading each unit's
    # b counts once and adding them into the few rows (classes, bins) it belongs to; those
    # (rows x b) sums stay in the CPU cache (a CSR walk reads every unit's counts once per
    # row it is in: 25x the memory traffic on 100k x 1,000 scores with 4 ranks)
    A = sp.vstack(blocks, format="csc")
    return Units(unit_of, rep, X, {n: i for i, n in enumerate(names)}, A, rows, st.layout)


def resample_metrics(units: Units, wu: NDArray, keys: Any = None) -> dict[str, NDArray]:
    """The table's values (of ``keys``; ``None``: all) for each row of unit weights ``wu``
    (b x U); every count and bin sum is one product with A (with ``keys``, only the rows of
    A that those keys need)."""
    sums = wu @ units.X
    wu_t = np.ascontiguousarray(wu.T)
    all_counts = units.A @ wu_t if keys is None else None

    got: dict[str, NDArray] = {}

    def get(name: str) -> NDArray:  # one array per name: P, R and F1 share their counts
        if name not in got:
            if name in units.cols:
                got[name] = sums[:, units.cols[name]]
            elif all_counts is not None:
                got[name] = all_counts[units.count_rows[name]].T
            else:
                got[name] = (units.A[units.count_rows[name]] @ wu_t).T
        return got[name]

    return compute(units.layout, get, keys=keys)


def draw_counts(
    idx: NDArray[np.int64], unit_of: NDArray[np.int64], u: int, identity: bool
) -> NDArray[np.int64]:
    """Draw counts per unit of one resample drawing rows ``idx`` (``identity``: every
    sample is its own unit); a bincount into U counters, which stay in the CPU cache."""
    return np.bincount(idx if identity else unit_of[idx], minlength=u)  # cast on assignment


def _is_identity(unit_of: NDArray[np.int64]) -> bool:
    return bool(
        unit_of[0] == 0 and unit_of[-1] == unit_of.size - 1 and (np.diff(unit_of) == 1).all()
    )


def bootstrap_draws(
    st: Statistics,
    b: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """``{flat metric key: (b,) values}`` over ``b`` resamples (module docstring)."""
    return paired_draws([st], b, seed, progress)[0]


def paired_draws(
    sts: list[Statistics],
    b: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    keys: Any = None,
) -> list[dict[str, NDArray[np.float64]]]:
    """:func:`bootstrap_draws` of several models over the same samples, each resample's
    rows drawn once for all (paired): resample r draws ``rng.integers(0, n, n)``, the r-th
    such draw of ``default_rng(seed)``. ``keys``: only these metrics (``None``: all)."""
    all_units = [build_units(st) for st in sts]
    n = sts[0].n
    rng = np.random.default_rng(seed)
    chunk = max(1, min(b, _CHUNK_ELEMS // max(max(u.n_units for u in all_units), 1)))
    parts: list[list[dict[str, NDArray]]] = [[] for _ in sts]
    same = [u.n_units == n and _is_identity(u.unit_of) for u in all_units]
    for start in range(0, b, chunk):
        size = min(chunk, b - start)
        wus = [np.empty((size, units.n_units)) for units in all_units]
        for r in range(size):
            idx = rng.integers(0, n, size=n)
            for units, wu, ident in zip(all_units, wus, same, strict=True):
                wu[r] = draw_counts(idx, units.unit_of, units.n_units, ident)
        for units, wu, out in zip(all_units, wus, parts, strict=True):
            out.append(resample_metrics(units, wu, keys))
        if progress is not None:
            progress(size)
    return [{k: np.concatenate([p[k] for p in out]) for k in out[0]} for out in parts]


def percentile_intervals(draws: dict[str, NDArray], ci: float) -> dict[str, tuple[float, float]]:
    """Percentile ``ci`` intervals of every key with at least one defined (non-NaN) value."""
    alpha = (1 - ci) / 2
    out = {}
    for key, values in draws.items():
        col = values[~np.isnan(values)]
        if col.size:
            lo, hi = np.quantile(col, [alpha, 1 - alpha])
            out[key] = (float(lo), float(hi))
    return out
