"""The metric table: one row per report key (or key family), the one definition of each metric.

A row names the key, its display label, its direction (is a higher or a lower value the
better one), what it needs (labels only, ranked candidates, a full score matrix, a tree),
the per-sample statistics it is made of and the function that turns their *sums* into the
value. Every path evaluates that same function:

* the point estimate: sums with weight 1 per sample (a batch of one);
* the bootstrap: sums weighted by each resample's draw counts (a batch of B);
* the streaming evaluator and the torchmetrics metric: sums accumulated batch by batch;
* ``compare``: the point estimates and resamples of two models.

``sums(name)`` returns ``(b,)`` (a per-sample column summed) or ``(b, K)`` (per-class
counts, e.g. ``tp``, or per-bin sums, e.g. ``ece_conf``) arrays, one row per weighting; a
value function returns ``(b,)`` values, NaN for ``null``. Rows whose ``resample`` is False
(mAP, ``ece_adaptive``) are not functions of sums: they need every score, their value comes
from ``rows`` and they get no bootstrap interval. The per-sample statistics are made in
:mod:`taxovit.evaluation.statistics`; their names are those in ``stats``. ``{k}``,
``{level}`` and ``{rank}`` mark a family; :func:`expand` lists the keys of a layout.
Torch-free and numpy-only. Pattern: scikit-learn's ``_classification.py`` (one counting
function, thin wrappers) and ``tests/test_common.py`` (tests driven by a list of metrics).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.metrics.table_rows import (  # the rows; re-exported: the table's vocabulary
    _RANK,
    CANDIDATES,
    CONFIDENCE,
    HIGHER,
    LABELS,
    LOWER,
    NEITHER,
    PROBS,
    SCORES,
    TREE,
    Metric,
    _flat_rows,
    _hier_rows,
    _rank_rows,
    _score_rows,
    prf_rows,
)

__all__ = [
    "CANDIDATES",
    "CONFIDENCE",
    "HIGHER",
    "LABELS",
    "LOWER",
    "METRICS",
    "NEITHER",
    "PROBS",
    "SCORES",
    "TREE",
    "RANK_METRICS",
    "Metric",
    "compute",
    "direction",
    "expand",
    "label",
    "lookup",
    "prf_rows",
    "value_of",
]

#: every key of the report's ``metrics`` (in report order)
METRICS: tuple[Metric, ...] = (*_flat_rows(), *_hier_rows(), *_score_rows())
#: every key of the report's ``per_rank`` entries, as ``per_rank/{rank}/<key>``
RANK_METRICS: tuple[Metric, ...] = tuple(_rank_rows())
# the optional questions' rows (costs, novel taxa, ...): their own module
from taxovit.metrics.table_questions import QUESTION_METRICS, QUESTION_ROWS  # noqa: E402

_ALL = METRICS + RANK_METRICS + QUESTION_ROWS
_PARAM = {"k": r"\d+", "level": r"\d+", "rank": r"[^/]+"}
_PATTERNS = [
    (
        re.compile(
            "^"
            + re.sub(r"\\\{(\w+)\\\}", lambda g: f"(?P<{g[1]}>{_PARAM[g[1]]})", re.escape(m.key))
            + "$"
        ),
        m,
    )
    for m in _ALL
]


def lookup(key: str) -> tuple[Metric, dict[str, str]]:
    """The row of a concrete flat key (``top5_accuracy``, ``per_rank/genus/ece``,
    ``per_level_accuracy/2``) and its parameters; ``KeyError`` for a key without a row."""
    for pattern, row in _PATTERNS:
        if (m := pattern.match(key)) is not None:
            return row, m.groupdict()
    if key == "per_level_accuracy":  # the family's one null key on a DAG
        return lookup("per_level_accuracy/1")[0], {"level": ""}
    raise KeyError(f"{key!r} has no row in the metric table (taxovit.metrics.table)")


def label(key: str) -> str:
    """The display label of a flat key (``top-5 accuracy``)."""
    row, params = lookup(key)
    return row.label.format(**params)


def direction(key: str) -> str:
    """``higher``, ``lower`` (the better value) or ``neither`` (a count of samples)."""
    return lookup(key)[0].direction


# ----------------------------------------------------------------------------- evaluation


def expand(row: Metric, layout: Any, rank: str | None = None) -> Iterator[dict[str, Any]]:
    """The parameter sets of ``row`` that exist in ``layout`` (top-k: its k; per level: the
    depths of a tree; ``rank``: the one rank being expanded)."""
    params = row.params
    if "level" in params:
        yield from ({"level": lv} for lv in range(1, layout.max_depth + 1) if layout.is_tree)
    elif "k" in params:
        yield from ({"k": k} | ({"rank": rank} if rank else {}) for k in layout.top_k)
    else:
        yield {"rank": rank} if rank else {}


def _available(row: Metric, layout: Any, params: dict[str, Any]) -> bool:
    if row.group == _RANK and PROBS in row.needs:
        return params["rank"] in layout.scored_ranks
    if "k" in params and CANDIDATES in row.needs:
        return params["k"] in layout.hit_ks
    if CONFIDENCE in row.needs:
        return layout.probs or layout.confidence
    return (SCORES not in row.needs or layout.scored) and (PROBS not in row.needs or layout.probs)


def compute(
    layout: Any, sums: Callable[[str], NDArray], rows: Any = None, keys: Any = None
) -> dict[str, NDArray]:
    """Every key of ``layout`` as ``(b,)`` arrays (NaN: ``null``), in report order.

    ``sums(name)``: the weighted sums of the statistic ``name`` (module docstring); ``rows``:
    the values of the row metrics (``None``: NaN, e.g. in a bootstrap resample); ``keys``:
    only these keys (``None``: all; the statistics of the others are never asked for). Keys
    a layout cannot have are left out (per-rank score keys without probabilities) or NaN
    (score keys without scores; ``per_level_accuracy`` on a DAG)."""
    b = np.shape(sums("one"))[0] if np.ndim(sums("one")) else 1
    nan = np.full(b, np.nan)
    out: dict[str, NDArray] = {}
    for block in _blocks(METRICS):
        if "level" in block[0].params and not layout.is_tree:
            out["per_level_accuracy"] = nan  # null on a DAG
        for params in expand(block[0], layout):
            for row in block:
                if keys is None or row.key.format(**params) in keys:
                    out[row.key.format(**params)] = _value(row, layout, params, sums, rows, nan)
    questions = [QUESTION_METRICS[q] for q in getattr(layout, "questions", ())]
    for row in (row for flat, _ in questions for row in flat):
        if keys is None or row.key in keys:
            out[row.key] = row.evaluate(sums)
    for rank in layout.ranks:
        for row in RANK_METRICS + tuple(row for _, per_rank in questions for row in per_rank):
            if PROBS in row.needs and not (layout.probs and layout.is_tree):
                continue  # no probabilities: the rank's score keys are not in the report
            for params in expand(row, layout, rank):
                if keys is None or row.key.format(**params) in keys:
                    out[row.key.format(**params)] = _value(row, layout, params, sums, rows, nan)
    return out


def _blocks(rows: tuple[Metric, ...]) -> list[list[Metric]]:
    """Consecutive rows of one family (``top{k}_accuracy`` and the distances @k) form a
    block, expanded parameter by parameter: the report's key order."""
    out: list[list[Metric]] = []
    for row in rows:
        if out and row.params and out[-1][-1].params == row.params:
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _value(
    row: Metric, layout: Any, params: dict, sums: Callable, rows: Any, nan: NDArray
) -> NDArray:
    if not _available(row, layout, params):
        return nan
    if not row.resample:
        return nan if rows is None else row.value(rows, row.key.format(**params))
    return row.evaluate(sums, **params)


def value_of(key: str, sums: dict[str, Any]) -> float | None:
    """The value of one concrete key from a dict of (unweighted) sums: what the public
    functions of :mod:`taxovit.metrics` return (``None`` for null)."""
    row, params = lookup(key)

    def batch_of_one(name: str) -> NDArray:
        x = np.asarray(sums[name], dtype=float)
        return x[None] if x.ndim else x.reshape(1)

    v = float(row.evaluate(batch_of_one, **params)[0])
    return None if np.isnan(v) else v


# ----------------------------------------------------------------------------- documentation


def describe() -> list[dict[str, str]]:
    """One dict per row (key, label, better, needs, statistics, interval): what
    ``taxovit metrics`` prints and the docs' metric table (docs/metrics.md) is generated from."""
    out = []
    for row in _ALL:
        interval = (
            "percentile bootstrap of the sums"
            if row.resample
            else "none: needs every score (no sum over samples)"
        )
        out.append(
            {
                "key": row.key,
                "label": row.label,
                "better": row.direction,
                "needs": ", ".join(row.needs),
                "statistics": ", ".join(row.stats),
                "interval": interval,
            }
        )
    return out


def markdown() -> str:
    """The table as Markdown (what ``<!-- metric-table -->`` in docs/metrics.md becomes)."""
    cols = ("key", "label", "better", "needs", "interval")
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for d in describe():
        lines.append("| " + " | ".join(f"`{d[c]}`" if c == "key" else d[c] for c in cols) + " |")
    return "\n".join(lines) + "\n"
