"""Metric functions: flat (labels as atomic classes) and hierarchical (taxonomy-aware).

All are pure functions over arrays; see ``shared/docs/metrics.md`` for the definitions.
"""

from taxovit.metrics.flat import (
    accuracy,
    average_precision,
    confusion_counts,
    precision_recall_f1,
    prf_from_counts,
    top_k_accuracy,
    top_k_columns,
)
from taxovit.metrics.hierarchical import (
    avg_hierarchical_distance_at_k,
    components,
    hierarchical_distance_at_k,
    hierarchical_precision_recall_f1,
    lca_depth,
    lca_height,
    mistake_severity,
    per_level_accuracy,
    per_rank_metrics,
    project_to_rank,
    tree_induced_error,
)

__all__ = [
    "accuracy",
    "average_precision",
    "avg_hierarchical_distance_at_k",
    "components",
    "confusion_counts",
    "hierarchical_distance_at_k",
    "hierarchical_precision_recall_f1",
    "lca_depth",
    "lca_height",
    "mistake_severity",
    "per_level_accuracy",
    "per_rank_metrics",
    "precision_recall_f1",
    "prf_from_counts",
    "project_to_rank",
    "top_k_accuracy",
    "top_k_columns",
    "tree_induced_error",
]
