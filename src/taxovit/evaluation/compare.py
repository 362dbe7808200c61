"""Is model B really better than model A on the same samples? Paired comparison.

For every metric of the report: A, B, the difference B − A, a paired-bootstrap percentile
interval of the difference and a two-sided paired-bootstrap p-value; for accuracy (overall
and at every rank) also the exact McNemar test.

* **Paired bootstrap.** Resample r draws the same rows for A and B (the same seeded draws
  as :func:`taxovit.evaluate`'s bootstrap), so the B − A of each resample keeps the pairing.
  The interval is the percentile interval of the resampled differences; the p-value is
  ``min(1, 2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0)))`` over the resamples (Efron & Tibshirani 1993,
  ch. 15-16: the smallest two-sided level at which the percentile interval excludes 0).
  Identical predictions give Δ = 0 in every resample and p = 1. Only sums of per-sample
  statistics are resampled (:mod:`taxovit.metrics.table`): mAP and ``ece_adaptive``, which
  need every score, get no interval and no p-value.
* **McNemar's exact test** (McNemar 1947; Edwards' exact form): of the discordant samples,
  ``a_only`` are right only for A and ``b_only`` only for B; under "equally accurate" each
  discordant sample is A's with probability 1/2, so p is the two-sided binomial test of
  ``b_only`` out of ``a_only + b_only`` (scipy ``binomtest``; p = 1 with no discordant pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError, InputError
from taxovit.evaluation.core import DEFAULT_TOP_K, evaluate_point, paired_resample_draws
from taxovit.evaluation.report import flatten_metrics
from taxovit.predictions import Predictions
from taxovit.taxonomy import Taxonomy

__all__ = ["Comparison", "align", "compare", "mcnemar", "paired_test"]


@dataclass
class Comparison:
    """What :func:`compare` returns; :meth:`to_dict` is the JSON report."""

    metrics: dict[str, dict[str, Any]]
    mcnemar: dict[str, Any]
    per_rank: dict[str, dict[str, Any]]
    bootstrap: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "mcnemar": self.mcnemar,
            "per_rank": self.per_rank,
            "bootstrap": self.bootstrap,
        }

    def rows(self) -> list[tuple[str, dict[str, Any]]]:
        """(flat key, entry) for every compared metric, per-rank ones as ``per_rank/r/key``."""
        out = list(self.metrics.items())
        for rank, entries in self.per_rank.items():
            out += [(f"per_rank/{rank}/{k}", v) for k, v in entries.items() if k != "mcnemar"]
        return out


def align(a: Predictions, b: Predictions) -> Predictions:
    """``b`` reordered to ``a``'s ids; the id sets and every y_true must agree."""
    if len(a) != len(b) or set(a.ids.tolist()) != set(b.ids.tolist()):
        only = sorted(set(a.ids.tolist()) ^ set(b.ids.tolist()))
        raise InputError(
            f"the two files hold different ids ({len(a):,} and {len(b):,} rows); first id in "
            f"only one of them: {only[0]!r}; expected the same samples",
            file=b.path,
        )
    pos = {sid: i for i, sid in enumerate(b.ids.tolist())}
    order = np.fromiter((pos[s] for s in a.ids.tolist()), np.int64, len(a))
    y_true = b.y_true[order]
    differ = np.flatnonzero(y_true != a.y_true)
    if differ.size:
        raise InputError(
            f"id {a.ids[differ[0]]!r} has a different y_true in the two files; expected the "
            "same ground truth",
            file=b.path,
        )
    scores = None if b.scores is None else b.scores[order]
    ranked = None if b.ranked is None else b.ranked[order]
    rs = None if b.ranked_scores is None else b.ranked_scores[order]
    return Predictions(
        a.ids,
        y_true,
        b.y_pred[order],
        b.score_labels,
        scores,
        b.path,
        ranked,
        dict(b.notes),
        b.format,
        rs,
    )


def mcnemar(a_correct: NDArray[np.bool_], b_correct: NDArray[np.bool_]) -> dict[str, Any]:
    """McNemar's exact test of equal accuracy (module docstring)."""
    from scipy.stats import binomtest

    a_only = int(np.count_nonzero(a_correct & ~b_correct))
    b_only = int(np.count_nonzero(b_correct & ~a_correct))
    n = a_only + b_only
    p = 1.0 if n == 0 else float(binomtest(b_only, n, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p": p}


def paired_test(da: NDArray, db: NDArray, ci: float) -> tuple[list[float] | None, float | None]:
    """Percentile ``ci`` interval and two-sided p-value of B − A from paired resamples
    ``da``, ``db`` (module docstring); ``(None, None)`` when no resample defines both."""
    d = db - da
    d = d[~np.isnan(d)]
    if not d.size:
        return None, None
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(d, [alpha, 1 - alpha])
    return [float(lo), float(hi)], float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))


def _entry(a: float | None, b: float | None, da, db, ci: float) -> dict[str, Any]:
    if a is None or b is None:
        return {"a": a, "b": b, "diff": None, "ci": None, "p": None}
    entry: dict[str, Any] = {"a": a, "b": b, "diff": b - a, "ci": None, "p": None}
    if da is not None:
        entry["ci"], entry["p"] = paired_test(da, db, ci)
    return entry


def compare(
    a: Predictions,
    b: Predictions,
    taxonomy: Taxonomy,
    *,
    top_k=DEFAULT_TOP_K,
    bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    progress=None,
    **questions: Any,
) -> Comparison:
    """Compare predictions ``b`` against ``a`` on the same samples (module docstring).

    ``a`` and ``b``: validated predictions (:func:`taxovit.predictions.read_any`, any format);
    ``b`` is aligned to ``a``'s ids first. ``bootstrap=0`` gives A, B and B − A only.
    ``**questions``: the questions whose figures are metric-table rows (``costs``, ``known``,
    ``unknown_label``, ``train_counts``, ``shot_thresholds``): compared like every metric.
    """
    b = align(a, b)
    evaluated = []
    for pred in (a, b):
        scores = pred.scores
        evaluated.append(
            evaluate_point(
                pred.y_true,
                pred.y_pred,
                taxonomy,
                scores,
                score_labels=pred.score_labels if scores is not None else None,
                ranked=pred.ranked if scores is None else None,
                notes=pred.notes,
                top_k=top_k,
                ranked_scores=pred.ranked_scores if scores is None else None,
                questions=_row_questions(questions),
            )
        )
    reports = [report for report, _, _ in evaluated]
    ctxs = [ctx for _, ctx, _ in evaluated]
    draws: list[dict[str, NDArray] | None] = [None, None]
    if bootstrap > 0:  # both models' resamples draw the same rows, once
        draws = paired_resample_draws(
            [(ctx, inputs) for _, ctx, inputs in evaluated], bootstrap, seed, progress
        )
    flat = [flatten_metrics({**r.metrics, "per_rank": r.per_rank}) for r in reports]
    metrics: dict[str, dict[str, Any]] = {}
    per_rank: dict[str, dict[str, Any]] = {r: {} for r in reports[0].per_rank}
    for key, va in flat[0].items():
        da = draws[0].get(key) if draws[0] is not None else None
        db = draws[1].get(key) if draws[1] is not None else None
        entry = _entry(va, flat[1].get(key), da, db, ci)
        if key.startswith("per_rank/"):
            _, rank, name = key.split("/", 2)
            per_rank[rank][name] = entry
        else:
            metrics[key] = entry
    for rank, rc_a in ctxs[0].ranks.items():
        rc_b = ctxs[1].ranks[rank]
        per_rank[rank]["mcnemar"] = mcnemar(rc_a.correct, rc_b.correct)
    return Comparison(
        metrics=metrics,
        mcnemar=mcnemar(ctxs[0].comp.correct, ctxs[1].comp.correct),
        per_rank=per_rank,
        bootstrap={"resamples": bootstrap, "ci": ci, "seed": seed, "method": "paired percentile"},
    )


def _row_questions(options: dict[str, Any]) -> Any:
    """The :class:`~taxovit.evaluation.questions.Questions` that ``compare`` takes: those
    answered by rows of the metric table (the others describe one model, not a difference)."""
    from taxovit.evaluation.questions import Questions

    allowed = ("costs", "known", "unknown_label", "train_counts", "shot_thresholds")
    other = [k for k in options if k not in allowed]
    if other:
        raise ArgumentError(
            f"compare() takes the questions {', '.join(allowed)}, not {', '.join(other)}"
        )
    return Questions.of(options)
