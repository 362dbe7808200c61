"""Edge tables: one row per (parent, child) link, read row by row with exact error locations.

Three formats share this reader, each described by a :class:`TableSpec`:

* ``edges``: ``parent,child[,rank,<attr>...]`` keyed by name; every further column is an
  attribute; a row with an empty parent declares the root.
* ``dwc``: a Darwin Core Taxon file (GBIF, iNaturalist exports) keyed by ``taxonID``, with
  ``parentNameUsageID``; ``scientificName`` becomes the ``name`` attribute and ``taxonRank``
  the ``rank``; other columns are ignored, and synonyms (an ``acceptedNameUsageID`` other
  than the row's own ``taxonID``) are skipped.
* ``inat``: iNaturalist's model ``taxonomy.csv`` (``parent_taxon_id, taxon_id, rank_level,
  leaf_class_id, name``) keyed by ``taxon_id``; ``rank`` is named from ``rank_level``.

In the id-keyed formats every parent must be the id of a row. :mod:`taxovit.taxonomy.fast_table`
reads the same files with pandas and numpy; this module is the reference it falls back to
in order to name the line and column of a problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from taxovit.errors import InputError
from taxovit.taxonomy.graph import Taxonomy
from taxovit.taxonomy.readers import Rows

__all__ = ["INAT_RANK_LEVELS", "SPECS", "Columns", "TableSpec", "read_edge_table", "table_columns"]

INTEGER = re.compile(r"^(-?[0-9]+)\.0+$")
WHOLE = re.compile(r"-?[0-9]+", re.ASCII)
#: iNaturalist rank levels (``rank_level``) and their rank names
INAT_RANK_LEVELS = {
    "100": "stateofmatter",
    "70": "kingdom",
    "67": "subkingdom",
    "60": "phylum",
    "57": "subphylum",
    "53": "superclass",
    "50": "class",
    "47": "subclass",
    "45": "infraclass",
    "44": "subterclass",
    "43": "superorder",
    "40": "order",
    "37": "suborder",
    "35": "infraorder",
    "34.5": "parvorder",
    "34": "zoosection",
    "33.5": "zoosubsection",
    "33": "superfamily",
    "32": "epifamily",
    "30": "family",
    "27": "subfamily",
    "26": "supertribe",
    "25": "tribe",
    "24": "subtribe",
    "20": "genus",
    "15": "subgenus",
    "13": "section",
    "12": "subsection",
    "11": "complex",
    "10": "species",
    "5": "infraspecies",
}


@dataclass(frozen=True)
class TableSpec:
    """How one edge-table format names its columns (``None``: positional ``edges``)."""

    parent: str | None = None
    child: str | None = None
    #: header -> attribute name (``None``: every other column, under its own name)
    attrs: dict[str, str] | None = None
    child_what: str = "child name"
    #: keyed by ids: a parent must be the id of some row
    ids: bool = False
    #: column whose non-empty value other than the row's id marks a synonym row (skipped)
    synonym: str | None = None
    #: attribute -> {value: rank}: a rank named from another attribute
    rank_from: dict[str, dict[str, str]] = field(default_factory=dict)
    #: integer attributes: ``"12.0"`` (as pandas writes an integer column with gaps) is ``"12"``
    integers: tuple[str, ...] = ()


SPECS = {
    "edges": TableSpec(),
    "dwc": TableSpec(
        "parentNameUsageID",
        "taxonID",
        {"scientificName": "name", "taxonRank": "rank"},
        child_what="taxonID",
        ids=True,
        synonym="acceptedNameUsageID",
    ),
    "inat": TableSpec(
        "parent_taxon_id",
        "taxon_id",
        {"name": "name", "rank_level": "rank_level", "leaf_class_id": "leaf_class_id"},
        child_what="taxon_id",
        ids=True,
        rank_from={"rank_level": INAT_RANK_LEVELS},
        integers=("rank_level", "leaf_class_id"),
    ),
}


@dataclass
class Columns:
    """A spec resolved against one header: positions of the columns used."""

    header: list[str]
    parent: int
    child: int
    attrs: list[tuple[int, str]]  # (position, attribute name)
    synonym: int | None


def table_columns(header: list[str], spec: TableSpec, path: Path) -> Columns:
    """Resolve ``spec`` against a stripped header (missing columns are an InputError)."""
    file = str(path)
    if spec.parent is None:
        if len(header) < 2:
            raise InputError("expected a header parent,child[,rank,<attr>...]", file=file, row=1)
        if len(set(header)) != len(header):
            raise InputError("duplicate column names in the header", file=file, row=1)
        return Columns(header, 0, 1, [(i, h) for i, h in enumerate(header) if i > 1], None)
    if len(set(header)) != len(header):
        raise InputError("duplicate column names in the header", file=file, row=1)
    where = {h.lower(): i for i, h in enumerate(header)}
    missing = [c for c in (spec.parent, spec.child) if c.lower() not in where]
    if missing:
        raise InputError(
            f"expected columns {spec.parent} and {spec.child}; missing {', '.join(missing)}",
            file=file,
            row=1,
        )
    attrs = [(where[h.lower()], a) for h, a in (spec.attrs or {}).items() if h.lower() in where]
    syn = where.get(spec.synonym.lower()) if spec.synonym else None
    return Columns(header, where[spec.parent.lower()], where[spec.child.lower()], attrs, syn)


def _row_attrs(row: list[str], cols: Columns, spec: TableSpec) -> dict[str, str]:
    """The row's non-empty attributes (rank and id-keyed names stripped)."""
    new: dict[str, str] = {}
    for i, key in cols.attrs:
        value = row[i].strip() if key == "rank" or spec.ids else row[i]
        if value:
            new[key] = INTEGER.sub(r"\1", value) if key in spec.integers else value
    for key, table in spec.rank_from.items():
        if key in new and new[key] in table:
            new["rank"] = table[new[key]]
    return new


def _merge_attrs(
    attrs: dict[str, dict[str, str]],
    attr_line: dict[str, int],
    child: str,
    new: dict[str, str],
    where: tuple[Path, int, Columns],
) -> None:
    """Record ``child``'s attributes from one row; a conflicting value is an error."""
    path, line, cols = where
    old = attrs.get(child)
    if old is None:
        attrs[child] = new
        attr_line[child] = line
        return
    names = {a: cols.header[i] for i, a in cols.attrs}
    for k, v in new.items():
        if old.setdefault(k, v) != v:
            raise InputError(
                f"node {child!r} has {k}={v!r} here but {old[k]!r} on line {attr_line[child]}",
                file=str(path),
                row=line,
                column=names.get(k, k),
            )


class _Builder:
    """Node ids in first-seen order and the edges between them, with their lines."""

    def __init__(self) -> None:
        self.id_of: dict[str, int] = {}
        self.nodes: list[str] = []
        self.parents: list[int] = []
        self.children: list[int] = []
        self.lines: list[int] = []
        self.attrs: dict[str, dict[str, str]] = {}
        self.attr_line: dict[str, int] = {}
        self.child_line: dict[str, int] = {}
        self.synonym_line: dict[str, int] = {}  # a synonym row's id -> its line

    def node(self, name: str) -> int:
        i = self.id_of.get(name)
        if i is None:
            i = self.id_of[name] = len(self.nodes)
            self.nodes.append(name)
        return i


def _take_row(
    b: _Builder, row: list[str], line: int, cols: Columns, spec: TableSpec, path: Path
) -> None:
    if len(row) != len(cols.header):
        raise InputError(
            f"expected {len(cols.header)} fields ({','.join(cols.header)}), found {len(row)}",
            file=str(path),
            row=line,
        )
    parent, child = row[cols.parent].strip(), row[cols.child].strip()
    if not child:
        raise InputError(
            f"empty {spec.child_what} (surrounding spaces do not count)",
            file=str(path),
            row=line,
            column=cols.header[cols.child],
        )
    if cols.synonym is not None and row[cols.synonym].strip() not in ("", child):
        b.synonym_line.setdefault(child, line)
        return  # a synonym: not a node of the taxonomy
    if spec.ids and child in b.child_line:
        raise InputError(
            f"{spec.child_what} {child!r} again (first on line {b.child_line[child]})",
            file=str(path),
            row=line,
            column=cols.header[cols.child],
        )
    b.child_line.setdefault(child, line)
    if parent:
        b.parents.append(b.node(parent))
        b.children.append(b.node(child))
        b.lines.append(line)
    else:
        b.node(child)  # a declared parentless node (the root)
    if cols.attrs or spec.rank_from:
        new = _row_attrs(row, cols, spec)
        _check_rank_from(new, cols, spec, path, line)
        _merge_attrs(b.attrs, b.attr_line, child, new, (path, line, cols))


def _check_rank_from(
    new: dict[str, str], cols: Columns, spec: TableSpec, path: Path, line: int
) -> None:
    """A value that should name the rank (iNaturalist's ``rank_level``) but names none is
    an error, never a rank silently missing."""
    for key in dict.fromkeys([*spec.rank_from, *spec.integers]):
        table = spec.rank_from.get(key)
        bad = key in new and (new[key] not in table if table else not WHOLE.fullmatch(new[key]))
        if bad:
            column = next((cols.header[i] for i, a in cols.attrs if a == key), key)
            what = (
                f"not a rank level; expected one of {', '.join(table)}"
                if table
                else "not a whole number; expected an integer"
            )
            raise InputError(
                f"{key} {new[key][:40]!r} is {what} (or an empty cell)",
                file=str(path),
                row=line,
                column=column,
            )


def read_edge_table(
    rows: Rows, path: Path, add_root: bool, spec: TableSpec = SPECS["edges"]
) -> Taxonomy:
    """The row-by-row reader of every edge-table format (exact line and column in errors)."""
    _, header = next(rows, (1, []))
    cols = table_columns([h.strip() for h in header], spec, path)
    b = _Builder()
    for line, row in rows:
        if row:
            _take_row(b, row, line, cols, spec, path)
    if not b.nodes:
        raise InputError("no data rows", file=str(path))
    if spec.ids:
        _check_parents_declared(b, cols, spec, path)
    par = np.asarray(b.parents, dtype=np.int64)
    chi = np.asarray(b.children, dtype=np.int64)
    check_duplicate_edges(par, chi, np.asarray(b.lines), b.nodes, path)
    return Taxonomy._from_parts(
        b.nodes,
        par,
        chi,
        {n: a for n, a in b.attrs.items() if a},
        id_of=b.id_of,
        add_virtual_root=add_root,
    )


def _check_parents_declared(b: _Builder, cols: Columns, spec: TableSpec, path: Path) -> None:
    for p, line in zip(b.parents, b.lines, strict=True):
        if b.nodes[p] in b.synonym_line:
            raise InputError(
                f"{cols.header[cols.parent]} {b.nodes[p]!r} is a synonym (line "
                f"{b.synonym_line[b.nodes[p]]} names an accepted taxon for it); a parent must "
                "be the id of an accepted taxon",
                file=str(path),
                row=line,
                column=cols.header[cols.parent],
            )
        if b.nodes[p] not in b.child_line:
            raise InputError(
                f"{cols.header[cols.parent]} {b.nodes[p]!r} is not the {spec.child_what} of "
                "any row; every parent needs a row of its own",
                file=str(path),
                row=line,
                column=cols.header[cols.parent],
            )


def check_duplicate_edges(
    par: np.ndarray, chi: np.ndarray, lines: np.ndarray, nodes: list[str], path: Path
) -> None:
    """Report the first repeated parent,child pair in file order, with both lines."""
    if par.size < 2:
        return
    key = par * len(nodes) + chi
    order = np.argsort(key, kind="stable")  # equal keys keep file order
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    if dup.size:
        j = dup[np.argmin(lines[order[dup + 1]])]
        first, again = order[j], order[j + 1]
        raise InputError(
            f"duplicate edge {nodes[par[again]]!r} -> {nodes[chi[again]]!r} "
            f"(first on line {lines[first]})",
            file=str(path),
            row=int(lines[again]),
        )
