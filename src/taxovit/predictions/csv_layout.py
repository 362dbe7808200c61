"""The layout of a predictions CSV: its bytes, its header and its record boundaries.

Part of the strict reader (:mod:`taxovit.predictions.csv_reader`): these checks find what
makes a file unreadable as a table, with the exact line (and column where there is one).
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from taxovit.errors import ArgumentError, InputError
from taxovit.predictions.contract import ID_COL, PRED_COL, SCORE_PREFIX, TRUE_COL

# Fields of any length are data (the csv module's default limit, 131,072 characters, would
# report a long field as a quoting error).
csv.field_size_limit(2**31 - 1)

_SHOW = 60


def shorten(value: object) -> str:
    r = repr(value)
    return r if len(r) <= _SHOW else r[: _SHOW - 3] + "..."


class FileContext:
    """Where we are: the file name, for messages."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, message: str, row: int | None = None, column: str | None = None) -> InputError:
        return InputError(message, file=self.path, row=row, column=column)


# ----------------------------------------------------------------------------- bytes


def check_decodes(ctx: FileContext, data: bytes) -> str:
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


def parse_header(ctx: FileContext, text: str) -> tuple[list[str], int]:
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


@dataclass(frozen=True)
class Columns:
    """The names of the required columns and the score-column prefix."""

    id: str = ID_COL
    true: str = TRUE_COL
    pred: str = PRED_COL
    score_prefix: str = SCORE_PREFIX

    def __post_init__(self) -> None:
        names = {
            "id_col": ("id", self.id),
            "true_col": ("true-label", self.true),
            "pred_col": ("predicted-label", self.pred),
        }
        for arg, (what, name) in names.items():
            if not name:
                raise ArgumentError(f"{arg} is empty; expected the name of the {what} column")
        if len({name for _, name in names.values()}) < 3:
            raise ArgumentError(
                f"id_col, true_col and pred_col name the id, true-label and predicted-label "
                f"columns, which must differ; got {self.id!r}, {self.true!r} and {self.pred!r}"
            )

    @property
    def required(self) -> tuple[str, str, str]:
        return (self.id, self.true, self.pred)


def check_header(
    ctx: FileContext, header: list[str], name_to_id: Mapping[str, int], cols: Columns
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
    # the required columns first: a renamed one (--true-col nope) is named as missing, not
    # the file's own y_true as an unexpected column
    for name in cols.required:
        if name not in seen:
            raise ctx.error(
                f"missing required column; found columns {shorten(header)}, "
                f"expected {cols.id!r}, {cols.true!r} and {cols.pred!r}",
                row=1,
                column=name,
            )
    score_cols = [name for name in header if name not in cols.required]
    return score_cols, _score_column_ids(ctx, score_cols, name_to_id, cols)


def _score_column_ids(
    ctx: FileContext, names: list[str], name_to_id: Mapping[str, int], cols: Columns
) -> np.ndarray:
    """Node id of each score column's class; every other column is an error."""
    prefix = cols.score_prefix
    class_col: dict[int, str] = {}
    for name in names:
        if not name.startswith(prefix):
            raise ctx.error(
                f"unexpected column {shorten(name)}; expected {cols.id!r}, {cols.true!r}, "
                f"{cols.pred!r} or {prefix}<label> columns",
                row=1,
                column=name,
            )
        label = name[len(prefix) :]
        node = name_to_id.get(label)
        if node is None:
            raise ctx.error(
                f"score column names class {shorten(label)}, which is not a taxonomy node; "
                f"expected {prefix}<taxonomy node name>",
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
    return np.array(list(class_col), dtype=np.int64)


def _read_file(ctx: FileContext, path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ctx.error("file not found; expected a predictions CSV") from None
    except IsADirectoryError:
        raise ctx.error("is a folder; expected a predictions CSV file") from None
    except OSError as exc:
        raise ctx.error(f"cannot read the file: {exc.strerror}") from None


def load_bytes(ctx: FileContext, path: str, cols: Columns) -> bytes:
    """The file's bytes without a UTF-8 BOM; empty files and NUL bytes are errors.

    ``-`` reads standard input.
    """
    return check_bytes(ctx, _read_file(ctx, path), f"{cols.id},{cols.true},{cols.pred}")


def check_bytes(ctx: FileContext, data: bytes, header_hint: str) -> bytes:
    """``data`` without a UTF-8 BOM; empty data and NUL bytes are errors (``header_hint``:
    the header an empty file should have had, for the message)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data:
        raise ctx.error(
            f"empty file; expected a header '{header_hint}' and data rows",
            row=1,
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ctx.error(
            f"NUL byte at offset {nul}; expected CSV text", row=data.count(b"\n", 0, nul) + 1
        )
    return data


# ----------------------------------------------------------------------------- records


def scan_records(
    ctx: FileContext, text: str, header: list[str]
) -> tuple[np.ndarray, InputError | None]:
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
                    f"row has {what}; expected {ncols} fields ({shorten(','.join(header))})",
                    row=start,
                )
                break
            starts.append(start)
    except csv.Error as exc:
        problem = ctx.error(f"malformed CSV (quoting): {exc}; expected CSV", row=prev + 1)
    return np.array(starts[1:], dtype=np.int64), problem
