"""The metric table's rows of the optional questions of :func:`taxovit.evaluate` (a cost
table, the known label set): per-sample sums like every row, so they bootstrap, merge and
compare; they are in a report only when its question was asked (``layout.questions``)."""

from __future__ import annotations

import numpy as np

from taxovit.metrics.table import (
    _FLAT,
    _RANK,
    HIGHER,
    LABELS,
    LOWER,
    NEITHER,
    Metric,
    _count,
    _hf_micro,
    _ratio,
    _ratio_or_null,
)

__all__ = ["COST_METRICS", "KNOWN", "NOVEL_METRICS", "QUESTION_METRICS", "QUESTION_ROWS",
           "RANK_COST_METRICS"]  # fmt: skip

#: the keys of a cost table (``costs=``, :mod:`taxovit.evaluation.costs`): only in its reports
COSTS = "a cost table"
COST_METRICS: tuple[Metric, ...] = (
    Metric("cost_mean", "mean cost per sample", LOWER, (LABELS, COSTS), ("cost", "one"), _ratio, _FLAT),
    Metric("cost_total", "total cost", LOWER, (LABELS, COSTS), ("cost",),
           lambda x: np.asarray(x, dtype=float), _FLAT),
)  # fmt: skip
RANK_COST_METRICS: tuple[Metric, ...] = (
    Metric("per_rank/{rank}/cost_mean", "mean cost (labels read at the rank)", LOWER,
           (LABELS, COSTS), ("cost/{rank}", "rank_keep/{rank}"), _ratio_or_null, _RANK),
)  # fmt: skip
#: the keys of the known label set (``known=``, :mod:`taxovit.evaluation.novel`)
KNOWN = "the known classes"
NOVEL_METRICS: tuple[Metric, ...] = tuple(
    Metric(key, shown, better, (LABELS, KNOWN), stats, fn, _FLAT, integer=fn is _count)
    for key, shown, better, stats, fn in (
        ("n_known", "samples of known classes", NEITHER, ("known",), _count),
        ("n_novel", "samples of novel taxa", NEITHER, ("novel",), _count),
        ("known_accuracy", "accuracy (known classes)", HIGHER, ("known_correct", "known"), _ratio_or_null),
        ("known_unknown_rate", "known predicted unknown", LOWER, ("known_unknown", "known"), _ratio_or_null),
        ("novel_ancestor_accuracy", "deepest-known-ancestor accuracy (novel)", HIGHER,
         ("novel_at_ancestor", "novel"), _ratio_or_null),
        ("novel_unknown_rate", "novel predicted unknown", HIGHER, ("novel_unknown", "novel"), _ratio_or_null),
        ("novel_known_class_rate", "novel named as a known class", LOWER, ("novel_known_class", "novel"),
         _ratio_or_null),
        ("novel_hierarchical_precision", "hier. precision vs known ancestor (novel)", HIGHER,
         ("novel_inter", "novel_size_pred"), _ratio),
        ("novel_hierarchical_recall", "hier. recall vs known ancestor (novel)", HIGHER,
         ("novel_inter", "novel_size_anc"), _ratio),
        ("novel_hierarchical_f1", "hier. F1 vs known ancestor (novel)", HIGHER,
         ("novel_inter", "novel_size_pred", "novel_size_anc"), _hf_micro),
    )
)  # fmt: skip
#: per question (a key of ``layout.questions``): its rows, and its rows per rank
QUESTION_METRICS: dict[str, tuple[tuple[Metric, ...], tuple[Metric, ...]]] = {
    "costs": (COST_METRICS, RANK_COST_METRICS),
    "novel": (NOVEL_METRICS, ()),
}
#: every question row, for lookups and the listing
QUESTION_ROWS: tuple[Metric, ...] = tuple(r for flat, rank in QUESTION_METRICS.values() for r in flat + rank)
