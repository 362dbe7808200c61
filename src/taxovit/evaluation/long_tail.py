"""``train_counts=`` / ``--train-counts FILE``: the long tail, by training images per class.

The file is a CSV ``class,count`` (header names in any case, other columns ignored): the
number of training images of each class, a whole number >= 0; a class missing from the file
has 0 (it is counted in the section's ``n_test_classes_unlisted``). Each test sample falls in
the bucket of its **true** class (Liu et al. 2019, "Large-scale long-tailed recognition in an
open world"): **many**-shot (more than ``high`` = 100 training images), **medium**-shot
(``low`` = 20 to ``high``) or **few**-shot (fewer than ``low``); ``thresholds=(low, high)``
changes them.

Per bucket, rows of the metric table (bootstrap intervals, compare): ``{b}_shot_n_samples``,
``{b}_shot_n_classes`` (classes of the bucket with test samples), ``{b}_shot_accuracy``,
``{b}_shot_recall_macro`` (mean per-class recall over those classes, the literature's
"per-class accuracy"), ``{b}_shot_f1_macro`` (per-class F1 over those classes, false
positives counted over the whole test set), ``{b}_shot_mistake_severity`` (mean LCA height of
the bucket's mistakes) and ``{b}_shot_hierarchical_f1`` (micro). The ``long_tail`` section
repeats them by bucket.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError, InputError
from taxovit.evaluation.context import SampleContext
from taxovit.metrics._common import safe_divide
from taxovit.metrics.table_questions import SHOT_BUCKETS
from taxovit.taxonomy import Taxonomy
from taxovit.taxonomy.text_input import read_text

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TrainCounts",
    "as_train_counts",
    "long_tail_columns",
    "long_tail_section",
    "read_train_counts",
]

DEFAULT_THRESHOLDS = (20, 100)


@dataclass(frozen=True)
class TrainCounts:
    """Training images per node (0 where unlisted), and which nodes the file lists."""

    source: str
    count: NDArray[np.int64]
    listed: NDArray[np.bool_]
    thresholds: tuple[int, int] = DEFAULT_THRESHOLDS

    def bucket(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """0 many, 1 medium, 2 few (the order of ``SHOT_BUCKETS``)."""
        low, high = self.thresholds
        c = self.count[ids]
        return np.where(c > high, 0, np.where(c >= low, 1, 2))


def _check_thresholds(thresholds: Any) -> tuple[int, int]:
    try:
        low, high = (int(x) for x in thresholds)
        ok = all(int(x) == x and not isinstance(x, bool) for x in thresholds) and 0 <= low <= high
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ArgumentError(
            f"thresholds must be two whole numbers 0 <= low <= high, got {thresholds!r}"
        )
    return low, high


def read_train_counts(
    taxonomy: Taxonomy, path: str | os.PathLike[str], thresholds: Any = DEFAULT_THRESHOLDS
) -> TrainCounts:
    """Parse ``class,count`` rows; every problem an :class:`~taxovit.errors.InputError`
    naming the file, line and column."""
    path, bounds = Path(path), _check_thresholds(thresholds)
    lines = read_text(path, what="a class,count file", empty_ok=True).splitlines()
    rows = list(csv.reader(lines))
    header = [h.strip() for h in rows[0]] if rows else []
    lower = [h.lower() for h in header]
    if "class" not in lower or "count" not in lower:
        raise InputError("expected the header class,count", file=str(path), row=1)
    ci, ni = lower.index("class"), lower.index("count")
    count = np.zeros(len(taxonomy.nodes), dtype=np.int64)
    listed = np.zeros(len(taxonomy.nodes), dtype=bool)
    lookup = taxonomy.name_to_id
    for line, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(
                f"{len(row)} fields, the header has {len(header)}", file=str(path), row=line
            )
        name, text = row[ci].strip(), row[ni].strip()
        node = lookup.get(name, -1)
        if node < 0:
            raise InputError(
                f"{name!r} is not a node of the taxonomy",
                file=str(path),
                row=line,
                column=header[ci],
            )
        if listed[node]:
            raise InputError(
                f"{name!r} is listed twice", file=str(path), row=line, column=header[ci]
            )
        if not (text.isdigit() and text.isascii()):
            raise InputError(
                f"expected a whole number >= 0 of training images, got {text!r}",
                file=str(path),
                row=line,
                column=header[ni],
            )
        count[node], listed[node] = int(text), True
    return TrainCounts(str(path), count, listed, bounds)


def as_train_counts(
    taxonomy: Taxonomy, counts: Any, thresholds: Any = DEFAULT_THRESHOLDS
) -> TrainCounts:
    """``counts`` (a :class:`TrainCounts`, a file, or a ``{class: count}`` mapping) parsed."""
    if isinstance(counts, TrainCounts):
        return counts
    if isinstance(counts, str | os.PathLike):
        return read_train_counts(taxonomy, counts, thresholds)
    from taxovit.metrics import node_ids

    names = list(counts)
    values = np.asarray([counts[n] for n in names])
    if values.dtype.kind not in "iu" or (values < 0).any():
        raise ArgumentError("train_counts must map classes to whole numbers >= 0")
    out = np.zeros(len(taxonomy.nodes), dtype=np.int64)
    ids = node_ids(taxonomy, np.asarray(names), "train_counts")
    out[ids] = values
    listed = np.zeros(out.size, dtype=bool)
    listed[ids] = True
    return TrainCounts("mapping", out, listed, _check_thresholds(thresholds))


def long_tail_columns(tc: TrainCounts, ctx: SampleContext) -> dict[str, Any]:
    """Per bucket the per-sample columns and per-class bins of the ``long_tail`` rows."""
    from taxovit.evaluation.statistics import Binned

    c = ctx.comp
    bucket = tc.bucket(c.y_true)
    k, one = ctx.n_labels, np.ones(c.y_true.size)
    out: dict[str, Any] = {"lt_pred": Binned(ctx.inv_p, one, k)}
    for i, b in enumerate(SHOT_BUCKETS):
        m = (bucket == i).astype(np.float64)
        out |= {
            f"lt_one/{b}": m,
            f"lt_correct/{b}": m * c.correct,
            f"lt_wrong/{b}": m * ~c.correct,
            f"lt_d/{b}": m * c.d,
            f"lt_inter/{b}": m * c.inter,
            f"lt_size_pred/{b}": m * c.size_pred,
            f"lt_size_true/{b}": m * c.size_true,
            f"lt_sup/{b}": Binned(ctx.inv_t, m, k),
            f"lt_tp/{b}": Binned(ctx.inv_t, m * c.correct, k),
        }
    return out


def long_tail_section(
    tc: TrainCounts, ctx: SampleContext, metrics: dict[str, Any]
) -> dict[str, Any]:
    """The report's ``long_tail`` section: thresholds, coverage of the file, and per bucket
    the rows' values (copied from the report's metrics)."""
    low, high = tc.thresholds
    test_classes = np.unique(ctx.comp.y_true)
    buckets = {
        b: {key[len(b) + 6 :]: v for key, v in metrics.items() if key.startswith(f"{b}_shot_")}
        for b in SHOT_BUCKETS
    }
    return {
        "train_counts": tc.source,
        "buckets_defined": {"many": f"> {high}", "medium": f"{low}-{high}", "few": f"< {low}"},
        "n_test_classes_unlisted": int((~tc.listed[test_classes]).sum()),
        "share_of_samples": {
            b: float(safe_divide(v["n_samples"] or 0, ctx.comp.y_true.size))
            for b, v in buckets.items()
        },
        **buckets,
    }
