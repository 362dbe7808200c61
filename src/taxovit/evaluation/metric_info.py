"""A metric key's label and direction for the views that rank or show metrics (the HTML
report, the leaderboard), read from the metric table (:mod:`taxovit.metrics.table`), the one
place that defines them."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MetricInfo", "metric_info"]


class MetricInfo(NamedTuple):
    """``label``: for people; ``higher_is_better``: the direction a ranking sorts by (a count
    of samples, whose direction is "neither", sorts as higher)."""

    label: str
    higher_is_better: bool


def metric_info(key: str) -> MetricInfo:
    """Label and direction of a flat metric key (``accuracy``, ``per_rank/genus/f1_macro``,
    ``top5_accuracy``, ``avg_hierarchical_distance_at_5``, ``per_level_accuracy/2``, ...); a
    key without a row in the table keeps its name and sorts as higher-is-better."""
    from taxovit.metrics.table import LOWER, direction, label

    try:
        text, higher = label(key), direction(key) != LOWER
    except KeyError:
        return MetricInfo(key.rsplit("/", 1)[-1].replace("_", " "), True)
    if key.startswith("per_rank/") and key.count("/") == 2:
        text = f"{key.split('/')[1]} {text}"
    return MetricInfo(text, higher)
