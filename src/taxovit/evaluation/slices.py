"""``groups=`` / ``--group-by COLUMN`` (``--meta FILE``): one report per group of samples.

Each grouping column splits the samples by its values (a missing value is the group
``(missing)``); each group gets its own full evaluation (:func:`taxovit.evaluate` on its
rows: every metric, per rank, and with ``bootstrap`` its own percentile intervals from
resampling its rows, the same seed for every group). Groups with fewer than ``min_support``
samples (default 30) are flagged ``small``: their intervals are wide, read those first. The
spread across groups: for each headline metric the ``worst`` and ``best`` group among the
groups that are not small (all groups when every group is small, said by
``spread_over``). A group's sample counts add up to the whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError

__all__ = ["HEADLINE", "MISSING", "as_groups", "slice_section"]

MISSING = "(missing)"
#: the metrics summarised per group (with their intervals) and spread across groups
HEADLINE = ("accuracy", "f1_macro", "mistake_severity", "hierarchical_f1_micro", "top1_accuracy")


def as_groups(groups: Any, n: int) -> dict[str, NDArray[np.object_]]:
    """``{column: (n,) group labels as text}`` from a mapping, a DataFrame or one array."""
    if groups is None:
        return {}
    if hasattr(groups, "columns") and hasattr(groups, "__getitem__"):  # a DataFrame
        groups = {str(c): groups[c].to_numpy() for c in groups.columns}
    elif not isinstance(groups, Mapping):
        groups = {"group": groups}
    out = {}
    for name, values in groups.items():
        v = np.asarray(values, dtype=object).ravel()
        if v.size != n:
            raise ArgumentError(f"groups[{name!r}] has {v.size} values for {n} samples")
        missing = np.array(
            [x is None or (isinstance(x, float) and np.isnan(x)) or x == "" for x in v], dtype=bool
        )
        out[str(name)] = np.where(missing, MISSING, v.astype(str)).astype(object)
    return out


def _summary(value: str, rep: Any, min_support: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "group": value,
        "n_samples": rep.metrics["n_samples"],
        "small": rep.metrics["n_samples"] < min_support,
    }
    for key in HEADLINE:
        if rep.metrics.get(key) is None:
            continue
        row[key] = rep.metrics[key]
        if rep.intervals and key in rep.intervals:
            row[f"{key}_ci"] = list(rep.intervals[key])
    return row


def _spread(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    from taxovit.metrics.table import direction

    big = [r for r in rows if not r["small"]]
    pool, over = (
        (big, "groups with at least min_support samples")
        if big
        else (rows, "all groups (every group is small)")
    )
    out: dict[str, Any] = {}
    for key in HEADLINE:
        have = [r for r in pool if r.get(key) is not None]
        if not have:
            continue
        ordered = sorted(have, key=lambda r: r[key], reverse=direction(key) == "higher")
        out[key] = {
            "best": {"group": ordered[0]["group"], "value": ordered[0][key]},
            "worst": {"group": ordered[-1]["group"], "value": ordered[-1][key]},
        }
    return out, over


def slice_section(
    groups: dict[str, NDArray[np.object_]],
    run: Callable[[NDArray[np.int64]], Any],
    min_support: int,
) -> dict[str, Any]:
    """The report's ``slices`` section: per grouping column its groups' summaries, spread and
    full reports; ``run(rows)`` evaluates the samples ``rows``."""
    out: dict[str, Any] = {}
    for column, labels in groups.items():
        values, codes = np.unique(labels.astype(str), return_inverse=True)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(values.size + 1))
        reports = {str(v): run(order[bounds[i] : bounds[i + 1]]) for i, v in enumerate(values)}
        rows = [_summary(v, rep, min_support) for v, rep in reports.items()]
        spread, over = _spread(rows)
        full = {
            v: {k: x for k, x in rep.to_dict().items() if k != "taxonomy"}
            for v, rep in reports.items()
        }
        out[column] = {
            "min_support": min_support,
            "n_groups": len(rows),
            "n_small_groups": sum(r["small"] for r in rows),
            "spread_over": over,
            "spread": spread,
            "summary": rows,
            "reports": full,
        }
    return out


def evaluate_slices(
    taxonomy: Any,
    y_true: Any,
    y_pred: Any,
    scores: Any,
    score_labels: Any,
    ranked: Any,
    ranked_scores: Any,
    groups: Any,
    min_support: int,
    **kwargs: Any,
) -> dict[str, Any]:
    """The ``slices`` section of :func:`taxovit.evaluate`'s inputs (``kwargs``: top_k,
    bootstrap, ci, seed, score_kind, notes for every group's evaluation)."""
    from taxovit.evaluation import evaluate
    from taxovit.evaluation.arguments import check_int
    from taxovit.evaluation.context import as_ranked
    from taxovit.evaluation.core import _as_scores
    from taxovit.metrics.hierarchical import label_pair

    min_support = check_int(min_support, "min_support", 1)
    t, p = label_pair(y_true, y_pred, taxonomy)
    labels = as_groups(groups, t.size)
    s, ids = _as_scores(scores, score_labels, taxonomy, t.size)
    r = None if ranked is None else as_ranked(ranked, t.size, len(taxonomy.nodes))
    rs = None if ranked_scores is None else np.asarray(ranked_scores, dtype=np.float64)

    def run(rows: NDArray[np.int64]) -> Any:
        pick = lambda x: None if x is None else x[rows]  # noqa: E731
        return evaluate(
            t[rows],
            p[rows],
            taxonomy,
            pick(s),
            score_labels=ids,
            ranked=pick(r),
            ranked_scores=pick(rs),
            **kwargs,
        )

    return slice_section(labels, run, min_support)
