"""Write the predictions CSV that ``taxovit evaluate`` reads (see :mod:`.contract`)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import IO

import numpy as np

from taxovit._atomic import atomic_write
from taxovit.predictions.contract import header

__all__ = ["write_predictions"]


def write_predictions(
    path: str | os.PathLike[str],
    ids: Sequence[str],
    y_true: Sequence[str],
    class_names: Sequence[str],
    scores: np.ndarray,
) -> None:
    """Write ``id,y_true,y_pred,score_<class>...`` atomically.

    ``y_pred`` is the arg-max of ``scores`` (``(N, len(class_names))``); scores are written
    with 6 significant digits. Raises ``ValueError`` when the arguments disagree in length.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(ids), len(class_names)) or len(y_true) != len(ids):
        raise ValueError("ids, y_true and scores must describe the same rows")
    names = list(class_names)
    pred = scores.argmax(axis=1) if names else np.zeros(len(ids), dtype=np.int64)

    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)

    def write(fh: IO[str]) -> None:
        w = csv.writer(fh)
        w.writerow(header(names))
        for i in range(len(ids)):
            w.writerow([ids[i], y_true[i], names[pred[i]], *(f"{s:.6g}" for s in scores[i])])

    atomic_write(path, write)
