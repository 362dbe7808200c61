"""A taxonomy file's bytes, text and CSV rows, with the file and line of every problem: the
first step of every reader (:mod:`taxovit.taxonomy.io` detects the format from them)."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

from taxovit.errors import InputError
from taxovit.taxonomy.readers import Rows

__all__ = ["csv_delimiter", "csv_rows", "read_bytes", "read_text"]


def read_bytes(path: Path, what: str = "a taxonomy file") -> bytes:
    """The file's bytes; a missing file, a folder or a device is an ``InputError`` (saying
    ``what`` was expected)."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"is a folder; expected {what}", file=str(path))
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise InputError(f"not a regular file; expected {what}", file=str(path))
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise InputError("file not found", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None


def read_text(
    path: Path, data: bytes | None = None, *, what: str = "a taxonomy file", empty_ok: bool = False
) -> str:
    """The file's text (UTF-8, a BOM dropped); a missing file, a folder, a device, bad
    encoding (with the line of the bad byte) or, unless ``empty_ok`` (the caller says what an
    empty file lacks), an empty file is an ``InputError``. Every user text file is read here
    (taxonomies, and the evaluators' cost tables, checklists and training counts)."""
    data = read_bytes(path, what) if data is None else data
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "save the file as UTF-8",
            file=str(path),
            row=line,
        ) from None
    if not text.strip() and not empty_ok:
        raise InputError("the file is empty", file=str(path))
    return text


def csv_delimiter(path: Path, text: str) -> str:
    """Tab for a ``.tsv`` file (whose first line must then not be comma-separated), otherwise
    whichever of tab and comma the first line has more of."""
    end = text.find("\n")
    first = text if end < 0 else text[:end]
    if path.suffix.lower() == ".tsv":
        if "\t" not in first and "," in first:
            raise InputError(
                "a .tsv file is tab-separated, but this line has commas and no tab; "
                "separate the columns with tabs or name the file .csv",
                file=str(path),
                row=1,
            )
        return "\t"
    return "\t" if first.count("\t") > first.count(",") else ","


def csv_rows(text: str, path: Path) -> Rows:
    """The rows of a CSV/TSV text with their line numbers; a malformed row is an InputError."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(path, text))
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise InputError(f"unreadable CSV: {exc}", file=str(path), row=reader.line_num) from None
