"""Many models on the same samples: one row per model, ranked, with intervals and tests.

* **Values and intervals.** Every model is evaluated as :func:`taxovit.evaluate` does, and
  resampled with one seed, so resample r draws the same rows for every model (the paired
  bootstrap of :mod:`taxovit.evaluation.compare`); the interval of a metric is the
  percentile interval of its resampled values.
* **Ranking.** By the first metric, best first (its direction: higher is better, or lower
  for errors such as mistake severity); models without a value come last.
* **Tests.** Each model against the best, on the first metric: the paired-bootstrap
  two-sided p-value of the difference (:func:`taxovit.evaluation.compare.paired_test`),
  adjusted for the m − 1 comparisons by Holm's step-down procedure (Holm 1979): sort the
  p-values, multiply the j-th smallest by (m − j), keep them monotone, cap at 1. A model
  whose adjusted p is at least α = 1 − ci is *not significantly different* from the best.
* **Tiers.** Tier 1 is the best model and the models not significantly different from it;
  tier 2 is led by the best model left, with the same test among the rest, and so on.
* **Saved reports.** A JSON report (``taxovit evaluate -f json``) gives its values and its
  own intervals; it has no per-sample data, so it is ranked but never tested or tiered.

Resampling is :func:`taxovit.evaluation.core.paired_resample_draws`, the machinery of
``evaluate --bootstrap`` and ``compare`` (the same seeded draws; the metric table's values of
the resampled sums).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError, InputError
from taxovit.evaluation.bootstrap import percentile_intervals
from taxovit.evaluation.compare import align, paired_test
from taxovit.evaluation.core import DEFAULT_TOP_K, evaluate_point, paired_resample_draws
from taxovit.evaluation.metric_info import metric_info
from taxovit.evaluation.report import flatten_metrics
from taxovit.predictions import Predictions
from taxovit.taxonomy import Taxonomy

__all__ = ["DEFAULT_METRICS", "Leaderboard", "holm", "leaderboard"]

DEFAULT_METRICS = ("accuracy", "f1_macro", "hierarchical_f1_micro", "mistake_severity")


@dataclass
class Leaderboard:
    """What :func:`leaderboard` returns; :meth:`to_dict` is the JSON report."""

    metrics: list[str]
    rows: list[dict[str, Any]]
    bootstrap: dict[str, Any]
    test: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": [
                {
                    "key": k,
                    "label": metric_info(k).label,
                    "higher_is_better": metric_info(k).higher_is_better,
                }
                for k in self.metrics
            ],
            "rows": self.rows,
            "bootstrap": self.bootstrap,
            "test": self.test,
            "notes": self.notes,
        }


def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def paired_draws(
    contexts: Sequence[tuple[Any, Any]],
    keys: Sequence[str],
    b: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, NDArray]]:
    """``{key: (b,) resampled values}`` of ``keys`` for each ``(ctx, score inputs)`` of
    models on the same samples: the draws of :func:`~taxovit.evaluation.core.resample_draws`
    (same seed, same rows), each resample's rows drawn once for every model
    (:func:`~taxovit.evaluation.core.paired_resample_draws`). mAP and ``ece_adaptive`` need
    every score: their draws are NaN (no interval, no test)."""
    draws = paired_resample_draws(contexts, b, seed, progress, keys=set(keys))
    return [{k: d[k] for k in keys} for d in draws]


@dataclass
class _Model:
    name: str
    source: str
    values: dict[str, float | None]
    intervals: dict[str, tuple[float, float]]
    draws: dict[str, NDArray] | None


def _from_predictions(name, pred: Predictions, taxonomy, keys, top_k) -> tuple[_Model, Any]:
    """The model's values, and the (context, score inputs) to resample."""
    report, ctx, inputs = evaluate_point(
        pred.y_true,
        pred.y_pred,
        taxonomy,
        pred.scores,
        score_labels=pred.score_labels if pred.scores is not None else None,
        ranked=pred.ranked if pred.scores is None else None,
        notes=pred.notes,
        top_k=top_k,
    )
    flat = flatten_metrics({**report.metrics, "per_rank": report.per_rank})
    _check_keys(keys, flat, pred.path or name)
    return _Model(name, str(pred.path or name), {k: flat.get(k) for k in keys}, {}, None), (
        ctx,
        inputs,
    )


def _from_report(name: str, report: dict[str, Any], source: str, keys) -> _Model:
    flat = flatten_metrics(
        {**(report.get("metrics") or {}), "per_rank": report.get("per_rank") or {}}
    )
    _check_keys(keys, flat, source)
    cis = report.get("confidence_intervals") or {}
    intervals = {k: tuple(cis[k]) for k in keys if cis.get(k) and None not in cis[k]}
    return _Model(name, source, {k: flat.get(k) for k in keys}, intervals, None)


def _check_keys(keys: Sequence[str], flat: dict[str, Any], source: str) -> None:
    unknown = [k for k in keys if k not in flat]
    if unknown:
        some = ", ".join(k for k in flat if "/" not in k)
        raise ArgumentError(
            f"--metric {unknown[0]!r} is not a metric of {source}; expected one of "
            f"{some}, or per_rank/<rank>/<metric>"
        )


def _sort_key(value: float | None, higher: bool) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.inf
    return -value if higher else value


def _tested(lead: _Model, rest: list[_Model], key: str, ci: float) -> list[dict[str, Any]]:
    """Each of ``rest`` against ``lead`` on ``key``: model − lead, its interval, p and Holm's
    adjusted p, significant at α = 1 − ci."""
    tests = [paired_test(lead.draws[key], m.draws[key], ci) for m in rest]
    adjusted = holm([1.0 if p is None else p for _, p in tests]) if rest else []
    return [
        {
            "diff": m.values[key] - lead.values[key],
            "diff_ci": dci,
            "p": p,
            "p_holm": q,
            "significant": bool(q < 1 - ci),
        }
        for m, (dci, p), q in zip(rest, tests, adjusted, strict=True)
    ]


def _tiers(models: list[_Model], key: str, ci: float) -> dict[str, dict[str, Any]]:
    """``{name: {tier, diff, diff_ci, p, p_holm, significant}}``: the tests against the
    best model, and the tiers (module docstring), for the models with resamples."""
    left = [m for m in models if m.draws is not None and m.values[key] is not None]
    if not left:
        return {}
    out = {
        left[0].name: {
            "diff": 0.0,
            "diff_ci": None,
            "p": None,
            "p_holm": None,
            "significant": False,
        }
    }
    for m, t in zip(left[1:], _tested(left[0], left[1:], key, ci), strict=True):
        out[m.name] = t
    tier = 0
    while left:
        tier += 1
        lead, rest = left[0], left[1:]
        same = {
            m.name
            for m, t in zip(rest, _tested(lead, rest, key, ci), strict=True)
            if not t["significant"]
        }
        for m in [lead, *(m for m in rest if m.name in same)]:
            out[m.name]["tier"] = tier
        left = [m for m in rest if m.name not in same]
    return out


def leaderboard(
    runs: Sequence[tuple[str, Predictions | dict[str, Any]]],
    taxonomy: Taxonomy,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    top_k: Sequence[int] = DEFAULT_TOP_K,
    progress: Callable[[int], None] | None = None,
) -> Leaderboard:
    """Rank ``runs`` (``(name, predictions or saved JSON report dict)``; a report's optional
    ``"path"`` names its file in errors) on ``metrics``
    (module docstring). Prediction runs must hold the same ids and truths as the first one
    (:func:`~taxovit.evaluation.compare.align`); ``progress(k)`` is called with each model
    evaluated (k = 1) and each chunk of resamples done (k = its size)."""
    keys = list(dict.fromkeys(metrics)) or list(DEFAULT_METRICS)
    if len(runs) < 2:
        raise ArgumentError(f"a leaderboard needs at least 2 runs, got {len(runs)}")
    first = next((r for _, r in runs if isinstance(r, Predictions)), None)
    models, notes, resampled = [], [], []
    n_expected = None if first is None else len(first)
    for name, run in runs:
        if isinstance(run, Predictions):
            aligned = run if run is first else align(first, run)
            model, context = _from_predictions(name, aligned, taxonomy, keys, top_k)
            models.append(model)
            resampled.append((model, context))
        else:
            source = (
                str(run.get("input", {}).get("predictions", name))
                if isinstance(run.get("input"), dict)
                else name
            )
            _check_samples(run, n_expected, str(run.get("path", name)))
            n_expected = run["metrics"].get("n_samples") if n_expected is None else n_expected
            models.append(_from_report(name, run, source, keys))
            notes.append(
                f"{name}: a saved report, ranked on its values but not tested (no per-sample data)"
            )
        if progress is not None:
            progress(1)
    for key in keys:
        if all(m.values[key] is None for m in models):
            raise ArgumentError(
                f"--metric {key}: none of the runs gives it (score-based metrics "
                "need score columns; top-k needs k candidates)"
            )
    if bootstrap > 0 and resampled:
        draws = paired_draws([c for _, c in resampled], keys, bootstrap, seed, progress)
        for (model, _), d in zip(resampled, draws, strict=True):
            model.draws, model.intervals = d, percentile_intervals(d, ci)
    higher = metric_info(keys[0]).higher_is_better
    models.sort(key=lambda m: _sort_key(m.values[keys[0]], higher))
    tested = _tiers(models, keys[0], ci) if bootstrap > 0 else {}
    rows = [_row(i, m, keys, tested.get(m.name)) for i, m in enumerate(models, 1)]
    n_tests = sum(1 for t in tested.values() if t["p"] is not None)
    against = next((m.name for m in models if m.name in tested), None)
    test = {
        "metric": keys[0],
        "against": against,
        "method": "paired bootstrap, two-sided",
        "correction": "Holm",
        "comparisons": n_tests,
        "alpha": round(1 - ci, 10),
    }
    return Leaderboard(
        keys,
        rows,
        {"resamples": bootstrap, "ci": ci, "seed": seed, "method": "paired percentile"},
        test,
        notes,
    )


def _check_samples(report: dict[str, Any], n_expected: int | None, name: str) -> None:
    """A saved report: a ``metrics`` object over as many samples as the other runs."""
    if not isinstance(report.get("metrics"), dict):
        raise InputError(
            "not a taxovit JSON report (no 'metrics' object); expected the "
            "output of taxovit evaluate -f json or a predictions file",
            file=name,
        )
    n = report["metrics"].get("n_samples")
    if n_expected is not None and n != n_expected:
        raise InputError(
            f"a report of {n} samples, but the other runs hold {n_expected:,}; "
            "expected the same samples",
            file=name,
        )


def _row(
    position: int, m: _Model, keys: Sequence[str], test: dict[str, Any] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"position": position, "model": m.name, "source": m.source}
    for k in keys:
        lo_hi = m.intervals.get(k)
        v = m.values[k]
        row[k] = None if v is None or (isinstance(v, float) and math.isnan(v)) else v
        row[f"{k}/ci"] = list(lo_hi) if lo_hi else None
    row.update(
        test
        or {
            "tier": None,
            "diff": None,
            "diff_ci": None,
            "p": None,
            "p_holm": None,
            "significant": None,
        }
    )
    return row
