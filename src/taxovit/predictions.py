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

import codecs
import csv
import io
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taxovit.errors import InputError

__all__ = ["Predictions", "read_predictions"]

_SHOW = 60


@dataclass(frozen=True)
class Predictions:
    """A validated predictions file.

    ``ids`` (object array of str), ``y_true``/``y_pred`` (int64 node ids), ``score_labels``
    (int64 node ids of the score columns in file order, empty if none), ``scores`` (float64
    ``(n, C)`` in the same column order, or ``None`` without score columns) and ``path``.
    """

    ids: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    score_labels: np.ndarray
    scores: np.ndarray | None
    path: str | None

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def _show(value: object) -> str:
    r = repr(value)
    return r if len(r) <= _SHOW else r[: _SHOW - 3] + "..."


class _Ctx:
    """Where we are: the file name, for messages."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, message: str, row: int | None = None, column: str | None = None) -> InputError:
        return InputError(message, file=self.path, row=row, column=column)


# ----------------------------------------------------------------------------- bytes


def _check_decodes(ctx: _Ctx, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start
        line = data.count(b"\n", 0, pos) + 1
        column = _column_of_bad_byte(data, line)
        raise ctx.error(
            f"byte 0x{data[pos]:02x} at offset {pos} is not valid UTF-8; expected UTF-8 text",
            row=line,
            column=column,
        ) from None


def _column_of_bad_byte(data: bytes, line: int) -> str | None:
    """Name the column holding the first undecodable byte (``line`` is its physical line)."""
    text = data.decode("utf-8", errors="surrogateescape")  # bad bytes -> lone surrogates
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        prev = 0
        for rec in reader:
            start, prev = prev + 1, reader.line_num
            if header is None:
                header = rec
            if start <= line <= prev:
                for i, field in enumerate(rec):
                    if any("\udc80" <= ch <= "\udcff" for ch in field):
                        if rec is header:
                            return None
                        return header[i] if i < len(header) else None
                return None
    except csv.Error:
        return None
    return None


# ----------------------------------------------------------------------------- header


def _parse_header(ctx: _Ctx, text: str) -> tuple[list[str], int]:
    """The header fields and the number of physical lines the header spans.

    Only the header's own text is handed to ``csv``: it ends at the first newline outside
    quotes (even number of quote characters before it).
    """
    end = text.find("\n")
    while end >= 0 and text.count('"', 0, end) % 2:
        end = text.find("\n", end + 1)
    chunk = text if end < 0 else text[: end + 1]
    reader = csv.reader(io.StringIO(chunk, newline=""), strict=True)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise ctx.error(f"malformed CSV header: {exc}", row=1) from None
    if not header:
        raise ctx.error("blank header line; expected a header such as 'id,y_true,y_pred'", row=1)
    return header, max(reader.line_num, 1)


def _check_header(
    ctx: _Ctx,
    header: list[str],
    name_to_id: Mapping[str, int],
    id_col: str,
    true_col: str,
    pred_col: str,
    score_prefix: str,
) -> tuple[list[str], np.ndarray]:
    """Validate the header; return the score column names and their node ids (file order)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            raise ctx.error(
                f"duplicate column name (fields {seen[name] + 1} and {i + 1}); "
                "expected each column once",
                row=1,
                column=name,
            )
        seen[name] = i
    required = (id_col, true_col, pred_col)
    score_cols: list[str] = []
    score_ids: list[int] = []
    class_col: dict[int, str] = {}
    for name in header:
        if name in required:
            continue
        if not name.startswith(score_prefix):
            raise ctx.error(
                f"unexpected column {_show(name)}; expected {id_col!r}, {true_col!r}, "
                f"{pred_col!r} or {score_prefix}<label> columns",
                row=1,
                column=name,
            )
        label = name[len(score_prefix) :]
        node = name_to_id.get(label)
        if node is None:
            raise ctx.error(
                f"score column names class {_show(label)}, which is not a taxonomy node; "
                f"expected {score_prefix}<taxonomy node name>",
                row=1,
                column=name,
            )
        node = int(node)
        if node in class_col:
            raise ctx.error(
                f"score column names the same class as column {class_col[node]!r}; "
                "expected one score column per class",
                row=1,
                column=name,
            )
        class_col[node] = name
        score_cols.append(name)
        score_ids.append(node)
    for name in required:
        if name not in seen:
            raise ctx.error(
                f"missing required column; found columns {_show(header)}, "
                f"expected {id_col!r}, {true_col!r} and {pred_col!r}",
                row=1,
                column=name,
            )
    return score_cols, np.array(score_ids, dtype=np.int64)


# ----------------------------------------------------------------------------- records


def _scan_records(ctx: _Ctx, text: str, header: list[str]) -> tuple[np.ndarray, InputError | None]:
    """Exact structure with ``csv.reader(strict=True)`` (run only when something is wrong).

    Returns the starting line of each data record up to the first structural problem (bad
    quoting, wrong number of fields, blank line) and that problem as an ``InputError``
    (or None).
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    starts: list[int] = []
    prev = 0
    ncols = len(header)
    problem: InputError | None = None
    try:
        for rec in reader:
            start, prev = prev + 1, reader.line_num
            if len(rec) != ncols:
                got = len(rec)
                what = "a blank line" if got == 0 else f"{got} field{'s' if got != 1 else ''}"
                problem = ctx.error(
                    f"row has {what}; expected {ncols} fields ({_show(','.join(header))})",
                    row=start,
                )
                break
            starts.append(start)
    except csv.Error as exc:
        problem = ctx.error(f"malformed CSV (quoting): {exc}; expected CSV", row=prev + 1)
    return np.array(starts[1:], dtype=np.int64), problem


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
        index_col=False,
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
            return pd.read_csv(io.BytesIO(data), dtype=dt, **base), True
        except (ValueError, TypeError):
            pass
    return pd.read_csv(io.BytesIO(data), dtype=dtypes, **base), False


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


def read_predictions(
    path: str | os.PathLike[str],
    name_to_id: Mapping[str, int],
    *,
    id_col: str = "id",
    true_col: str = "y_true",
    pred_col: str = "y_pred",
    score_prefix: str = "score_",
) -> Predictions:
    """Read ``path`` (see the module docstring for the format and the checks).

    ``name_to_id`` maps taxonomy node names to node ids.  Raises ``InputError`` on any
    problem in the file; ``OSError`` if it cannot be opened.
    """
    spath = os.fspath(path)
    ctx = _Ctx(spath)
    with open(spath, "rb") as fh:
        data = fh.read()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data:
        raise ctx.error(
            f"empty file; expected a header '{id_col},{true_col},{pred_col}' and data rows",
            row=1,
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ctx.error(
            f"NUL byte at offset {nul}; expected CSV text", row=data.count(b"\n", 0, nul) + 1
        )
    text = _check_decodes(ctx, data)
    header, header_lines = _parse_header(ctx, text)
    score_cols, score_labels = _check_header(
        ctx, header, name_to_id, id_col, true_col, pred_col, score_prefix
    )
    del text

    def structure() -> tuple[np.ndarray, InputError | None]:
        return _scan_records(ctx, data.decode("utf-8"), header)

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

    # --- cells: collect the first bad cell of each kind; report the earliest
    col_pos = {name: i for i, name in enumerate(header)}
    problems: list[tuple[int, int, str, str]] = []  # (row, column position, column, message)
    dup_of: dict[int, int] = {}

    def note(row: int, column: str, message: str) -> None:
        if row >= 0:
            problems.append((row, col_pos[column], column, message))

    ids = df[id_col].to_numpy(dtype=object)
    id_empty = ids == ""
    note(_first(id_empty), id_col, "empty id; expected a non-empty identifier")
    codes, uniq = pd.factorize(ids)
    if len(uniq) != n:
        r = _first(pd.Series(codes).duplicated().to_numpy() & ~id_empty)
        if r >= 0:
            dup_of[r] = int(np.flatnonzero(codes == codes[r])[0])
            note(r, id_col, f"duplicate id {_show(ids[r])}; expected each id once")

    labels: dict[str, np.ndarray] = {}
    for col in (true_col, pred_col):
        values = df[col].to_numpy(dtype=object)
        node_ids, empty = _map_labels(values, name_to_id)
        labels[col] = node_ids
        note(_first(empty), col, "empty cell; expected a taxonomy node name")
        r = _first((node_ids < 0) & ~empty)
        if r >= 0:
            note(r, col, f"{_show(values[r])} is not a taxonomy node; expected a node name")

    scores: np.ndarray | None = None
    if score_cols:
        if scores_parsed:
            scores = np.empty((n, len(score_cols)), dtype=np.float64)
            for j, col in enumerate(score_cols):
                scores[:, j] = df[col].to_numpy(dtype=np.float64)
            finite = np.isfinite(scores)
            if not finite.all():
                raw = _read_table(data, header, [])[0]
                for j, col in enumerate(score_cols):
                    r = _first(~finite[:, j])
                    if r >= 0:
                        note(
                            r,
                            col,
                            f"score {_show(raw[col].iat[r])} is not finite; "
                            "expected a finite number",
                        )
        else:
            scores = np.empty((n, len(score_cols)), dtype=np.float64)
            for j, col in enumerate(score_cols):
                strs = df[col].to_numpy(dtype=object)
                vals = pd.to_numeric(pd.Series(strs), errors="coerce").to_numpy(dtype=np.float64)
                for r in np.flatnonzero(~np.isfinite(vals)):
                    v = _valid_score(strs[r])
                    if v is None:
                        what = "empty score" if strs[r] == "" else f"score {_show(strs[r])}"
                        note(
                            int(r), col, f"{what} is not a finite number; expected a finite number"
                        )
                        break
                    vals[r] = v
                scores[:, j] = vals

    if problems:
        r, _, column, message = min(problems)
        starts, problem = structure()
        if problem is not None and r >= starts.shape[0]:
            raise problem  # a malformed record comes first (and misaligns what follows)
        if problem is None and starts.shape[0] != n:
            raise ctx.error(
                f"data row {r + 1} (line unknown: parsers disagree on the record "
                f"boundaries): {message}",
                column=column,
            )
        if r in dup_of:
            message += f" (first seen on line {int(starts[dup_of[r]])})"
        raise ctx.error(message, row=int(starts[r]), column=column)

    return Predictions(
        ids=ids,
        y_true=labels[true_col],
        y_pred=labels[pred_col],
        score_labels=score_labels,
        scores=scores,
        path=spath,
    )
