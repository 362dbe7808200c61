"""Bootstrap percentile intervals for every metric, B resamples at once.

Every metric except mAP is a function of weighted sums of per-sample quantities, and every
per-sample quantity depends only on the sample's *signature*: its (true, predicted) label
pair and, with scores, its top-k hits and hierarchical distances. Samples are therefore
grouped into U units of equal signature (U is the number of distinct confusion cells when
there are no scores, usually far fewer than the N samples), and a chunk of resamples
becomes a weight matrix ``Wu`` (resamples x units):

* every mean, micro average and per-level accuracy is a column of ``Wu @ X`` (X: U x q
  per-unit quantities);
* every per-class count (flat and per rank) is ``Wu @ A`` with a sparse one-hot A.

Resample r draws the same indices as the one-at-a-time definition
(``rng.integers(0, n, n)`` per resample, in order), so the intervals are exactly those of
evaluating each resample (:func:`taxovit.evaluation.core._weighted_metrics` with the draw
counts as weights); mAP, which needs a ranking, is recomputed on the drawn rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from taxovit.evaluation.context import SampleContext
from taxovit.metrics import safe_divide

if TYPE_CHECKING:  # scipy is imported when a bootstrap runs (start-up time of evaluate)
    import scipy.sparse as sp

__all__ = [
    "Layout",
    "Units",
    "bootstrap_draws",
    "metrics_from_stats",
    "per_sample_columns",
    "percentile_intervals",
    "resample_metrics",
]

#: resamples per chunk are chosen so a chunk's weight matrix holds about this many entries
_CHUNK_ELEMS = 1 << 23


@dataclass
class Units:
    """Samples grouped by signature: ``unit_of`` (N,) maps a sample to its unit,
    ``rep`` (U,) is one sample of each unit, ``X`` the dense per-unit columns named in
    ``cols``, ``A`` (classes x U, sparse) every one-hot count matrix stacked, with the
    rows of each in ``count_rows``."""

    unit_of: NDArray[np.int64]
    rep: NDArray[np.int64]
    X: NDArray[np.float64]
    cols: dict[str, int]
    A: sp.csr_matrix
    count_rows: dict[str, slice]

    @property
    def n_units(self) -> int:
        return int(self.rep.size)


def _signature_units(ctx: SampleContext) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    pair = ctx.inv_t.astype(np.int64) * max(ctx.n_labels, 1) + ctx.inv_p
    if not ctx.hits:
        _, rep, unit_of = np.unique(pair, return_index=True, return_inverse=True)
        return unit_of.ravel(), rep
    keys = [pair.astype(np.float64)]
    for k in ctx.hits:  # ranked input holds hits only for k <= K
        keys += [ctx.hits[k].astype(np.float64), ctx.hdist[k], ctx.hdist_depth[k]]
    _, rep, unit_of = np.unique(np.column_stack(keys), axis=0, return_index=True,
                                return_inverse=True)  # fmt: skip
    return unit_of.ravel(), rep


def per_sample_columns(ctx: SampleContext, rep: NDArray[np.int64]) -> dict[str, NDArray[np.float64]]:
    """The per-unit quantities whose weighted sums make every metric."""
    c = ctx.comp
    cols: dict[str, NDArray] = {
        "one": np.ones(rep.size), "correct": c.correct, "wrong": ~c.correct,
        "inter": c.inter, "size_true": c.size_true, "size_pred": c.size_pred,
        "hp": safe_divide(c.inter, c.size_pred), "hr": safe_divide(c.inter, c.size_true),
        "hf": safe_divide(2 * c.inter, c.size_pred + c.size_true),
        "d": c.d, "lca_depth": c.lca_depth, "depth_distance": ctx.depth_distance, "tie": c.tie,
    }  # fmt: skip
    cols = {k: (v if k == "one" else np.asarray(v)[rep]) for k, v in cols.items()}
    if ctx.is_tree:
        depth, lca = ctx.true_depth[rep], c.lca_depth[rep]
        for level in range(1, c.max_depth + 1):
            cols[f"level_mask/{level}"] = depth >= level
            cols[f"level_hit/{level}"] = (depth >= level) & (lca >= level)
    for k in ctx.top_k:
        if k in ctx.hits:
            cols[f"hits/{k}"], cols[f"hdist/{k}"] = ctx.hits[k][rep], ctx.hdist[k][rep]
            cols[f"hdist_depth/{k}"] = ctx.hdist_depth[k][rep]
    for rank, rc in ctx.ranks.items():
        correct = np.zeros(rc.keep.size, dtype=bool)
        correct[rc.keep] = rc.correct
        cols[f"rank_keep/{rank}"], cols[f"rank_correct/{rank}"] = rc.keep[rep], correct[rep]
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def _one_hot(codes: NDArray[np.int64], mask: NDArray[np.bool_], k: int) -> tuple[sp.csc_matrix, int]:
    """Units x classes: 1 where the unit (in ``mask``) has class ``codes``."""
    import scipy.sparse as sp

    rows = np.flatnonzero(mask)
    data = np.ones(rows.size)
    return sp.csc_matrix((data, (rows, codes[mask])), shape=(mask.size, max(k, 1))), k


def _count_matrices(ctx: SampleContext, rep: NDArray[np.int64]) -> dict:
    all_units = np.ones(rep.size, dtype=bool)
    it, ip = ctx.inv_t[rep], ctx.inv_p[rep]
    counts = {
        "sup": _one_hot(it, all_units, ctx.n_labels),
        "tp": _one_hot(it, it == ip, ctx.n_labels),
        "pred": _one_hot(ip, all_units, ctx.n_labels),
    }
    for rank, rc in ctx.ranks.items():
        full_t = np.zeros(rc.keep.size, dtype=np.int64)
        full_p = np.zeros(rc.keep.size, dtype=np.int64)
        full_t[rc.keep], full_p[rc.keep] = rc.it, rc.ip
        has = np.zeros(rc.keep.size, dtype=bool)
        has[rc.keep] = rc.has_pred
        keep, t_u, p_u = rc.keep[rep], full_t[rep], full_p[rep]
        counts[f"sup/{rank}"] = _one_hot(t_u, keep, rc.k)
        counts[f"tp/{rank}"] = _one_hot(t_u, keep & (t_u == p_u), rc.k)
        counts[f"pred/{rank}"] = _one_hot(p_u, keep & has[rep], rc.k)
    return counts


def build_units(ctx: SampleContext) -> Units:
    """Group the samples of ``ctx`` by signature (see the module docstring)."""
    import scipy.sparse as sp

    unit_of, rep = _signature_units(ctx)
    cols = per_sample_columns(ctx, rep)
    names = list(cols)
    X = np.column_stack([cols[n] for n in names])
    counts = _count_matrices(ctx, rep)
    rows, start = {}, 0
    for name, (_, k) in counts.items():
        rows[name] = slice(start, start + max(k, 1))
        start += max(k, 1)
    A = sp.hstack([a for a, _ in counts.values()], format="csc").T.tocsr()
    return Units(unit_of, rep, X, {n: i for i, n in enumerate(names)}, A, rows)


# ----------------------------------------------------------------------------- metrics


def _prf(tp, fp, fn, sup, average: str) -> tuple[NDArray, NDArray, NDArray]:
    """:func:`taxovit.metrics.prf_from_counts` for a batch of count rows (b x K)."""
    if average == "micro":
        tps, fps, fns = tp.sum(1), fp.sum(1), fn.sum(1)
        return (safe_divide(tps, tps + fps), safe_divide(tps, tps + fns),
                safe_divide(2.0 * tps, (tps + fns) + (tps + fps)))  # fmt: skip
    seen = (tp != 0) | (fp != 0) | (fn != 0)
    per_class = (safe_divide(tp, tp + fp), safe_divide(tp, tp + fn),
                 safe_divide(2.0 * tp, (tp + fn) + (tp + fp)))  # fmt: skip
    weights = seen if average == "macro" else seen * sup
    total = weights.sum(1)
    return tuple(safe_divide((x * weights).sum(1), total) for x in per_class)  # type: ignore[return-value]


@dataclass(frozen=True)
class Layout:
    """Which metrics exist: tree or DAG, depth, the k of top-k (with hits or not), ranks."""

    is_tree: bool
    max_depth: int
    top_k: tuple[int, ...]
    hit_ks: tuple[int, ...]
    ranks: tuple[str, ...]

    @classmethod
    def of(cls, ctx: SampleContext) -> Layout:
        return cls(ctx.is_tree, ctx.comp.max_depth, ctx.top_k, tuple(ctx.hits), tuple(ctx.ranks))


#: ``sums(name)``: (b,) weighted sums of a per-sample column; ``counts(suffix)``: per-class
#: (tp, fp, fn, support), each (b x K), of the flat labels ("") or of a rank ("/rank")
Sums = Callable[[str], NDArray]
Counts = Callable[[str], tuple]


def _flat(m: dict, s: Sums, counts: Counts) -> None:
    m["n_samples"], m["n_mistakes"] = np.round(s("one")), np.round(s("wrong"))
    m["accuracy"] = safe_divide(s("correct"), s("one"))
    flat = counts("")
    for avg in ("micro", "macro", "weighted"):
        m[f"precision_{avg}"], m[f"recall_{avg}"], m[f"f1_{avg}"] = _prf(*flat, avg)


def _hierarchical(m: dict, s: Sums, layout: Layout) -> None:
    n = s("one")
    hp, hr = safe_divide(s("inter"), s("size_pred")), safe_divide(s("inter"), s("size_true"))
    m["hierarchical_precision_micro"], m["hierarchical_recall_micro"] = hp, hr
    m["hierarchical_f1_micro"] = safe_divide(2 * hp * hr, hp + hr)
    for key, col in (("precision", "hp"), ("recall", "hr"), ("f1", "hf")):
        m[f"hierarchical_{key}_macro"] = safe_divide(s(col), n)
    m["mean_lca_height"] = safe_divide(s("d"), n)
    wrong = s("wrong")
    m["mistake_severity"] = np.where(wrong > 0, s("d") / np.where(wrong > 0, wrong, 1), np.nan)
    m["mistake_severity_depth"] = np.where(
        wrong > 0, s("depth_distance") / np.where(wrong > 0, wrong, 1), np.nan
    )
    m["mean_lca_depth"] = safe_divide(s("lca_depth"), n)
    m["mean_lca_depth_distance"] = safe_divide(s("depth_distance"), n)
    m["tree_induced_error_mean"] = safe_divide(s("tie"), n)
    m["tree_induced_error_sum"] = s("tie")
    if not layout.is_tree:
        m["per_level_accuracy"] = np.full(n.shape, np.nan)  # None on a DAG
        return
    for level in range(1, layout.max_depth + 1):
        hit, mask = s(f"level_hit/{level}"), s(f"level_mask/{level}")
        m[f"per_level_accuracy/{level}"] = safe_divide(hit, mask)


def _per_rank(m: dict, s: Sums, counts: Counts, layout: Layout) -> None:
    # a rank no sample reaches has all-zero sums and counts: every value is 0
    for rank in layout.ranks:
        kept = s(f"rank_keep/{rank}")
        m[f"per_rank/{rank}/n_samples"] = np.round(kept)
        m[f"per_rank/{rank}/accuracy"] = safe_divide(s(f"rank_correct/{rank}"), kept)
        by_class = counts(f"/{rank}")
        for avg in ("macro", "weighted"):
            p, r, f = _prf(*by_class, avg)
            m[f"per_rank/{rank}/precision_{avg}"] = p
            m[f"per_rank/{rank}/recall_{avg}"] = r
            m[f"per_rank/{rank}/f1_{avg}"] = f


def metrics_from_stats(layout: Layout, s: Sums, counts: Counts) -> dict[str, NDArray]:
    """Every non-mAP metric from weighted column sums and per-class counts, for a batch of
    b weightings at once; keyed as :func:`~taxovit.evaluation.report.flatten_metrics` keys
    them, NaN for ``None``. Bootstrap resamples and streaming evaluation both use it."""
    m: dict[str, NDArray] = {}
    _flat(m, s, counts)
    _hierarchical(m, s, layout)
    n = s("one")
    for k in layout.top_k:
        has = k in layout.hit_ks
        m[f"top{k}_accuracy"] = safe_divide(s(f"hits/{k}"), n) if has else np.full(n.shape, np.nan)
        m[f"avg_hierarchical_distance_at_{k}"] = (
            safe_divide(s(f"hdist/{k}"), n) if has else np.full(n.shape, np.nan)
        )
        m[f"avg_hierarchical_distance_at_{k}_depth"] = (
            safe_divide(s(f"hdist_depth/{k}"), n) if has else np.full(n.shape, np.nan)
        )
    _per_rank(m, s, counts, layout)
    return m


def resample_metrics(units: Units, ctx: SampleContext, wu: NDArray) -> dict[str, NDArray]:
    """:func:`metrics_from_stats` for each row of unit weights ``wu`` (b x U)."""
    sums = wu @ units.X
    all_counts = units.A @ np.ascontiguousarray(wu.T)  # every class count, one product

    def s(name: str) -> NDArray:
        return sums[:, units.cols[name]]

    def counts(suffix: str) -> tuple:
        got = {n: all_counts[units.count_rows[f"{n}{suffix}"]].T for n in ("sup", "tp", "pred")}
        tp = got["tp"]
        return tp, got["pred"] - tp, got["sup"] - tp, got["sup"]

    return metrics_from_stats(Layout.of(ctx), s, counts)


# ----------------------------------------------------------------------------- resampling


def bootstrap_draws(
    ctx: SampleContext,
    b: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    map_metrics: Callable[[NDArray[np.int64]], dict] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """``{flat metric key: (b,) values}`` over ``b`` resamples (module docstring).

    ``map_metrics(idx)``: the mAP keys of the resample drawing rows ``idx`` (with scores).
    """
    units = build_units(ctx)
    n, u = ctx.comp.y_true.size, units.n_units
    rng = np.random.default_rng(seed)
    chunk = max(1, min(b, _CHUNK_ELEMS // max(u, 1)))
    parts: list[dict[str, NDArray]] = []
    for start in range(0, b, chunk):
        size = min(chunk, b - start)
        wu = np.empty((size, u))
        maps = []
        for r in range(size):
            idx = rng.integers(0, n, size=n)
            wu[r] = np.bincount(units.unit_of[idx], minlength=u)
            if map_metrics is not None:
                maps.append(map_metrics(idx))
        part = resample_metrics(units, ctx, wu)
        for key in maps[0] if maps else ():
            part[key] = np.array([np.nan if d[key] is None else d[key] for d in maps])
        parts.append(part)
        if progress is not None:
            progress(size)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


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
