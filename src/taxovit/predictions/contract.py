"""The predictions file contract shared by ``taxovit predict`` (writes) and ``evaluate`` (reads).

A predictions CSV has a header naming :data:`ID_COL`, :data:`TRUE_COL`, :data:`PRED_COL` and
optionally one :data:`SCORE_PREFIX` ``<label>`` column per class, then one row per sample.
Labels are taxonomy node names. See docs/evaluating.md, "The predictions file".

Every reader (wide CSV or Parquet, top-k submissions, long format, ``.npz`` arrays; see
:func:`taxovit.predictions.read_any`) returns the same :class:`Predictions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "FORMATS",
    "MAP_KEYS",
    "ID_COL",
    "PRED_COL",
    "SCORE_PREFIX",
    "TRUE_COL",
    "CheckedRanked",
    "Predictions",
    "checked_ranked",
    "header",
]

ID_COL = "id"
TRUE_COL = "y_true"
PRED_COL = "y_pred"
SCORE_PREFIX = "score_"

#: the metric keys that need a score for every class (``Predictions.notes`` may explain them)
MAP_KEYS = ("map_macro", "map_weighted", "map_micro", "map_macro_present")

#: the formats :func:`taxovit.predictions.read_any` detects (``Predictions.format``)
FORMATS = ("csv", "parquet", "topk", "long-csv", "long-parquet", "npz")


def header(class_names: Sequence[str], score_prefix: str = SCORE_PREFIX) -> list[str]:
    """The column names of a file with one score column per class in ``class_names``."""
    return [ID_COL, TRUE_COL, PRED_COL, *(f"{score_prefix}{c}" for c in class_names)]


@dataclass(frozen=True)
class Predictions:
    """A validated predictions file.

    ``ids`` (object array of str), ``y_true``/``y_pred`` (int64 node ids), ``score_labels``
    (int64 node ids of the score columns in file order, empty if none), ``scores`` (float64
    ``(n, C)`` in the same column order, or ``None`` without score columns) and ``path``.

    Files that list only some candidates per sample (top-k submissions, a long format that
    does not score every class) give ``ranked`` instead of ``scores``: ``(n, K)`` int64 node
    ids, best first, ``-1`` padding at the end of a row. ``notes`` maps a metric key to the
    reason the file cannot give it (e.g. ``map_macro``); ``format`` names the detected format
    (:data:`FORMATS`). ``ranked_scores``: the candidates' scores beside ``ranked`` (0 for
    padding), when the file gives them (the long format): the ECE when they are
    probabilities.
    """

    ids: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    score_labels: np.ndarray
    scores: np.ndarray | None
    path: str | None
    ranked: np.ndarray | None = None
    notes: dict[str, str] = field(default_factory=dict)
    format: str = "csv"
    ranked_scores: np.ndarray | None = None  # (n, K) float64, the candidates' scores

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class CheckedRanked(np.ndarray):
    """``Predictions.ranked`` as a reader checked it: a read-only ``(n, K)`` int64 array of
    node ids, each row starting with a node, ``-1`` only padding its end, no node twice in a
    row. :func:`taxovit.evaluation.context.as_ranked` checks its shape and range only, not
    those 10 M cells again (0.1 s of evaluating 1 M x top-10). Made by :func:`checked_ranked`."""


def checked_ranked(ranked: np.ndarray) -> CheckedRanked:
    """A read-only :class:`CheckedRanked` view of ``ranked`` (int64), for a reader that has
    checked it."""
    view = np.asarray(ranked, dtype=np.int64).view(CheckedRanked)
    view.flags.writeable = False
    return view
