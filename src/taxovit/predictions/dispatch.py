"""``read_any``: one entry point for every predictions file format, detected from the file.

Detection: the first bytes decide the container (``PAR1``: Parquet; a zip archive: ``.npz``;
a ``.parquet``/``.pq``/``.npz`` name whose bytes disagree is an error); anything else is
CSV. Within CSV or Parquet the header decides the layout:

* a ``y_pred`` column (``pred_col``): the **wide** layout (``id,y_true,y_pred,score_<label>``);
* else a ``predicted`` column (any case): a **top-k submission** (``id,predicted``);
* else a ``label`` column (any case): the **long** layout (``id,label,score[,y_true]``);
* else the wide layout, whose reader names the missing column.

Files without true labels (top-k, long without ``y_true``) need ``truth``; files with their
own true labels refuse it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from taxovit.errors import ArgumentError
from taxovit.predictions.contract import ID_COL, PRED_COL, SCORE_PREFIX, TRUE_COL, Predictions
from taxovit.predictions.csv_layout import Columns
from taxovit.predictions.sources import Source, header_of, open_source

__all__ = ["detect_format", "read_any"]


def detect_format(src: Source, pred_col: str = PRED_COL) -> str:
    """One of ``csv``, ``parquet``, ``topk``, ``long-csv``, ``long-parquet``, ``npz``."""
    if src.kind == "npz":
        return "npz"
    header, _ = header_of(src)
    lower = {name.lower() for name in header}
    if pred_col not in header and "predicted" in lower:
        return "topk"
    if pred_col not in header and "label" in lower:
        return f"long-{src.kind}"
    return src.kind


def _truth_for(fmt: str, src: Source, truth: object) -> None:
    if truth is None and fmt == "topk":
        raise ArgumentError(f"{src.shown} is a top-k submission (id,predicted) without true "
                            "labels; give them with --truth FILE (id,expected)")  # fmt: skip
    if truth is not None and fmt in ("csv", "parquet", "npz"):
        raise ArgumentError(f"--truth: {src.shown} ({fmt}) has its own true labels; --truth is "
                            "for top-k submissions and long files without y_true")  # fmt: skip
    if truth is not None and src.path == "-" and os.fspath(truth) == "-":  # type: ignore[arg-type]
        raise ArgumentError("--truth -: standard input already holds the predictions")


def read_any(
    path: str | os.PathLike[str],
    name_to_id: Mapping[str, int],
    *,
    truth: str | os.PathLike[str] | None = None,
    id_col: str = ID_COL,
    true_col: str = TRUE_COL,
    pred_col: str = PRED_COL,
    score_prefix: str = SCORE_PREFIX,
) -> Predictions:
    """Read a predictions file in any supported format (see the module docstring).

    ``name_to_id`` maps labels to node ids (``taxonomy.name_to_id``, or
    :func:`~taxovit.predictions.labels.attribute_labels` for ``--label-attr``); ``truth`` is
    a truth file (:mod:`~taxovit.predictions.truth`); the column options apply to the wide
    layout. Raises :class:`~taxovit.errors.InputError` naming the file, the line (or row or
    index) and the column of the first problem; ``ArgumentError`` for a missing or
    unwanted ``truth``.
    """
    cols = Columns(id_col, true_col, pred_col, score_prefix)
    src = open_source(path, f"{cols.id},{cols.true},{cols.pred}")
    fmt = detect_format(src, cols.pred)
    _truth_for(fmt, src, truth)
    t = None
    if truth is not None:
        from taxovit.predictions.truth import read_truth

        t = read_truth(truth, name_to_id)
    if fmt == "csv":
        from taxovit.predictions.csv_reader import read_wide_csv

        assert src.data is not None
        return read_wide_csv(src.context(), src.path, src.data, name_to_id, cols)
    if fmt == "parquet":
        from taxovit.predictions.parquet_reader import read_wide_parquet

        return read_wide_parquet(src, name_to_id, cols)
    if fmt == "npz":
        from taxovit.predictions.npz_reader import read_npz

        return read_npz(src, name_to_id)
    if fmt == "topk":
        from taxovit.predictions.topk_reader import read_topk

        assert t is not None
        return read_topk(src, name_to_id, t)
    from taxovit.predictions.long_reader import read_long

    return read_long(src, name_to_id, t)
