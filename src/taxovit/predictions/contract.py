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
    """The column names of a wide predictions file with one score column per class.

    Parameters
    ----------
    class_names : sequence of str
        The classes (taxonomy node names), in the order of the score columns.
    score_prefix : str, default "score_"
        The prefix of a score column's name (:data:`SCORE_PREFIX`).

    Returns
    -------
    list of str
        ``[ID_COL, TRUE_COL, PRED_COL]`` then one ``<score_prefix><class>`` per class.

    Examples
    --------
    >>> from taxovit.predictions import header
    >>> header(["Corvus", "Pica"])
    ['id', 'y_true', 'y_pred', 'score_Corvus', 'score_Pica']
    >>> ",".join(header([], score_prefix="p_"))  # no score columns
    'id,y_true,y_pred'
    """
    return [ID_COL, TRUE_COL, PRED_COL, *(f"{score_prefix}{c}" for c in class_names)]


@dataclass(frozen=True)
class Predictions:
    """A validated predictions file, as every reader returns it (frozen; ``len`` = samples).

    Files that list only some candidates per sample (top-k submissions, a long format that
    does not score every class) give ``ranked`` instead of ``scores``. Made by
    :func:`~taxovit.predictions.read_any` and the readers it dispatches to; the formats are
    described on the Evaluating page ("The predictions file").

    Attributes
    ----------
    ids : ndarray of object (str), shape (n,)
        Sample ids, unique, in file order.
    y_true, y_pred : ndarray of int64, shape (n,)
        True and predicted taxonomy node ids.
    score_labels : ndarray of int64, shape (C,)
        Node ids of the score columns in file order; empty without scores.
    scores : ndarray of float64, shape (n, C), or None
        Finite scores in the order of ``score_labels``; ``None`` without score columns.
    path : str or None
        The file read (``"-"``: standard input).
    ranked : ndarray of int64, shape (n, K), or None
        Candidate node ids, best first, ``-1`` padding at the end of a row.
    notes : dict of str to str
        Metric key -> why the file cannot give it (e.g. ``map_macro``: not every class
        scored).
    format : str, default "csv"
        The detected format, one of :data:`FORMATS`.
    ranked_scores : ndarray of float64, shape (n, K), or None
        The candidates' scores beside ``ranked`` (0 for padding) when the file gives them
        (the long format); the ECE uses them when they are probabilities.

    Examples
    --------
    >>> import os, tempfile
    >>> from taxovit import Taxonomy
    >>> from taxovit.predictions import read_any
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "preds.csv")
    ...     with open(path, "w") as f:
    ...         print("id,y_true,y_pred,score_Corvus,score_Pica", file=f)
    ...         print("a,Corvus,Corvus,0.9,0.1", file=f)
    ...         print("b,Pica,Corvus,0.6,0.4", file=f)
    ...     pred = read_any(path, tax.name_to_id)
    >>> len(pred), pred.format, pred.y_true, tax.names(pred.y_pred)
    (2, 'csv', array([1, 2]), ['Corvus', 'Corvus'])
    >>> pred.scores, pred.ranked is None
    (array([[0.9, 0.1],
           [0.6, 0.4]]), True)
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
