"""Where a predictions (or truth) file comes from, and which container it is.

:func:`open_source` looks at the first bytes (the *magic*: ``PAR1`` for Parquet, ``PK`` for a
``.npz`` zip archive) and the extension; everything else is CSV text, read whole (the CSV
readers parse it once with pandas). ``-`` is standard input, read whole. Parquet and ``.npz``
files on disk are left to their readers, which read only what they need.
:func:`header_of` and :func:`load_table` give any CSV or Parquet file as a header and then
a :class:`~taxovit.predictions.tables.Table`.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass

from taxovit.predictions.csv_layout import FileContext, check_bytes
from taxovit.predictions.csv_reader import CsvTable, csv_header
from taxovit.predictions.tables import RecordContext, Table

__all__ = ["Source", "header_of", "load_table", "open_source"]

PARQUET_MAGIC = b"PAR1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
PARQUET_EXTENSIONS = (".parquet", ".pq")
NPZ_EXTENSIONS = (".npz",)


@dataclass
class Source:
    """An opened input: ``path`` as given, ``kind`` (``csv``, ``parquet`` or ``npz``),
    ``data`` (CSV text bytes without BOM, or the bytes read from standard input)."""

    path: str
    kind: str
    data: bytes | None

    @property
    def shown(self) -> str:
        return "<stdin>" if self.path == "-" else self.path

    def context(self) -> FileContext:
        """Locates problems by line (CSV), by row (Parquet) or by index (``.npz`` arrays)."""
        if self.kind == "csv":
            return FileContext(self.shown)
        return RecordContext(self.shown, "index" if self.kind == "npz" else "row")

    def binary(self) -> str | io.BytesIO:
        """What pyarrow and numpy open: the path, or the standard-input bytes."""
        return io.BytesIO(self.data) if self.path == "-" and self.data is not None else self.path


def _head(ctx: FileContext, path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(8)
    except FileNotFoundError:
        raise ctx.error(f"file not found; expected {what}") from None
    except IsADirectoryError:
        raise ctx.error(f"is a folder; expected {what}") from None
    except OSError as exc:
        raise ctx.error(f"cannot read the file: {exc.strerror}") from None


def _kind(ctx: FileContext, path: str, head: bytes) -> str:
    ext = os.path.splitext(path)[1].lower()
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(ZIP_MAGICS):
        return "npz"
    if ext in PARQUET_EXTENSIONS:
        raise ctx.error(f"not a Parquet file: it starts with {head[:4]!r}, expected b'PAR1'")
    if ext in NPZ_EXTENSIONS:
        raise ctx.error(
            f"not an .npz archive: it starts with {head[:4]!r}, expected a zip "
            "archive as written by numpy.savez"
        )
    return "csv"


def open_source(
    path: str | os.PathLike[str],
    header_hint: str = "id,y_true,y_pred",
    what: str = "a predictions file",
) -> Source:
    """Open ``path`` (``-``: standard input) and tell its container from its first bytes.

    ``header_hint`` and ``what`` describe the expected file in messages."""
    spath = os.fspath(path)
    ctx = FileContext("<stdin>" if spath == "-" else spath)
    if spath == "-":
        data: bytes | None = sys.stdin.buffer.read()
        kind = _kind(ctx, spath, data[:8])
    else:
        kind = _kind(ctx, spath, _head(ctx, spath, what))
        data = None
        if kind == "csv":
            with open(spath, "rb") as fh:
                data = fh.read()
    if kind == "csv":
        assert data is not None
        data = check_bytes(ctx, data, header_hint)
    return Source(spath, kind, data)


def header_of(src: Source) -> tuple[list[str], int | None]:
    """The column names, and the line of the header (None for a Parquet schema)."""
    if src.kind == "parquet":
        from taxovit.predictions.parquet_reader import parquet_columns

        return parquet_columns(src), None
    assert src.data is not None
    header, _ = csv_header(src.context(), src.data)
    return header, 1


def load_table(src: Source, header: list[str], float_cols: list[str]) -> Table:
    """The data rows (``float_cols``: the score columns, read as numbers)."""
    if src.kind == "parquet":
        from taxovit.predictions.parquet_reader import ParquetTable

        return ParquetTable.read(src, float_cols)
    assert src.data is not None
    _, header_lines = csv_header(src.context(), src.data)
    return CsvTable(src.context(), src.data, header, header_lines, float_cols)
