"""Write the predictions CSV that ``taxovit evaluate`` reads (see :mod:`.contract`)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np

from taxovit._outputs import OutputPlan
from taxovit.predictions.contract import header

__all__ = ["predictions_csv", "write_predictions"]


def predictions_csv(
    ids: Sequence[str], y_true: Sequence[str], class_names: Sequence[str], scores: np.ndarray
) -> str:
    """The text of ``id,y_true,y_pred,score_<class>...``.

    ``y_pred`` is the arg-max of ``scores`` (``(N, len(class_names))``); scores are written
    with 6 significant digits. Raises ``ValueError`` when the arguments disagree in length.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(ids), len(class_names)) or len(y_true) != len(ids):
        raise ValueError("ids, y_true and scores must describe the same rows")
    names = list(class_names)
    pred = scores.argmax(axis=1) if names else np.zeros(len(ids), dtype=np.int64)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header(names))
    for i in range(len(ids)):
        w.writerow([ids[i], y_true[i], names[pred[i]], *(f"{s:.6g}" for s in scores[i])])
    return buf.getvalue()


def write_predictions(
    path: str | os.PathLike[str],
    ids: Sequence[str],
    y_true: Sequence[str],
    class_names: Sequence[str],
    scores: np.ndarray,
) -> None:
    """Write :func:`predictions_csv` to ``path`` (atomically; missing folders are created)."""
    plan = OutputPlan({})
    out = plan.file("predictions file", path)
    plan.write({out: predictions_csv(ids, y_true, class_names, scores)})
