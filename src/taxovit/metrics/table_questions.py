"""The metric table's rows of the optional questions of :func:`taxovit.evaluate` (a cost
table, the known label set): per-sample sums like every row, so they bootstrap, merge and
compare; they are in a report only when its question was asked (``layout.questions``)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taxovit.metrics.table_rows import (
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

__all__ = [
    "COST_METRICS",
    "KNOWN",
    "LONG_TAIL_METRICS",
    "NOVEL_METRICS",
    "QUESTION_METRICS",
    "QUESTION_ROWS",
    "RANK_COST_METRICS",
    "SHOT_BUCKETS",
]

#: the keys of a cost table (``costs=``, :mod:`taxovit.evaluation.costs`): only in its reports
COSTS = "a cost table"
COST_METRICS: tuple[Metric, ...] = (
    Metric(
        "cost_mean", "mean cost per sample", LOWER, (LABELS, COSTS), ("cost", "one"), _ratio, _FLAT
    ),
    Metric(
        "cost_total",
        "total cost",
        LOWER,
        (LABELS, COSTS),
        ("cost",),
        lambda x: np.asarray(x, dtype=float),
        _FLAT,
    ),
)
RANK_COST_METRICS: tuple[Metric, ...] = (
    Metric(
        "per_rank/{rank}/cost_mean",
        "mean cost (labels read at the rank)",
        LOWER,
        (LABELS, COSTS),
        ("cost/{rank}", "rank_keep/{rank}"),
        _ratio_or_null,
        _RANK,
    ),
)
#: the keys of the known label set (``known=``, :mod:`taxovit.evaluation.novel`)
KNOWN = "the known classes"
NOVEL_METRICS: tuple[Metric, ...] = tuple(
    Metric(key, shown, better, (LABELS, KNOWN), stats, fn, _FLAT, integer=fn is _count)
    for key, shown, better, stats, fn in (
        ("n_known", "samples of known classes", NEITHER, ("known",), _count),
        ("n_novel", "samples of novel taxa", NEITHER, ("novel",), _count),
        (
            "known_accuracy",
            "accuracy (known classes)",
            HIGHER,
            ("known_correct", "known"),
            _ratio_or_null,
        ),
        (
            "known_unknown_rate",
            "known predicted unknown",
            LOWER,
            ("known_unknown", "known"),
            _ratio_or_null,
        ),
        (
            "novel_ancestor_accuracy",
            "deepest-known-ancestor accuracy (novel)",
            HIGHER,
            ("novel_at_ancestor", "novel"),
            _ratio_or_null,
        ),
        (
            "novel_unknown_rate",
            "novel predicted unknown",
            HIGHER,
            ("novel_unknown", "novel"),
            _ratio_or_null,
        ),
        (
            "novel_known_class_rate",
            "novel named as a known class",
            LOWER,
            ("novel_known_class", "novel"),
            _ratio_or_null,
        ),
        (
            "novel_hierarchical_precision",
            "hier. precision vs known ancestor (novel)",
            HIGHER,
            ("novel_inter", "novel_size_pred"),
            _ratio,
        ),
        (
            "novel_hierarchical_recall",
            "hier. recall vs known ancestor (novel)",
            HIGHER,
            ("novel_inter", "novel_size_anc"),
            _ratio,
        ),
        (
            "novel_hierarchical_f1",
            "hier. F1 vs known ancestor (novel)",
            HIGHER,
            ("novel_inter", "novel_size_pred", "novel_size_anc"),
            _hf_micro,
        ),
    )
)
#: per question (a key of ``layout.questions``): its rows, and its rows per rank
QUESTION_METRICS: dict[str, tuple[tuple[Metric, ...], tuple[Metric, ...]]] = {
    "costs": (COST_METRICS, RANK_COST_METRICS),
    "novel": (NOVEL_METRICS, ()),
}
#: every question row, for lookups and the listing
QUESTION_ROWS: tuple[Metric, ...] = tuple(
    r for flat, rank in QUESTION_METRICS.values() for r in flat + rank
)

# ----------------------------------------------------------------------------- the long tail
#: the long-tail buckets of Liu et al. 2019 (thresholds: ``taxovit.evaluation.long_tail``)
SHOT_BUCKETS = ("many", "medium", "few")


def _present_mean(values: NDArray, sup: NDArray) -> NDArray:
    """Mean of per-class ``values`` over the classes with test samples (``sup > 0``); NaN if none."""
    sup = np.atleast_2d(sup)
    present = sup > 0
    total = np.where(present, np.atleast_2d(values), 0.0).sum(1)
    return _ratio_or_null(total, present.sum(1))


def _recall_macro(tp: NDArray, sup: NDArray) -> NDArray:
    return _present_mean(_ratio(np.atleast_2d(tp), np.atleast_2d(sup)), sup)


def _f1_macro(tp: NDArray, sup: NDArray, pred: NDArray) -> NDArray:
    tp, sup, pred = (np.atleast_2d(x) for x in (tp, sup, pred))
    return _present_mean(_ratio(2.0 * tp, sup + pred), sup)


def _n_present(sup: NDArray) -> NDArray:
    return (np.atleast_2d(sup) > 0).sum(1).astype(float)


def _shot_rows(b: str) -> tuple[Metric, ...]:
    s, need = f"lt_{{}}/{b}", (LABELS, TRAIN_COUNTS)
    return tuple(
        Metric(
            f"{b}_shot_{key}",
            f"{b}-shot {shown}",
            better,
            need,
            tuple(s.format(x) if x != "pred" else "lt_pred" for x in stats),
            fn,
            _FLAT,
            integer=fn in (_count, _n_present),
        )
        for key, shown, better, stats, fn in (
            ("n_samples", "samples", NEITHER, ("one",), _count),
            ("n_classes", "classes (with test samples)", NEITHER, ("sup",), _n_present),
            ("accuracy", "accuracy", HIGHER, ("correct", "one"), _ratio_or_null),
            ("recall_macro", "recall (macro)", HIGHER, ("tp", "sup"), _recall_macro),
            ("f1_macro", "F1 (macro)", HIGHER, ("tp", "sup", "pred"), _f1_macro),
            ("mistake_severity", "mistake severity", LOWER, ("d", "wrong"), _ratio_or_null),
            (
                "hierarchical_f1",
                "hier. F1 (micro)",
                HIGHER,
                ("inter", "size_pred", "size_true"),
                _hf_micro,
            ),
        )
    )


TRAIN_COUNTS = "training counts"
LONG_TAIL_METRICS: tuple[Metric, ...] = tuple(r for b in SHOT_BUCKETS for r in _shot_rows(b))
QUESTION_METRICS["long_tail"] = (LONG_TAIL_METRICS, ())
QUESTION_ROWS += LONG_TAIL_METRICS
