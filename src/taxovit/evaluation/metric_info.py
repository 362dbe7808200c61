"""A metric key's label and direction, read in one place by every view that needs them
(the HTML report, the leaderboard).

Today the labels live in :mod:`taxovit.evaluation.render` (the terminal table's rows) and
the directions in :mod:`taxovit.evaluation.compare_render` (``LOWER_IS_BETTER``); when the
metric table owns them, only :func:`metric_info` changes.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

__all__ = ["MetricInfo", "metric_info"]


class MetricInfo(NamedTuple):
    """``label``: for people; ``higher_is_better``: the direction a ranking sorts by."""

    label: str
    higher_is_better: bool


@cache
def _labels() -> dict[str, str]:
    from taxovit.evaluation.render import CAL_ROWS, FLAT_ROWS, HIER_ROWS

    return dict(FLAT_ROWS + HIER_ROWS + CAL_ROWS)


_PER_RANK_LABELS = {"n_samples": "samples", "accuracy": "accuracy", "precision_macro":
                    "precision (macro)", "recall_macro": "recall (macro)", "f1_macro":
                    "F1 (macro)", "top1_accuracy": "top-1 (marginals)", "ece": "ECE (marginals)"}  # fmt: skip


def _label(name: str) -> str:
    """The label of a metric name (no rank prefix)."""
    label = _labels().get(name)
    if label is not None:
        return label
    if name.startswith("top") and name.endswith("_accuracy"):
        return f"top-{name[3:-9]} accuracy"
    if name.startswith("avg_hierarchical_distance_at_"):
        k = name[len("avg_hierarchical_distance_at_"):]
        return f"avg. hier. distance @{k.replace('_depth', ' (D − depth)')}"
    return name.replace("_", " ")


def metric_info(key: str) -> MetricInfo:
    """Label and direction of a flat metric key (``accuracy``, ``per_rank/genus/f1_macro``,
    ``top5_accuracy``, ``avg_hierarchical_distance_at_5``, ``per_level_accuracy/2``, ...)."""
    from taxovit.evaluation.compare_render import LOWER_IS_BETTER

    name = key.rsplit("/", 1)[-1]
    higher = not name.startswith(LOWER_IS_BETTER)
    if key.startswith("per_rank/") and key.count("/") == 2:
        rank = key.split("/")[1]
        return MetricInfo(f"{rank} {_PER_RANK_LABELS.get(name) or _label(name)}", higher)
    if key.startswith("per_level_accuracy/"):
        return MetricInfo(f"accuracy at depth {name}", True)
    return MetricInfo(_label(key), higher)
