"""Read and strictly validate a predictions CSV (docs/metrics.md, "preds.csv").

Format: a header naming ``id``, ``y_true``, ``y_pred`` and optionally one ``score_<label>``
column per class (any order), then one row per sample.  Quoting is that of Python's ``csv``
module (default dialect).  A UTF-8 byte-order mark is accepted; line ends may be LF or CRLF.

Every problem raises :class:`taxovit.errors.InputError` naming the file, the line (header =
line 1; for a record whose quoted field spans several lines, the line the record starts on),
the column where there is one, what was found (``repr``, truncated) and what was expected.
Nothing is skipped or repaired.  The checks, in order:

1. the bytes: empty file, NUL byte, bytes that are not UTF-8 (line of the first bad byte);
2. the header: blank, duplicate column name, unexpected column, a score column naming an
   unknown class (or a class already named), missing ``id``/``y_true``/``y_pred``;
3. the rows, reporting the earliest problem in reading order (row by row, left to right):
   malformed quoting, a row or blank line with the wrong number of fields, empty ``id``,
   duplicate ``id``, empty ``y_true``/``y_pred`` cell, label not in the taxonomy, score
   that is not a number or is not finite; and no data rows at all.

A score is valid when pandas' C parser reads it as a finite float (``inf``, ``nan``,
``1e400`` are rejected); where pandas rejects a cell it is re-checked with Python's
``float`` (ASCII only, no ``_`` separators, finite).

Speed (about 1-2 s per million rows): the file is parsed once by ``pandas.read_csv`` (C
engine, every column as ``str`` except score columns as float64) and checked with vectorised
operations; labels go through ``pd.factorize`` so only distinct labels are looked up.  Only
when something is wrong is the file re-read with ``csv.reader(strict=True)`` to find record
boundaries and exact line numbers.  (A too-long row makes pandas fail, a too-short one
yields empty cells, both of which trigger that re-read, so field-count errors are always
caught.  Quoting that pandas accepts but strict ``csv`` would not, e.g. ``"a"b``, is read
as pandas reads it when the file has no other problem.)
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from taxovit.errors import InputError
from taxovit.predictions.cells import Problems, first, valid_score
from taxovit.predictions.contract import ID_COL, PRED_COL, SCORE_PREFIX, TRUE_COL, Predictions
from taxovit.predictions.csv_layout import (
    Columns,
    FileContext,
    check_decodes,
    check_header,
    load_bytes,
    parse_header,
    scan_records,
    shorten,
)
from taxovit.predictions.tables import wide_from_table

if TYPE_CHECKING:  # pandas is imported by the functions that read a CSV
    import pandas as pd

__all__ = ["CsvTable", "csv_header", "read_predictions", "read_wide_csv"]

# ----------------------------------------------------------------------------- cells


def read_table(data: bytes, header: list[str], score_cols: list[str]) -> tuple[pd.DataFrame, bool]:
    """Parse the data with pandas; score columns as float64 when pandas accepts them all."""
    base = dict(
        header=0,
        names=header,
        keep_default_na=False,
        na_filter=False,
        engine="c",
        skip_blank_lines=False,
        encoding="utf-8",
    )
    # object (Python str) rather than str: pandas >= 3 would build Arrow strings first
    dtypes: dict[str, object] = {name: object for name in header}
    if score_cols:
        try:
            dt = dict(dtypes)
            dt.update({name: np.float64 for name in score_cols})
            return _parse(data, dt, base), True
        except (ValueError, TypeError):
            pass
    return _parse(data, dtypes, base), False


def _parse(data: bytes, dtypes: dict[str, object], options: dict) -> pd.DataFrame:
    """``pandas.read_csv``; rows with more fields than the header are a parser error.

    (pandas reads rows that all carry one field too many, e.g. a trailing comma on every
    row, by taking the first column as the index; a later row that is too long fails.)
    """
    import pandas as pd

    df = pd.read_csv(io.BytesIO(data), dtype=dtypes, **options)
    if not isinstance(df.index, pd.RangeIndex):
        raise pd.errors.ParserError("rows have more fields than the header")
    return df


def parsed_scores(
    df: pd.DataFrame, raw: Callable[[], pd.DataFrame], score_cols: list[str], problems: Problems
) -> np.ndarray:
    """Score columns pandas read as floats; non-finite values are reported as written."""
    scores = np.empty((len(df), len(score_cols)), dtype=np.float64)
    for j, col in enumerate(score_cols):
        scores[:, j] = df[col].to_numpy(dtype=np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        text = raw()
        for j, col in enumerate(score_cols):
            r = first(~finite[:, j])
            if r >= 0:
                shown = shorten(text[col].iat[r])
                problems.note(r, col, f"score {shown} is not finite; expected a finite number")
    return scores


def coerced_scores(df: pd.DataFrame, score_cols: list[str], problems: Problems) -> np.ndarray:
    """Score columns pandas could not read as floats: each cell re-checked (see _valid_score)."""
    import pandas as pd

    scores = np.empty((len(df), len(score_cols)), dtype=np.float64)
    for j, col in enumerate(score_cols):
        strs = df[col].to_numpy(dtype=object)
        vals = pd.to_numeric(pd.Series(strs), errors="coerce").to_numpy(dtype=np.float64)
        for r in np.flatnonzero(~np.isfinite(vals)):
            v = valid_score(strs[r])
            if v is None:
                what = "empty score" if strs[r] == "" else f"score {shorten(strs[r])}"
                problems.note(
                    int(r), col, f"{what} is not a finite number; expected a finite number"
                )
                break
            vals[r] = v
        scores[:, j] = vals
    return scores


def raise_first(
    ctx: FileContext,
    problems: Problems,
    structure: Callable[[], tuple[np.ndarray, InputError | None]],
    n: int,
) -> None:
    """Raise the earliest problem, located on its physical line (a malformed record that
    comes first wins, since it misaligns what follows)."""
    p = problems.earliest()
    r, column, message = p.row, p.column, p.message
    starts, problem = structure()
    if problem is not None and r >= starts.shape[0]:
        raise problem
    if problem is None and starts.shape[0] != n:
        raise ctx.error(
            f"data row {r + 1} (line unknown: parsers disagree on the record "
            f"boundaries): {message}",
            column=column,
        )
    if p.ref is not None:
        message += f" (first seen on line {int(starts[p.ref])})"
    raise ctx.error(message, row=int(starts[r]), column=column)


def csv_header(ctx: FileContext, data: bytes) -> tuple[list[str], int]:
    """The header fields of CSV bytes and the number of lines the header spans."""
    return parse_header(ctx, check_decodes(ctx, data))


class CsvTable:
    """The data rows of a CSV, parsed once by pandas (see the module docstring).

    ``strings(column)`` gives a column's cells as ``str`` ("" when empty), ``floats``
    the float columns named at construction (their bad cells noted), and ``check`` raises
    the earliest noted problem located on its physical line.
    """

    def __init__(
        self,
        ctx: FileContext,
        data: bytes,
        header: list[str],
        header_lines: int,
        float_cols: list[str],
    ) -> None:
        import pandas as pd

        self.ctx, self.data, self.header = ctx, data, header
        try:
            with warnings.catch_warnings():
                # pandas only warns (and drops data) when the first row is too long
                warnings.simplefilter("error", pd.errors.ParserWarning)
                self.df, self.parsed = read_table(data, header, float_cols)
        except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
            _, problem = self.structure()
            if problem is not None:
                raise problem from None
            raise ctx.error(f"could not parse the file as CSV: {exc}") from None
        self.n = len(self.df)
        if self.n == 0:
            raise ctx.error(
                "no data rows; expected at least one row after the header", row=header_lines + 1
            )

    def structure(self) -> tuple[np.ndarray, InputError | None]:
        return scan_records(self.ctx, self.data.decode("utf-8"), self.header)

    def strings(self, column: str) -> np.ndarray:
        return self.df[column].to_numpy(dtype=object)

    def factorized(self, column: str, ordered: bool = True) -> tuple[np.ndarray, np.ndarray]:
        import pandas as pd

        codes, uniques = pd.factorize(self.strings(column))
        return codes, np.asarray(uniques, dtype=object)

    def floats(self, columns: list[str], problems: Problems) -> np.ndarray:
        if self.parsed:
            raw = lambda: read_table(self.data, self.header, [])[0]  # noqa: E731
            return parsed_scores(self.df, raw, columns, problems)
        return coerced_scores(self.df, columns, problems)

    def check(self, problems: Problems) -> None:
        if problems.items:
            raise_first(self.ctx, problems, self.structure, self.n)


def read_predictions(
    path: str | os.PathLike[str],
    name_to_id: Mapping[str, int],
    *,
    id_col: str = ID_COL,
    true_col: str = TRUE_COL,
    pred_col: str = PRED_COL,
    score_prefix: str = SCORE_PREFIX,
) -> Predictions:
    """Read and strictly validate a wide predictions CSV (``id,y_true,y_pred,score_*``).

    The strict reader of the one CSV layout (the module docstring lists the checks, in
    order); :func:`~taxovit.predictions.read_any` reads every format.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file; ``"-"`` reads standard input.
    name_to_id : Mapping of str to int
        Label text -> node id (``taxonomy.name_to_id``).
    id_col : str, default "id"
        The sample id column.
    true_col : str, default "y_true"
        The true label column.
    pred_col : str, default "y_pred"
        The predicted label column.
    score_prefix : str, default "score_"
        The prefix of the score columns' names (``score_<label>``).

    Returns
    -------
    Predictions
        ``format="csv"``; ``scores`` when the file has score columns, else ``None``.

    Raises
    ------
    InputError
        Naming the file, the line (header = line 1) and the column of the first problem,
        and what was expected; also when the file is missing, a folder or unreadable.

    Examples
    --------
    >>> import os, tempfile
    >>> from taxovit import Taxonomy
    >>> from taxovit.errors import InputError
    >>> from taxovit.predictions import read_predictions
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "preds.csv")
    ...     with open(path, "w") as f:
    ...         print("id,y_true,y_pred", "a,Corvus,Corvus", "b,Pica,Corvus", sep="\\n", file=f)
    ...     pred = read_predictions(path, tax.name_to_id)
    ...     with open(path, "a") as f:
    ...         print("c,Pica,Passer", file=f)
    ...     try:
    ...         read_predictions(path, tax.name_to_id)
    ...     except InputError as e:
    ...         print(e.row, e.column, e.message)
    4 y_pred 'Passer' is not a taxonomy node; expected a node name
    >>> pred.ids, tax.names(pred.y_pred), pred.scores is None
    (array(['a', 'b'], dtype=object), ['Corvus', 'Corvus'], True)
    """
    spath = os.fspath(path)
    ctx = FileContext("<stdin>" if spath == "-" else spath)
    cols = Columns(id_col, true_col, pred_col, score_prefix)
    return read_wide_csv(ctx, spath, load_bytes(ctx, spath, cols), name_to_id, cols)


def read_wide_csv(
    ctx: FileContext, path: str, data: bytes, name_to_id: Mapping[str, int], cols: Columns
) -> Predictions:
    """:func:`read_predictions` on the file's bytes (already read, BOM removed)."""
    header, header_lines = csv_header(ctx, data)
    score_cols, score_labels = check_header(ctx, header, name_to_id, cols)
    table = CsvTable(ctx, data, header, header_lines, score_cols)
    return wide_from_table(table, path, name_to_id, cols, score_cols, score_labels, "csv")
