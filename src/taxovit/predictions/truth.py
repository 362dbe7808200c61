"""The ground truth of files without true labels (``--truth``): CSV or Parquet with an ``id``
column and an ``expected`` (as in the iNaturalist competitions' solution files) or ``y_true``
column, names in any case; other columns (``usage``...) are ignored. Its ids must be exactly
those of the predictions file: a missing or an extra id is an error naming the first one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from taxovit.predictions.cells import Problems, check_ids, check_labels, first
from taxovit.predictions.csv_layout import shorten
from taxovit.predictions.sources import header_of, load_table, open_source
from taxovit.predictions.tables import Table, fail_at, find_columns

__all__ = ["Truth", "align_truth", "read_truth"]


@dataclass
class Truth:
    """A read truth file: ``ids`` and their ``y_true`` node ids, and the table (for errors)."""

    path: str
    table: Table
    id_col: str
    ids: np.ndarray
    y_true: np.ndarray


def read_truth(path: str | os.PathLike[str], name_to_id: Mapping[str, int]) -> Truth:
    """Read and check a truth file (see the module docstring)."""
    src = open_source(path, "id,expected", what="a truth file (id,expected)")
    if src.kind == "npz":
        raise src.context().error("a truth file is CSV or Parquet (id,expected), not .npz")
    ctx = src.context()
    header, row = header_of(src)
    names = find_columns(ctx, header, ["id"], ["expected", "y_true"], others_ok=True, row=row)
    if ("expected" in names) == ("y_true" in names):
        found = "both" if "expected" in names else "neither"
        raise ctx.error(
            f"found {found} of 'expected' and 'y_true'; expected one column of true labels",
            row=row,
            column="expected",
        )
    label_col = names.get("expected", names.get("y_true"))
    assert label_col is not None
    table = load_table(src, header, [])
    problems = Problems(table.header)
    ids = check_ids(table.strings(names["id"]), names["id"], problems)
    y_true = check_labels(table.strings(label_col), label_col, name_to_id, problems)
    table.check(problems)
    return Truth(src.shown, table, names["id"], ids, y_true)


def align_truth(
    truth: Truth, ids: np.ndarray, table: Table, id_col: str, rows: np.ndarray | None = None
) -> np.ndarray:
    """The true label of each of ``ids`` (unique; ``rows``: the data row of each id in the
    predictions ``table``, default ``arange``)."""
    import pandas as pd

    pos = pd.Index(truth.ids).get_indexer(ids)
    miss = first(pos < 0)
    if miss >= 0:
        row = miss if rows is None else int(rows[miss])
        fail_at(
            table,
            row,
            id_col,
            f"id {shorten(ids[miss])} is not in the truth file "
            f"{truth.path}; expected the same ids in both files",
        )
    if len(truth.ids) != len(ids):
        extra = first(pd.Index(ids).get_indexer(truth.ids) < 0)
        fail_at(
            truth.table,
            extra,
            truth.id_col,
            f"id {shorten(truth.ids[extra])} is not in "
            f"the predictions file {table.ctx.path}; expected the same ids in both files",
        )
    return truth.y_true[pos]
