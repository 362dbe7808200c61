"""``taxovit.evaluate``: every metric of ``shared/docs/metrics.md`` in one report.

Data flow: label arrays (+ optional scores) -> per-sample context computed once over the
compiled index -> scalar metrics as weighted statistics of that context. The point estimate
uses weight 1 per sample; a bootstrap resample uses the number of times each sample was
drawn, so the confidence intervals come from exactly the same code as the point estimates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics.flat import average_precision, prf_from_counts, top_k_columns
from taxovit.metrics.hierarchical import (
    HierarchicalComponents,
    RankCodes,
    SampleWeights,
    _div,
    _hprf,
    _per_level,
    components,
    dense_codes,
    rank_codes,
    rank_scores,
)
from taxovit.taxonomy import Taxonomy

DEFAULT_TOP_K: tuple[int, ...] = (1, 5)
MAP_KEYS = ("map_macro", "map_weighted", "map_micro", "map_macro_present")


@dataclass
class _Context:
    comp: HierarchicalComponents
    inv_t: NDArray[np.int64]  # codes of y_true / y_pred into the union of labels
    inv_p: NDArray[np.int64]
    n_labels: int
    true_depth: NDArray[np.int64]
    depth_distance: NDArray[np.int64]  # 0 if equal, else D - depth(LCA)
    is_tree: bool
    ranks: dict[str, RankCodes]
    top_k: tuple[int, ...]
    hits: dict[int, NDArray[np.bool_]] = field(default_factory=dict)
    hdist: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    true_col: NDArray[np.int64] | None = None
    scores: NDArray[np.float64] | None = None
    column_ap: NDArray[np.float64] | None = None  # per score column, point estimate


def _build_context(
    comp: HierarchicalComponents,
    taxonomy: Taxonomy,
    scores: NDArray[np.float64] | None,
    score_ids: NDArray[np.int64] | None,
    top_k: Sequence[int],
) -> _Context:
    t, p = comp.y_true, comp.y_pred
    inv = dense_codes(np.concatenate([t, p]), len(taxonomy.nodes))
    ix = taxonomy.index
    ctx = _Context(
        comp=comp,
        inv_t=inv[: t.size],
        inv_p=inv[t.size :],
        n_labels=int(inv.max(initial=-1)) + 1,
        true_depth=ix.depth[t],
        depth_distance=np.where(comp.correct, 0, comp.max_depth - comp.lca_depth),
        is_tree=taxonomy.is_tree,
        ranks={
            r: rank_codes(ix.ancestor_at_rank(t, r), ix.ancestor_at_rank(p, r))
            for r in taxonomy.rank_names
        },
        top_k=tuple(sorted(set(int(k) for k in top_k))),
    )
    if scores is not None and score_ids is not None and scores.shape[1] > 0:
        c = scores.shape[1]
        col_of = np.full(len(taxonomy.nodes), -1, dtype=np.int64)
        col_of[score_ids] = np.arange(c)
        ctx.true_col = col_of[t]
        ctx.scores = scores
        kmax = min(max(ctx.top_k), c)
        top = top_k_columns(scores, kmax)  # best first, so a prefix is the top-k
        tnodes = score_ids[top]
        hit_cols = top == ctx.true_col[:, None]
        stats = ix.pair_stats(np.broadcast_to(t[:, None], tnodes.shape), tnodes)
        d = np.where(tnodes == t[:, None], 0, stats.lca_height)
        for k in ctx.top_k:
            kk = min(k, c)
            ctx.hits[k] = hit_cols[:, :kk].any(axis=1)
            ctx.hdist[k] = d[:, :kk].mean(axis=1)
    return ctx


def _weighted_metrics(ctx: _Context, w: SampleWeights) -> dict[str, Any]:
    """All metrics except mAP as weighted statistics (unit weights give the plain values)."""
    c = ctx.comp
    n = w.total
    wrong = ~c.correct
    n_wrong = w.dot(wrong)
    m: dict[str, Any] = {"n_samples": int(round(n)), "n_mistakes": int(round(n_wrong))}
    m["accuracy"] = float(_div(w.dot(c.correct), n))

    k = ctx.n_labels
    ok = c.correct
    tp = w.take(ok).bincount(ctx.inv_t[ok], k)
    support = w.bincount(ctx.inv_t, k)
    fp = w.bincount(ctx.inv_p, k) - tp
    fn = support - tp
    for avg in ("micro", "macro", "weighted"):
        p, r, f = prf_from_counts(tp, fp, fn, support, avg)
        m[f"precision_{avg}"], m[f"recall_{avg}"], m[f"f1_{avg}"] = p, r, f

    for avg in ("micro", "macro"):
        hp, hr, hf = _hprf(c.inter, c.size_true, c.size_pred, avg, w)
        m[f"hierarchical_precision_{avg}"] = hp
        m[f"hierarchical_recall_{avg}"] = hr
        m[f"hierarchical_f1_{avg}"] = hf

    m["mean_lca_height"] = float(_div(w.dot(c.d), n))
    m["mistake_severity"] = float(w.take(wrong).dot(c.d[wrong]) / n_wrong) if n_wrong > 0 else None
    m["mean_lca_depth"] = float(_div(w.dot(c.lca_depth), n))
    m["mean_lca_depth_distance"] = float(_div(w.dot(ctx.depth_distance), n))
    m["tree_induced_error_mean"] = float(_div(w.dot(c.tie), n))
    m["tree_induced_error_sum"] = w.dot(c.tie)
    m["per_level_accuracy"] = _per_level(c, ctx.true_depth, w) if ctx.is_tree else None

    for kk in ctx.top_k:
        has = ctx.scores is not None
        m[f"top{kk}_accuracy"] = float(_div(w.dot(ctx.hits[kk]), n)) if has else None
        m[f"avg_hierarchical_distance_at_{kk}"] = float(_div(w.dot(ctx.hdist[kk]), n)) if has else None
    m["per_rank"] = {r: rank_scores(codes, w) for r, codes in ctx.ranks.items()}
    return m


def _map_metrics(
    true_col: NDArray[np.int64] | None,
    scores: NDArray[np.float64] | None,
    ap: NDArray[np.float64] | None = None,
) -> dict:
    """mAP keys from one per-column AP pass (macro, weighted and macro_present share it).

    ``ap``: the per-column AP when already computed (the point estimate keeps it for the
    per-class table).
    """
    if scores is None or true_col is None:
        return dict.fromkeys(MAP_KEYS)
    if ap is None:
        ap = average_precision(true_col, scores, None)
    n_pos = np.bincount(true_col[true_col >= 0], minlength=scores.shape[1])
    present = n_pos > 0
    return {
        "map_macro": float(ap.mean()),
        "map_weighted": float(np.average(ap, weights=n_pos)) if present.any() else 0.0,
        "map_micro": average_precision(true_col, scores, "micro"),
        "map_macro_present": float(ap[present].mean()) if present.any() else None,
    }


def _flatten(m: dict[str, Any]) -> dict[str, float | None]:
    """Scalar view of a metrics dict: ``per_level_accuracy/2``, ``per_rank/genus/accuracy``."""
    out: dict[str, float | None] = {}
    for key, val in m.items():
        if isinstance(val, dict):
            for sub, v in _flatten(val).items():
                out[f"{key}/{sub}"] = v
        else:
            out[key] = None if val is None else float(val)
    return out


@dataclass
class EvaluationReport:
    """What :func:`evaluate` returns.

    ``metrics``: the keys of ``shared/docs/metrics.md`` (score-based keys are ``None``
    without scores); ``per_rank``: ``{rank: {n_samples, accuracy, precision_macro, …}}``;
    ``per_class``: a DataFrame indexed by class name, built on first access (the report
    keeps the per-sample arrays it needs until then); ``intervals``: with ``bootstrap > 0``,
    ``{flat_key: (low, high)}`` percentile confidence intervals (keys as in :meth:`to_frame`).
    """

    metrics: dict[str, Any]
    per_rank: dict[str, dict[str, float | int]]
    taxonomy: dict[str, Any]
    intervals: dict[str, tuple[float, float]] | None = None
    bootstrap: dict[str, Any] | None = None
    _per_class_builder: Callable[[], pd.DataFrame] | None = field(
        default=None, repr=False, compare=False
    )

    @cached_property
    def per_class(self) -> pd.DataFrame:
        """Per true/predicted class: support, predicted, precision, recall, F1, mistakes,
        mean mistake severity, rank, depth and (with scores) AP. Built on first access."""
        if self._per_class_builder is None:
            raise ValueError("this report holds no per-class data")
        return self._per_class_builder()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"metrics": {...}, "per_rank": {...}, "confidence_intervals": ...}``."""
        return {
            "metrics": self.metrics,
            "per_rank": self.per_rank,
            "confidence_intervals": (
                None
                if self.intervals is None
                else {k: [lo, hi] for k, (lo, hi) in self.intervals.items()}
            ),
            "bootstrap": self.bootstrap,
            "taxonomy": self.taxonomy,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per scalar metric: ``group``, ``metric``, ``value`` (+ ``ci_low``, ``ci_high``)."""
        flat = _flatten({**self.metrics, "per_rank": self.per_rank})
        rows = []
        for key, val in flat.items():
            group = _group_of(key)
            row: dict[str, Any] = {"group": group, "metric": key, "value": val}
            if self.intervals is not None:
                lo, hi = self.intervals.get(key, (None, None))
                row["ci_low"], row["ci_high"] = lo, hi
            rows.append(row)
        return pd.DataFrame(rows)


_FLAT_PREFIXES = ("n_", "accuracy", "precision_", "recall_", "f1_", "top", "map_")


def _group_of(key: str) -> str:
    if key.startswith("per_rank/"):
        return "rank"
    if key.startswith(_FLAT_PREFIXES):
        return "flat"
    return "hierarchical"


def _as_scores(
    scores: Any, score_labels: ArrayLike | None, taxonomy: Taxonomy, n: int
) -> tuple[NDArray[np.float64] | None, NDArray[np.int64] | None]:
    if scores is None:
        return None, None
    if isinstance(scores, pd.DataFrame):
        if score_labels is None:
            score_labels = list(scores.columns)
        scores = scores.to_numpy(dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != n:
        raise ValueError(f"scores must have shape (n_samples={n}, n_classes), got {s.shape}")
    if score_labels is None:
        raise ValueError("scores given as an array need score_labels (the class of each column)")
    ids = taxonomy.ids(np.asarray(score_labels))
    if ids.size != s.shape[1]:
        raise ValueError(f"{ids.size} score_labels for {s.shape[1]} score columns")
    if np.unique(ids).size != ids.size:
        raise ValueError("score_labels name a class twice")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (no NaN or infinity)")
    return s, ids


def _per_class_table(
    ctx: _Context, taxonomy: Taxonomy, score_ids: NDArray[np.int64] | None
) -> pd.DataFrame:
    c = ctx.comp
    k, inv_t, inv_p = ctx.n_labels, ctx.inv_t, ctx.inv_p
    labels = np.empty(k, dtype=np.int64)  # the node id behind each code
    labels[inv_t], labels[inv_p] = c.y_true, c.y_pred
    tp = np.bincount(inv_t[c.correct], minlength=k)
    support = np.bincount(inv_t, minlength=k)
    predicted = np.bincount(inv_p, minlength=k)
    prec, rec, f1, _ = prf_from_counts(tp, predicted - tp, support - tp, support, None)
    wrong = ~c.correct
    n_mis = np.bincount(inv_t[wrong], minlength=k)
    sev_sum = np.bincount(inv_t[wrong], weights=c.d[wrong], minlength=k)
    table = pd.DataFrame(
        {
            "support": support,
            "predicted": predicted,
            "precision": prec,
            "recall": rec,
            "f1": f1,
            "n_mistakes": n_mis,
            "mistake_severity": np.where(n_mis > 0, sev_sum / np.maximum(n_mis, 1), np.nan),
            "rank": taxonomy.ranks_of(labels),
            "depth": taxonomy.index.depth[labels],
        },
        index=pd.Index(taxonomy.names(labels), name="class"),
    )
    if ctx.column_ap is not None and score_ids is not None:
        col = pd.Series(ctx.column_ap, index=taxonomy.names(score_ids))
        table["ap"] = col.reindex(table.index).to_numpy()
    return table


def evaluate(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    scores: Any = None,
    *,
    score_labels: ArrayLike | None = None,
    top_k: Sequence[int] = DEFAULT_TOP_K,
    bootstrap: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> EvaluationReport:
    """Evaluate predictions against a taxonomy: flat, hierarchical and per-rank metrics.

    ``y_true``/``y_pred``: node names or ids. ``scores``: optional class scores, a DataFrame
    whose columns are class names or an ``(n, C)`` array with ``score_labels``; they enable
    top-k accuracy, mAP and average hierarchical distance@k. ``bootstrap=B`` adds percentile
    ``ci`` confidence intervals from B resamples of the predictions (seeded by ``seed``; no
    peer library offers these). ``progress`` is called with 1 after each resample.

    >>> report = evaluate(["a1", "a2"], ["a1", "b1"], taxonomy)  # doctest: +SKIP
    >>> report.metrics["mistake_severity"]                       # doctest: +SKIP
    """
    comp = components(y_true, y_pred, taxonomy)
    n = comp.y_true.size
    if n == 0:
        raise ValueError("no samples to evaluate")
    s, score_ids = _as_scores(scores, score_labels, taxonomy, n)
    ctx = _build_context(comp, taxonomy, s, score_ids, top_k)
    point = _weighted_metrics(ctx, SampleWeights(None, n))
    per_rank = point.pop("per_rank")
    if ctx.scores is not None:
        ctx.column_ap = average_precision(ctx.true_col, ctx.scores, None)
    point.update(_map_metrics(ctx.true_col, ctx.scores, ctx.column_ap))

    intervals = None
    boot_info = None
    if bootstrap > 0:
        if not 0 < ci < 1:
            raise ValueError(f"ci must lie in (0, 1), got {ci}")
        intervals = _bootstrap(ctx, bootstrap, ci, seed, progress)
        boot_info = {"resamples": int(bootstrap), "ci": ci, "seed": seed, "method": "percentile"}
    return EvaluationReport(
        metrics=point,
        per_rank=per_rank,
        _per_class_builder=lambda: _per_class_table(ctx, taxonomy, score_ids),
        taxonomy=taxonomy.summary(),
        intervals=intervals,
        bootstrap=boot_info,
    )


def _bootstrap(
    ctx: _Context, b: int, ci: float, seed: int, progress: Callable[[int], None] | None
) -> dict[str, tuple[float, float]]:
    """Percentile intervals: each resample draws n samples with replacement.

    Resamples are expressed as draw counts w (``bincount`` of the drawn indices), so every
    metric is the same weighted statistic as the point estimate; mAP, which needs a ranking,
    is recomputed on the drawn rows.
    """
    rng = np.random.default_rng(seed)
    n = ctx.comp.y_true.size
    draws: list[dict[str, float | None]] = []
    for _ in range(b):
        idx = rng.integers(0, n, size=n)
        w = np.bincount(idx, minlength=n).astype(np.float64)
        m = _weighted_metrics(ctx, SampleWeights(w, n))
        if ctx.scores is not None and ctx.true_col is not None:
            m.update(_map_metrics(ctx.true_col[idx], ctx.scores[idx]))
        draws.append(_flatten(m))
        if progress is not None:
            progress(1)
    keys = list(draws[0])
    values = np.array([[np.nan if d[k] is None else d[k] for k in keys] for d in draws])
    alpha = (1 - ci) / 2
    out = {}
    for j, key in enumerate(keys):
        col = values[:, j]
        col = col[~np.isnan(col)]
        if col.size:
            lo, hi = np.quantile(col, [alpha, 1 - alpha])
            out[key] = (float(lo), float(hi))
    return out
