"""The predictions file: its contract (columns) and the readers of every format.

:func:`read_any` reads any supported format, detected from the file (wide CSV or Parquet,
top-k submissions, long CSV or Parquet, ``.npz`` arrays); :func:`read_predictions` is the
strict wide-CSV reader; :mod:`taxovit.predictions.writers` writes every format.
"""

from taxovit.predictions.contract import (
    FORMATS,
    ID_COL,
    MAP_KEYS,
    PRED_COL,
    SCORE_PREFIX,
    TRUE_COL,
    Predictions,
    header,
)
from taxovit.predictions.csv_reader import read_predictions
from taxovit.predictions.dispatch import prefetch, read_any
from taxovit.predictions.labels import attribute_labels, label_map

__all__ = [
    "FORMATS",
    "ID_COL",
    "MAP_KEYS",
    "PRED_COL",
    "SCORE_PREFIX",
    "TRUE_COL",
    "Predictions",
    "attribute_labels",
    "header",
    "label_map",
    "prefetch",
    "read_any",
    "read_predictions",
]
