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

import numpy as np
import pandas as pd

from taxovit.errors import InputError
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

__all__ = ["read_predictions"]

# ----------------------------------------------------------------------------- cells


def _valid_score(s: str) -> float | None:
    """Python's reading of a score cell pandas rejected; None when it is not acceptable."""
    if not s.isascii() or "_" in s:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def _read_table(data: bytes, header: list[str], score_cols: list[str]) -> tuple[pd.DataFrame, bool]:
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
    df = pd.read_csv(io.BytesIO(data), dtype=dtypes, **options)
    if not isinstance(df.index, pd.RangeIndex):
        raise pd.errors.ParserError("rows have more fields than the header")
    return df


def _map_labels(values: np.ndarray, name_to_id: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(node ids with -1 for unknown, mask of empty cells), looking up distinct values only."""
    codes, uniques = pd.factorize(values)
    lut = np.fromiter(
        (name_to_id.get(u, -1) if u != "" else -1 for u in uniques),
        dtype=np.int64,
        count=len(uniques),
    )
    empty_code = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
    ids = lut[codes]
    empty = codes == empty_code[0] if empty_code.size else np.zeros(len(codes), dtype=bool)
    return ids, empty


def _first(mask: np.ndarray) -> int:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else -1


class _Problems:
    """The first bad cell of each kind; the earliest in reading order is reported."""

    def __init__(self, header: list[str]) -> None:
        self.col_pos = {name: i for i, name in enumerate(header)}
        self.items: list[tuple[int, int, str, str]] = []  # (row, column position, column, msg)
        self.dup_of: dict[int, int] = {}  # row of a duplicate id -> row of its first use

    def note(self, row: int, column: str, message: str) -> None:
        if row >= 0:
            self.items.append((row, self.col_pos[column], column, message))


def _check_ids(df: pd.DataFrame, column: str, problems: _Problems) -> np.ndarray:
    ids = df[column].to_numpy(dtype=object)
    id_empty = ids == ""
    problems.note(_first(id_empty), column, "empty id; expected a non-empty identifier")
    codes, uniq = pd.factorize(ids)
    if len(uniq) != len(ids):
        r = _first(pd.Series(codes).duplicated().to_numpy() & ~id_empty)
        if r >= 0:
            problems.dup_of[r] = int(np.flatnonzero(codes == codes[r])[0])
            problems.note(r, column, f"duplicate id {shorten(ids[r])}; expected each id once")
    return ids


def _check_labels(
    df: pd.DataFrame, column: str, name_to_id: Mapping[str, int], problems: _Problems
) -> np.ndarray:
    values = df[column].to_numpy(dtype=object)
    node_ids, empty = _map_labels(values, name_to_id)
    problems.note(_first(empty), column, "empty cell; expected a taxonomy node name")
    r = _first((node_ids < 0) & ~empty)
    if r >= 0:
        problems.note(r, column, f"{shorten(values[r])} is not a taxonomy node; expected a node name")
    return node_ids


def _parsed_scores(
    df: pd.DataFrame, raw: Callable[[], pd.DataFrame], score_cols: list[str], problems: _Problems
) -> np.ndarray:
    """Score columns pandas read as floats; non-finite values are reported as written."""
    scores = np.empty((len(df), len(score_cols)), dtype=np.float64)
    for j, col in enumerate(score_cols):
        scores[:, j] = df[col].to_numpy(dtype=np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        text = raw()
        for j, col in enumerate(score_cols):
            r = _first(~finite[:, j])
            if r >= 0:
                shown = shorten(text[col].iat[r])
                problems.note(r, col, f"score {shown} is not finite; expected a finite number")
    return scores


def _coerced_scores(df: pd.DataFrame, score_cols: list[str], problems: _Problems) -> np.ndarray:
    """Score columns pandas could not read as floats: each cell re-checked (see _valid_score)."""
    scores = np.empty((len(df), len(score_cols)), dtype=np.float64)
    for j, col in enumerate(score_cols):
        strs = df[col].to_numpy(dtype=object)
        vals = pd.to_numeric(pd.Series(strs), errors="coerce").to_numpy(dtype=np.float64)
        for r in np.flatnonzero(~np.isfinite(vals)):
            v = _valid_score(strs[r])
            if v is None:
                what = "empty score" if strs[r] == "" else f"score {shorten(strs[r])}"
                problems.note(int(r), col, f"{what} is not a finite number; expected a finite number")
                break
            vals[r] = v
        scores[:, j] = vals
    return scores


def _raise_first(
    ctx: FileContext,
    problems: _Problems,
    structure: Callable[[], tuple[np.ndarray, InputError | None]],
    n: int,
) -> None:
    """Raise the earliest problem, located on its physical line (a malformed record that
    comes first wins, since it misaligns what follows)."""
    r, _, column, message = min(problems.items)
    starts, problem = structure()
    if problem is not None and r >= starts.shape[0]:
        raise problem
    if problem is None and starts.shape[0] != n:
        raise ctx.error(
            f"data row {r + 1} (line unknown: parsers disagree on the record "
            f"boundaries): {message}",
            column=column,
        )
    if r in problems.dup_of:
        message += f" (first seen on line {int(starts[problems.dup_of[r]])})"
    raise ctx.error(message, row=int(starts[r]), column=column)


def read_predictions(
    path: str | os.PathLike[str],
    name_to_id: Mapping[str, int],
    *,
    id_col: str = ID_COL,
    true_col: str = TRUE_COL,
    pred_col: str = PRED_COL,
    score_prefix: str = SCORE_PREFIX,
) -> Predictions:
    """Read ``path`` (see the module docstring for the format and the checks).

    ``name_to_id`` maps taxonomy node names to node ids.  Raises ``InputError`` on any
    problem in the file; ``OSError`` if it cannot be opened.
    """
    spath = os.fspath(path)
    ctx = FileContext("<stdin>" if spath == "-" else spath)
    cols = Columns(id_col, true_col, pred_col, score_prefix)
    data = load_bytes(ctx, spath, cols)
    header, header_lines = parse_header(ctx, check_decodes(ctx, data))
    score_cols, score_labels = check_header(ctx, header, name_to_id, cols)

    def structure() -> tuple[np.ndarray, InputError | None]:
        return scan_records(ctx, data.decode("utf-8"), header)

    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops data) when the first row is too long
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df, scores_parsed = _read_table(data, header, score_cols)
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        _, problem = structure()
        if problem is not None:
            raise problem from None
        raise ctx.error(f"could not parse the file as CSV: {exc}") from None
    n = len(df)
    if n == 0:
        raise ctx.error(
            "no data rows; expected at least one row after the header", row=header_lines + 1
        )

    problems = _Problems(header)
    ids = _check_ids(df, cols.id, problems)
    y_true = _check_labels(df, cols.true, name_to_id, problems)
    y_pred = _check_labels(df, cols.pred, name_to_id, problems)
    scores: np.ndarray | None = None
    if score_cols and scores_parsed:
        raw = lambda: _read_table(data, header, [])[0]  # noqa: E731
        scores = _parsed_scores(df, raw, score_cols, problems)
    elif score_cols:
        scores = _coerced_scores(df, score_cols, problems)
    if problems.items:
        _raise_first(ctx, problems, structure, n)
    return Predictions(ids, y_true, y_pred, score_labels, scores, spath)
