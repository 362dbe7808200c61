"""Taxonomy loaders and writers, with the format detected from the file.

Formats (see ``shared/docs/metrics.md`` and the README):

* ``nested``: JSON ``{"name": str, "rank": str?, "children": [...], <attr>: ...}``; a name that
  occurs more than once is one node whose children are the union over all occurrences (how a
  DAG is written). Keys other than name/children are node attributes.
* ``edges``: CSV with header ``parent,child[,rank[,<attr>...]]``; a row with an empty parent
  declares a parentless node (the root), so the root's rank and attributes survive a round trip.
* ``ranks``: CSV/TSV with one row per leaf and one column per rank, ordered coarse -> fine
  (``order,family,genus,species``). A row may stop early (trailing empty cells) for a leaf at a
  coarser rank. If the first column holds one value it is the root, otherwise a root named
  ``root`` is added.
* ``node-link``: networkx node-link JSON (``{"nodes": [...], "links"|"edges": [...]}``); node
  ids are strings.

Rules shared by every format:

* Surrounding whitespace is not part of a name or a rank: ``" Aves "`` is ``"Aves"`` in every
  reader, and a name that is empty once stripped is an error. A rank, where present, is a
  non-empty string (in CSV an empty rank cell means "no rank").
* A ``.tsv`` file is tab-separated, whatever the format (read and written).
* JSON: a key repeated in one object is an error naming its JSON path; nesting of any depth
  is read (deep documents take a slower, non-recursive parser) and nested JSON is written
  without recursion; attribute values may nest at most ``MAX_VALUE_DEPTH`` levels.

Lossless round trips: ``nested``, ``edges`` (attribute values become strings; an empty string reads back as absent) and
``node-link`` keep structure, ranks and attributes; ``ranks`` keeps structure and ranks of
trees whose nodes all carry a rank.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Callable
from json.decoder import scanstring
from pathlib import Path
from typing import Any

from taxovit._outputs import OutputPlan
from taxovit.errors import InputError, TaxonomyError
from taxovit.taxonomy.graph import Taxonomy
from taxovit.taxonomy.readers import (
    MAX_VALUE_DEPTH,
    RANK_CSV_ROOT,
    READERS,
    Repeated,
    Rows,
    json_path,
)
from taxovit.taxonomy.writers import FORMATS, Format, dumps_taxonomy

__all__ = ["FORMATS", "MAX_VALUE_DEPTH", "RANK_CSV_ROOT", "detect_format", "dumps_taxonomy",
           "format_for_path", "load_taxonomy", "save_taxonomy"]  # fmt: skip

_WS = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # a \ud800-\udfff escape: maybe unpaired


# ----------------------------------------------------------------- reading and tokenizing
def read_text(path: Path) -> str:
    """The file's text (UTF-8, a BOM dropped); a missing file, a folder, a device, bad
    encoding or an empty file is an ``InputError``."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError("is a folder; expected a taxonomy file", file=str(path))
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise InputError("not a regular file; expected a taxonomy file", file=str(path))
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise InputError("file not found", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None
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
    if not text.strip():
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


def parse_json(text: str, path: Path) -> Any:
    """``json.loads`` for taxonomy files: repeated keys are an error naming the JSON path,
    any depth of nesting is read, and an unpaired surrogate escape is refused."""
    repeated: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            repeated.append(True)
            seen: set[str] = set()
            obj = Repeated(obj)
            obj.repeated = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
        return obj

    try:
        try:
            obj = json.loads(text, object_pairs_hook=hook)
        except RecursionError:  # nested deeper than the C parser goes
            obj = _loads_iteratively(text, hook)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON: {exc.msg} (character {exc.colno})", file=str(path), row=exc.lineno
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise InputError(f"invalid JSON: {str(exc).split(';')[0]}", file=str(path)) from None
    if repeated or _SURROGATE.search(text):
        _check_json(obj, path)
    return obj


def _loads_iteratively(s: str, hook: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    """``json.loads`` without recursion: an explicit stack of open objects and arrays."""
    scan = json.JSONDecoder(object_pairs_hook=hook).scan_once  # scalars only
    stack: list[list[Any]] = []  # [is_object, items, pending key]
    i = _WS.match(s, 0).end()  # type: ignore[union-attr]
    while True:
        c = s[i : i + 1]
        if c == "{" or c == "[":
            frame = [c == "{", [], None]
            i = _WS.match(s, i + 1).end()  # type: ignore[union-attr]
            if s[i : i + 1] != ("}" if frame[0] else "]"):
                stack.append(frame)
                i = _json_key(s, i, frame) if frame[0] else i
                continue
            value, i = (hook([]) if frame[0] else []), i + 1
        else:
            try:
                value, i = scan(s, i)
            except StopIteration as exc:
                raise json.JSONDecodeError("Expecting value", s, exc.value) from None
        while True:  # store the finished value; close the containers it completes
            if not stack:
                end = _WS.match(s, i).end()  # type: ignore[union-attr]
                if end != len(s):
                    raise json.JSONDecodeError("Extra data", s, end)
                return value
            frame = stack[-1]
            frame[1].append((frame[2], value) if frame[0] else value)
            i = _WS.match(s, i).end()  # type: ignore[union-attr]
            if s[i : i + 1] == ",":
                i = _WS.match(s, i + 1).end()  # type: ignore[union-attr]
                i = _json_key(s, i, frame) if frame[0] else i
                break
            if s[i : i + 1] != ("}" if frame[0] else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", s, i)
            stack.pop()
            value, i = (hook(frame[1]) if frame[0] else frame[1]), i + 1


def _json_key(s: str, i: int, frame: list[Any]) -> int:
    """Read ``"key" :`` at ``i`` into the frame; return where its value starts."""
    if s[i : i + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, i)
    frame[2], i = scanstring(s, i + 1)
    i = _WS.match(s, i).end()  # type: ignore[union-attr]
    if s[i : i + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", s, i)
    return _WS.match(s, i + 1).end()  # type: ignore[union-attr]


def _check_json(obj: Any, path: Path) -> None:
    """Report the first repeated key or unpaired surrogate, in document order."""
    stack: list[tuple[Any, Any]] = [(obj, None)]
    while stack:
        value, link = stack.pop()
        if isinstance(value, Repeated):
            raise InputError(
                f"{json_path(link)}: key {value.repeated[0]!r} appears more than once in one "
                "object; each key may appear once (merge the values)",
                file=str(path),
            )
        if isinstance(value, dict):
            for k in value:
                _check_string(k, (link, k), path)
            stack.extend((v, (link, k)) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((v, (link, i)) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, str):
            _check_string(value, link, path)


def _check_string(s: str, link: Any, path: Path) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{json_path(link)}: a \\u escape is half of a surrogate pair (\\ud800-\\udfff "
            "without its other half); write the character itself or the full pair",
            file=str(path),
        ) from None


# ----------------------------------------------------------------- detection and loading
def _detect(p: Path, text: str) -> tuple[Format, Any]:
    """The format, and the parsed JSON document for JSON formats."""
    if text.lstrip().startswith(("{", "[")):
        obj = parse_json(text, p)
        if isinstance(obj, dict) and "nodes" in obj and ("links" in obj or "edges" in obj):
            return "node-link", obj
        if isinstance(obj, dict) and "name" in obj:
            return "nested", obj
        raise InputError(
            "JSON taxonomy must be an object with 'name' (nested) or 'nodes' and 'links' "
            "(node-link)",
            file=str(p),
        )
    delimiter = csv_delimiter(p, text)
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error as exc:
        raise InputError(f"unreadable CSV header: {exc}", file=str(p), row=1) from None
    if [h.strip().lower() for h in header[:2]] == ["parent", "child"]:
        return "edges", None
    return "ranks", None


def detect_format(path: str | os.PathLike[str], text: str | None = None) -> Format:
    """Guess the format from the extension and the first bytes (JSON object keys, CSV header)."""
    p = Path(path)
    return _detect(p, read_text(p) if text is None else text)[0]


def load_taxonomy(
    path: str | os.PathLike[str], format: Format | None = None, *, add_root: bool = False
) -> Taxonomy:
    """Load a taxonomy file; the format is detected unless given.

    ``add_root`` joins several roots under a virtual root (edge lists and node-link JSON;
    the other formats have one root by construction). Structural problems raise
    :class:`TaxonomyError`, file problems :class:`InputError`, both naming the file.
    """
    p = Path(path)
    text = read_text(p)
    if format is None:
        format, obj = _detect(p, text)
    elif format not in READERS:
        raise ValueError(f"unknown taxonomy format {format!r}; choose one of {', '.join(FORMATS)}")
    else:
        obj = parse_json(text, p) if format in ("nested", "node-link") else None
    try:
        return READERS[format](csv_rows(text, p) if obj is None else obj, p, add_root)
    except TaxonomyError as exc:
        raise TaxonomyError(f"{p}: {exc}") from None


# ----------------------------------------------------------------- saving
def format_for_path(path: str | os.PathLike[str]) -> Format:
    """The format an output's extension implies: .json nested, .csv/.tsv edges (else ValueError)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "nested"
    if suffix in (".csv", ".tsv"):
        return "edges"
    raise ValueError(
        f"cannot tell the taxonomy format from {os.fspath(path)!r} (.json: nested, .csv/.tsv: "
        f"edges); pass format= (one of {', '.join(FORMATS)})"
    )


def taxonomy_text(tax: Taxonomy, format: Format, path: str | os.PathLike[str]) -> str:
    """The file text of ``tax`` in ``format`` for ``path`` (a ``.tsv`` is tab-separated)."""
    tab = Path(path).suffix.lower() == ".tsv"
    text = dumps_taxonomy(tax, format, delimiter="\t" if tab else ",")
    return text + ("" if text.endswith("\n") else "\n")


def save_taxonomy(
    tax: Taxonomy, path: str | os.PathLike[str], format: Format | None = None
) -> None:
    """Write ``tax``; the format defaults from the extension (.json nested, .csv/.tsv edges).

    The file is checked first (not a folder; missing parent folders are created) and written
    atomically: on any error nothing is changed (:class:`~taxovit._outputs.OutputError`).
    """
    fmt = format or format_for_path(path)
    plan = OutputPlan({})
    out = plan.file("output", path, stdout_ok=False)
    plan.write({out: taxonomy_text(tax, fmt, path)})
