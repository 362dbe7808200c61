"""Metric functions: flat (labels as atomic classes) and hierarchical (taxonomy-aware).

All are pure functions over arrays; see ``docs/metrics.md`` for the definitions.
The shared building blocks (input checks, zero-safe division, sample weights, dense codes)
live in :mod:`taxovit.metrics._common` and are exported here.
"""

from taxovit.metrics._common import (
    SampleWeights,
    check_scores,
    dense_codes,
    node_ids,
    safe_divide,
)
from taxovit.metrics.flat import (
    accuracy,
    confusion_counts,
    counts_from_codes,
    precision_recall_f1,
    prf_from_counts,
)
from taxovit.metrics.hierarchical import (
    HierarchicalComponents,
    components,
    hierarchical_precision_recall_f1,
    hprf_from_components,
    per_level_accuracy,
    per_level_from_components,
)
from taxovit.metrics.mistakes import (
    avg_hierarchical_distance_at_k,
    hierarchical_distance_at_k,
    lca_depth,
    lca_height,
    mistake_severity,
    tree_induced_error,
)
from taxovit.metrics.per_rank import (
    RankCodes,
    per_rank_metrics,
    project_to_rank,
    rank_codes,
    rank_scores,
)
from taxovit.metrics.ranking import average_precision, top_k_accuracy, top_k_columns

__all__ = [
    "HierarchicalComponents",
    "RankCodes",
    "SampleWeights",
    "accuracy",
    "average_precision",
    "avg_hierarchical_distance_at_k",
    "check_scores",
    "components",
    "confusion_counts",
    "counts_from_codes",
    "dense_codes",
    "node_ids",
    "hierarchical_distance_at_k",
    "hierarchical_precision_recall_f1",
    "hprf_from_components",
    "lca_depth",
    "lca_height",
    "mistake_severity",
    "per_level_accuracy",
    "per_level_from_components",
    "per_rank_metrics",
    "precision_recall_f1",
    "prf_from_counts",
    "project_to_rank",
    "rank_codes",
    "rank_scores",
    "safe_divide",
    "top_k_accuracy",
    "top_k_columns",
    "tree_induced_error",
]
