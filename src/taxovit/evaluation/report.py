"""What :func:`taxovit.evaluate` returns: :class:`EvaluationReport`, and its per-class table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from taxovit.evaluation.context import SampleContext
from taxovit.metrics.flat import counts_from_codes, prf_from_counts
from taxovit.metrics.hierarchical import HierarchicalComponents
from taxovit.metrics.table import lookup
from taxovit.taxonomy import Taxonomy

if TYPE_CHECKING:  # pandas is imported where it is used (the Parquet path needs none)
    import pandas as pd

__all__ = ["EvaluationReport", "flatten_metrics", "metric_group", "nest_metrics", "per_class_table"]


@dataclass
class EvaluationReport:
    """What :func:`~taxovit.evaluate` returns.

    Attributes
    ----------
    metrics : dict
        The keys of the Metrics page (score-based keys are ``None`` without scores).
    per_rank : dict
        ``{rank: {n_samples, accuracy, precision_macro, ...}}``.
    taxonomy : dict
        The taxonomy's summary (nodes, leaves, depth, ranks, tree or DAG).
    intervals : dict or None
        With ``bootstrap > 0``: ``{flat_key: (low, high)}`` percentile confidence
        intervals (keys as in :meth:`to_frame`).
    bootstrap : dict or None
        The bootstrap's settings (``resamples``, ``ci``, ``seed``, ``method``).
    notes : dict
        ``{metric key: reason}`` for the keys that are ``None`` because the predictions
        cannot give them (no scores, only K ranked candidates per sample, ...).
    components : HierarchicalComponents or None
        The per-sample hierarchical quantities the metrics came from (e.g. for plots).
    reliability : dict or None
        The reliability diagram's bins (with scores).
    sections : dict
        The answers to the evaluators' questions (``subset``, ``costs``, ...).
    per_class : pandas.DataFrame
        Indexed by class name; built on first access.

    Examples
    --------
    >>> import taxovit
    >>> tax = taxovit.Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2")])
    >>> report = taxovit.evaluate(["a1", "a2", "B"], ["a1", "a1", "B"], tax)
    >>> report.metrics["accuracy"], report.metrics["mistake_severity"]
    (0.666..., 1.0)
    >>> report.to_frame().query("metric == 'accuracy'")[["group", "metric", "value"]]
      group    metric     value
    2  flat  accuracy  0.666667
    >>> int(report.per_class.loc["a1", "support"])
    1
    """

    metrics: dict[str, Any]
    per_rank: dict[str, dict[str, float | int]]
    taxonomy: dict[str, Any]
    intervals: dict[str, tuple[float, float]] | None = None
    bootstrap: dict[str, Any] | None = None
    notes: dict[str, str] = field(default_factory=dict)
    components: HierarchicalComponents | None = field(default=None, repr=False, compare=False)
    reliability: dict[str, list[float]] | None = field(default=None, repr=False, compare=False)
    #: the answers to optional questions (``subset``, ``costs``, ...), top-level JSON keys
    sections: dict[str, Any] = field(default_factory=dict)
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
        """JSON-ready: ``{"metrics": {...}, "per_rank": {...}, "confidence_intervals": ...,
        "notes": {key: reason}}``."""
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
            "notes": self.notes,
            **self.sections,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per scalar metric: ``group``, ``metric``, ``value`` (+ ``ci_low``, ``ci_high``)."""
        import pandas as pd

        flat = flatten_metrics({**self.metrics, "per_rank": self.per_rank})
        rows = []
        for key, val in flat.items():
            row: dict[str, Any] = {"group": metric_group(key), "metric": key, "value": val}
            if self.intervals is not None:
                lo, hi = self.intervals.get(key, (None, None))
                row["ci_low"], row["ci_high"] = lo, hi
            rows.append(row)
        return pd.DataFrame(rows)


def flatten_metrics(m: dict[str, Any]) -> dict[str, float | None]:
    """Scalar view of a metrics dict: ``per_level_accuracy/2``, ``per_rank/genus/accuracy``."""
    out: dict[str, float | None] = {}
    for key, val in m.items():
        if isinstance(val, dict):
            for sub, v in flatten_metrics(val).items():
                out[f"{key}/{sub}"] = v
        else:
            out[key] = None if val is None else float(val)
    return out


def metric_group(key: str) -> str:
    """``flat``, ``hierarchical`` or ``rank``: the table a flat metric key belongs to (its
    row's group in :mod:`taxovit.metrics.table`; calibration keys are ``flat``)."""
    group = lookup(key)[0].group
    return "flat" if group == "calibration" else group


def _scalar(key: str, v: float) -> Any:
    if np.isnan(v):
        return None
    return int(v) if lookup(key)[0].integer else float(v)


def nest_metrics(flat: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The report's ``metrics`` and ``per_rank`` dicts from the table's flat keys and values
    (``(1,)`` arrays or floats; NaN: ``None``), e.g. ``per_level_accuracy/2`` and
    ``per_rank/genus/accuracy``: the inverse of :func:`flatten_metrics`."""
    metrics: dict[str, Any] = {}
    per_rank: dict[str, dict[str, Any]] = {}
    for key, v in flat.items():
        parts = key.split("/")
        value = None if key == "per_level_accuracy" else _scalar(key, float(np.ravel(v)[0]))
        if parts[0] == "per_rank":
            per_rank.setdefault(parts[1], {})[parts[2]] = value
        elif parts[0] == "per_level_accuracy" and len(parts) == 2:
            metrics.setdefault("per_level_accuracy", {})[parts[1]] = value
        else:
            metrics[key] = value
    return metrics, per_rank


def per_class_table(ctx: SampleContext, taxonomy: Taxonomy) -> pd.DataFrame:
    """The :attr:`EvaluationReport.per_class` table from the report's per-sample context."""
    import pandas as pd

    c = ctx.comp
    k, inv_t = ctx.n_labels, ctx.inv_t
    labels = ctx.labels
    tp, fp, fn, support = counts_from_codes(inv_t, ctx.inv_p, k)
    prec, rec, f1, _ = prf_from_counts(tp, fp, fn, support, None)
    wrong = ~c.correct
    n_mis = np.bincount(inv_t[wrong], minlength=k)
    sev_sum = np.bincount(inv_t[wrong], weights=c.d[wrong], minlength=k)
    per_class = {"d": sev_sum, "wrong": n_mis}  # each class as one "weighting" of the table's row
    severity = lookup("mistake_severity")[0].evaluate(per_class.__getitem__)
    table = pd.DataFrame(
        {
            "support": support,
            "predicted": tp + fp,
            "precision": prec,
            "recall": rec,
            "f1": f1,
            "n_mistakes": n_mis,
            "mistake_severity": severity,
            "rank": taxonomy.ranks_of(labels),
            "depth": taxonomy.index.depth[labels],
        },
        index=pd.Index(taxonomy.names(labels), name="class"),
    )
    if ctx.column_ap is not None and ctx.score_ids is not None:
        col = pd.Series(ctx.column_ap, index=taxonomy.names(ctx.score_ids))
        table["ap"] = col.reindex(table.index).to_numpy()
    return table
