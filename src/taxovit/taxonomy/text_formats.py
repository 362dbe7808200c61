"""Lineage strings (QIIME, GTDB, MetaPhlAn) and NABirds' ``hierarchy.txt`` + ``classes.txt``.

* ``lineage``: one lineage per line, ``k__Bacteria;p__Firmicutes;c__Bacilli`` (QIIME, GTDB;
  spaces after ``;`` allowed) or ``Animalia|Chordata|Aves`` (``|``-separated). A one-letter
  prefix ``x__`` gives the rank (``d`` domain, ``k`` kingdom, ``p`` phylum, ``c`` class,
  ``o`` order, ``f`` family, ``g`` genus, ``s`` species, ``t`` strain) and is not part of
  the name; an empty level (``g__``) is skipped. The lineage may be a column of a
  tab-separated file (or of a ``.csv``): the column named ``Taxon``, ``taxonomy``, ``lineage``
  or ``classification`` when there is a header (QIIME's ``Feature ID<TAB>Taxon``), else the
  first cell that looks like a lineage (GTDB's ``accession<TAB>d__...``). Other columns (ids,
  confidences) are ignored: the nodes are the taxa.
* ``nabirds``: ``hierarchy.txt`` has one ``child_id parent_id`` pair per line; the names come
  from ``classes.txt`` (``id name with spaces``) in the same folder, when it is there. Nodes
  are keyed by id, with the name as the ``name`` attribute.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from taxovit.errors import InputError
from taxovit.taxonomy.edge_table import check_duplicate_edges
from taxovit.taxonomy.graph import Taxonomy
from taxovit.taxonomy.rank_columns import Cell, build_paths
from taxovit.taxonomy.text_input import csv_rows, read_text

__all__ = [
    "LINEAGE_COLUMNS",
    "looks_like_lineage",
    "looks_like_nabirds",
    "nabirds_names_file",
    "read_lineage",
    "read_nabirds",
]

LINEAGE_COLUMNS = ("taxon", "taxonomy", "lineage", "classification")
RANK_PREFIX = {
    "d": "domain",
    "k": "kingdom",
    "p": "phylum",
    "c": "class",
    "o": "order",
    "f": "family",
    "g": "genus",
    "s": "species",
    "t": "strain",
}
_PREFIX = re.compile(r"([a-zA-Z])__(.*)", re.S)
_PREFIXED = re.compile(r"(^|[;|]\s*)[a-zA-Z]__")
_NABIRDS_LINE = re.compile(r"\d+ \d+")
_NABIRDS_ID = re.compile(r"[0-9]+", re.ASCII)


def looks_like_lineage(cell: str) -> bool:
    """``k__A;p__B`` (any prefixed list) or ``A|B|C`` / ``A;B;C`` (two separators or more)."""
    cell = cell.strip()
    if _PREFIXED.search(cell) and ("__" in cell):
        return ";" in cell or "|" in cell or bool(_PREFIX.fullmatch(cell))
    return cell.count("|") >= 2 or cell.count(";") >= 2


def looks_like_nabirds(lines: list[str]) -> bool:
    """The first non-empty line is ``<integer> <integer>``: the file is then read as
    NABirds, and a later line that is not such a pair is an error naming it (never a
    switch to another format)."""
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    return bool(_NABIRDS_LINE.fullmatch(first))


def _lineage_rows(text: str, path: Path) -> tuple[list[tuple[int, list[str]]], str | None]:
    """(line, cells) of a lineage file, and the delimiter (None: one lineage per line)."""
    first = text.split("\n", 1)[0]
    delim = "\t" if "\t" in first else "," if path.suffix.lower() == ".csv" else None
    if delim is None:
        return [(i, [ln.rstrip("\r")]) for i, ln in enumerate(text.split("\n"), 1)], None
    return list(csv_rows(text, path)), delim


def _lineage_column(rows: list[tuple[int, list[str]]], path: Path) -> tuple[int, str | None, bool]:
    """(column index, column name for messages, whether the first row is a header)."""
    _, first = rows[0] if rows else (1, [])
    names = [c.strip().lower() for c in first]
    for i, n in enumerate(names):
        if n in LINEAGE_COLUMNS:
            return i, first[i].strip(), True
    for i, c in enumerate(first):
        if looks_like_lineage(c):
            return i, None, False
    raise InputError(
        "no lineage column: expected a header with a Taxon/taxonomy/lineage column, or "
        "lineages such as k__Bacteria;p__Firmicutes or A|B|C",
        file=str(path),
        row=1,
    )


def _split(lineage: str, column: str | None) -> list[Cell]:
    sep = ";" if ";" in lineage else "|"
    cells: list[Cell] = []
    for part in lineage.split(sep):
        part = part.strip()
        m = _PREFIX.fullmatch(part)
        rank = None
        if m:
            rank = RANK_PREFIX.get(m.group(1).lower(), m.group(1))
            part = m.group(2).strip()
        if part:
            cells.append((part, rank, column))
    return cells


def read_lineage(text: str, path: Path, add_root: bool, qualify_names: bool = False) -> Taxonomy:
    rows, _ = _lineage_rows(text, path)
    rows = [(line, row) for line, row in rows if any(c.strip() for c in row)]
    col, name, header = _lineage_column(rows, path)

    def paths():
        for line, row in rows[1:] if header else rows:
            if col >= len(row) or not _split(row[col], name):
                raise InputError(
                    "empty lineage (no taxon name in it)", file=str(path), row=line, column=name
                )
            yield line, _split(row[col], name)

    return build_paths(paths(), path, qualify_names)


def nabirds_names_file(path: Path) -> Path | None:
    """``classes.txt`` beside a NABirds ``hierarchy.txt``, read with it (an input of any
    command that reads the hierarchy), or None if there is none."""
    classes = path.with_name("classes.txt")
    return None if classes == path or not classes.is_file() else classes


def _read_classes(path: Path) -> dict[str, str]:
    """``classes.txt`` beside ``hierarchy.txt``: id -> name (empty if there is none)."""
    classes = nabirds_names_file(path)
    if classes is None:
        return {}
    names: dict[str, tuple[str, int]] = {}
    for i, line in enumerate(read_text(classes).splitlines(), 1):
        if not line.strip():
            continue
        key, _, name = line.strip().partition(" ")
        if not name.strip():
            raise InputError("expected '<id> <name>'", file=str(classes), row=i)
        if key in names:
            raise InputError(
                f"class id {key!r} again (first on line {names[key][1]})", file=str(classes), row=i
            )
        names[key] = (name.strip(), i)
    return {k: v for k, (v, _) in names.items()}


def read_nabirds(text: str, path: Path, add_root: bool) -> Taxonomy:
    """NABirds' ``hierarchy.txt`` (``child parent`` per line) named by ``classes.txt``."""
    id_of: dict[str, int] = {}
    nodes: list[str] = []
    par: list[int] = []
    chi: list[int] = []
    lines: list[int] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split()
        if len(cells) != 2:
            raise InputError(
                f"expected '<child id> <parent id>', found {len(cells)} fields",
                file=str(path),
                row=i,
            )
        for what, c in zip(("child id", "parent id"), cells, strict=True):
            if not _NABIRDS_ID.fullmatch(c):
                raise InputError(
                    f"{what} {c[:40]!r} is not an integer; expected '<child id> <parent id>'",
                    file=str(path),
                    row=i,
                )
        for c in (cells[1], cells[0]):
            if c not in id_of:
                id_of[c] = len(nodes)
                nodes.append(c)
        par.append(id_of[cells[1]])
        chi.append(id_of[cells[0]])
        lines.append(i)
    if not nodes:
        raise InputError("no data rows", file=str(path))
    p, c = np.asarray(par, dtype=np.int64), np.asarray(chi, dtype=np.int64)
    check_duplicate_edges(p, c, np.asarray(lines), nodes, path)
    classes = _read_classes(path)
    names = np.array([classes.get(n) for n in nodes] + [None], dtype=object)[:-1]
    columns = {"name": names} if classes else {}
    return Taxonomy._from_parts(
        nodes, p, c, None, id_of=id_of, add_virtual_root=add_root, columns=columns
    )
