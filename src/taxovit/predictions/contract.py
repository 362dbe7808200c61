"""The predictions file contract shared by ``taxovit predict`` (writes) and ``evaluate`` (reads).

A predictions CSV has a header naming :data:`ID_COL`, :data:`TRUE_COL`, :data:`PRED_COL` and
optionally one :data:`SCORE_PREFIX` ``<label>`` column per class, then one row per sample.
Labels are taxonomy node names. See the README section "The predictions file".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ID_COL", "PRED_COL", "SCORE_PREFIX", "TRUE_COL", "Predictions", "header"]

ID_COL = "id"
TRUE_COL = "y_true"
PRED_COL = "y_pred"
SCORE_PREFIX = "score_"


def header(class_names: Sequence[str], score_prefix: str = SCORE_PREFIX) -> list[str]:
    """The column names of a file with one score column per class in ``class_names``."""
    return [ID_COL, TRUE_COL, PRED_COL, *(f"{score_prefix}{c}" for c in class_names)]


@dataclass(frozen=True)
class Predictions:
    """A validated predictions file.

    ``ids`` (object array of str), ``y_true``/``y_pred`` (int64 node ids), ``score_labels``
    (int64 node ids of the score columns in file order, empty if none), ``scores`` (float64
    ``(n, C)`` in the same column order, or ``None`` without score columns) and ``path``.
    """

    ids: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    score_labels: np.ndarray
    scores: np.ndarray | None
    path: str | None

    def __len__(self) -> int:
        return int(self.ids.shape[0])
