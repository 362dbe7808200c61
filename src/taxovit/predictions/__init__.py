"""The predictions file: its contract (columns), the strict reader and the writer."""

from taxovit.predictions.contract import (
    ID_COL,
    PRED_COL,
    SCORE_PREFIX,
    TRUE_COL,
    Predictions,
    header,
)
from taxovit.predictions.csv_reader import read_predictions
from taxovit.predictions.csv_writer import write_predictions

__all__ = [
    "ID_COL",
    "PRED_COL",
    "SCORE_PREFIX",
    "TRUE_COL",
    "Predictions",
    "header",
    "read_predictions",
    "write_predictions",
]
