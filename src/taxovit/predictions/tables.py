"""What every predictions reader shares: a table of cells, whatever file holds it.

A :class:`Table` (a CSV's :class:`~taxovit.predictions.csv_reader.CsvTable`, a Parquet file's
:class:`~taxovit.predictions.parquet_reader.ParquetTable`) gives its columns as arrays and
locates a problem on its own terms (a CSV line, a Parquet row), so each format's rules are
written once over tables: the wide layout here, the long and top-k layouts in their modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NoReturn, Protocol

import numpy as np

from taxovit.errors import InputError
from taxovit.predictions.cells import Problems, check_ids, check_labels
from taxovit.predictions.contract import Predictions
from taxovit.predictions.csv_layout import Columns, FileContext, shorten

__all__ = [
    "RecordContext",
    "RecordError",
    "Table",
    "fail_at",
    "find_columns",
    "wide_from_table",
]


class RecordError(InputError):
    """An :class:`InputError` located by record rather than by line: ``row`` is a Parquet
    data row (1-based) or an array index (0-based), shown with its ``unit``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        unit: str = "row",
    ) -> None:
        self.unit = unit
        super().__init__(message, file=file, row=row, column=column)

    def __str__(self) -> str:
        where = [str(self.file)] if self.file is not None else []
        if self.row is not None:
            where.append(f"{self.unit} {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return (", ".join(where) + ": " if where else "") + self.message


class RecordContext(FileContext):
    """A file whose problems are located by record (``unit`` ``row`` or ``index``)."""

    def __init__(self, path: str, unit: str = "row") -> None:
        super().__init__(path)
        self.unit = unit

    def error(self, message: str, row: int | None = None, column: str | None = None) -> InputError:
        return RecordError(message, file=self.path, row=row, column=column, unit=self.unit)


class Table(Protocol):
    """The data rows of a predictions file (see the module docstring)."""

    ctx: FileContext
    header: list[str]
    n: int

    def strings(self, column: str) -> np.ndarray:
        """The column's cells as an object array of ``str`` (``""`` when empty)."""

    def factorized(self, column: str, ordered: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, uniques)``: the cells are ``uniques[codes]`` (distinct ``str``; numbered
        in order of first appearance, as ``pd.factorize``, when ``ordered``)."""

    def floats(self, columns: list[str], problems: Problems) -> np.ndarray:
        """``(n, len(columns))`` float64; cells that are not finite numbers are noted."""

    def check(self, problems: Problems) -> None:
        """Raise the earliest noted problem (nothing when there is none)."""


def fail_at(table: Table, row: int, column: str, message: str, ref: int | None = None) -> NoReturn:
    """Raise one problem at data row ``row`` (0-based) of ``table``."""
    problems = Problems(table.header)
    problems.note(row, column, message, ref)
    table.check(problems)
    raise AssertionError("unreachable: Table.check raises a noted problem")


def find_columns(
    ctx: FileContext,
    header: Sequence[str],
    required: Sequence[str],
    optional: Sequence[str] = (),
    *,
    others_ok: bool = False,
    row: int | None = 1,
) -> dict[str, str]:
    """Map each wanted name to the header's spelling, matching in any case.

    A column named twice (in any case), a missing required column or (unless ``others_ok``)
    any other column is an error naming it; ``row`` is where the header is (1: a CSV's
    first line, None: a Parquet schema).
    """
    wanted = {w.lower(): w for w in (*required, *optional)}
    found: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in header:
        key = name.lower()
        if key in seen:
            raise ctx.error(
                f"duplicate column name (also {seen[key]!r}); expected each column "
                "once, in any case",
                row=row,
                column=name,
            )
        seen[key] = name
        if key in wanted:
            found[wanted[key]] = name
        elif not others_ok:
            raise ctx.error(
                f"unexpected column {shorten(name)}; expected the columns "
                f"{', '.join(wanted.values())}",
                row=row,
                column=name,
            )
    for name in required:
        if name not in found:
            raise ctx.error(
                f"missing required column; found columns {shorten(list(header))}, "
                f"expected {', '.join(required)} (any case)",
                row=row,
                column=name,
            )
    return found


def wide_from_table(
    table: Table,
    path: str,
    name_to_id: Mapping[str, int],
    cols: Columns,
    score_cols: list[str],
    score_labels: np.ndarray,
    fmt: str,
) -> Predictions:
    """The wide layout (``id``, ``y_true``, ``y_pred``, ``score_<label>``...) of a table whose
    header :func:`~taxovit.predictions.csv_layout.check_header` accepted."""
    problems = Problems(table.header)
    ids = check_ids(table.strings(cols.id), cols.id, problems)
    y_true = check_labels(table.strings(cols.true), cols.true, name_to_id, problems)
    y_pred = check_labels(table.strings(cols.pred), cols.pred, name_to_id, problems)
    scores = table.floats(score_cols, problems) if score_cols else None
    table.check(problems)
    return Predictions(ids, y_true, y_pred, score_labels, scores, path, format=fmt)
