"""Taxonomies written as paths from the top down: rank-column files and lineage strings.

Both give, per line, the names of one lineage from the coarsest to the finest taxon (with a
rank each, where the file says it). :func:`build_paths` turns those into a tree:

* An empty intermediate rank is skipped: the taxon hangs from the nearest filled coarser
  one (real lineages skip ranks). The coarsest cell of a row may not be empty.
* By default a name is one taxon: the same name under two parents, or at two ranks, is an
  error naming both lines. With ``qualify_names=True`` a name found under several parents
  becomes one taxon per parent, each named ``"Name (Parent)"``.
* Several coarsest names hang from an added root named ``root``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from taxovit.errors import InputError
from taxovit.taxonomy.graph import Taxonomy
from taxovit.taxonomy.readers import RANK_CSV_ROOT, Rows

__all__ = ["Cell", "build_paths", "read_ranks"]

#: one taxon of a lineage: (name, rank or None, column name for messages or None)
Cell = tuple[str, "str | None", "str | None"]
QUALIFY_HINT = "give the two taxa different names, or pass qualify_names=True (--qualify-names)"


class _Trie:
    """Taxa keyed by (parent taxon, name), with the line that first gave each."""

    def __init__(self, path: Path, qualify: bool) -> None:
        self.path, self.qualify = path, qualify
        self.key: dict[tuple[int, str], int] = {}
        self.name: list[str] = []
        self.rank: list[str | None] = []
        self.parent: list[int] = []
        self.line: list[int] = []
        self.first: dict[str, int] = {}  # name -> its first taxon

    def add(self, parent: int, cell: Cell, line: int) -> int:
        name, rank, column = cell
        t = self.key.get((parent, name))
        if t is None and not self.qualify and name in self.first:
            t = self.first[name]  # the same name elsewhere: reported below
        if t is not None:
            self._check(t, parent, cell, line)
            return t
        t = self.key[(parent, name)] = len(self.name)
        self.first.setdefault(name, t)
        self.name.append(name)
        self.rank.append(rank)
        self.parent.append(parent)
        self.line.append(line)
        return t

    def _check(self, t: int, parent: int, cell: Cell, line: int) -> None:
        name, rank, column = cell
        file = str(self.path)
        if self.rank[t] != rank:
            raise InputError(
                f"{name!r} appears at rank {rank!r} here but at rank {self.rank[t]!r} on line "
                f"{self.line[t]}",
                file=file,
                row=line,
                column=column,
            )
        if self.parent[t] != parent:
            here, there = (self._name(p) for p in (parent, self.parent[t]))
            raise InputError(
                f"{rank or 'taxon'} {name!r} is under {here!r} here but under {there!r} on line "
                f"{self.line[t]}; {QUALIFY_HINT}",
                file=file,
                row=line,
                column=column,
            )

    def _name(self, t: int) -> str | None:
        return None if t < 0 else self.name[t]

    def keys(self) -> list[str]:
        """Node names: a name borne by several taxa is qualified by its parent's name."""
        count: dict[str, int] = {}
        for n in self.name:
            count[n] = count.get(n, 0) + 1
        keys = [
            f"{n} ({self.name[p]})" if count[n] > 1 and p >= 0 else n
            for n, p in zip(self.name, self.parent, strict=True)
        ]
        seen: dict[str, int] = {}
        for t, k in enumerate(keys):
            if k in seen:
                raise InputError(
                    f"even qualified by its parent, {k!r} names two taxa (lines "
                    f"{self.line[seen[k]]} and {self.line[t]}); give them different names",
                    file=str(self.path),
                    row=self.line[t],
                )
            seen[k] = t
        return keys


def build_paths(
    paths: Iterable[tuple[int, list[Cell]]], path: Path, qualify: bool = False
) -> Taxonomy:
    """A tree from lineages ``(line, [(name, rank, column), ...])``, coarsest first."""
    trie = _Trie(path, qualify)
    tops: dict[int, None] = {}
    for line, cells in paths:
        parent = -1
        for cell in cells:
            parent = trie.add(parent, cell, line)
            if trie.parent[parent] < 0:
                tops[parent] = None
    if not trie.name:
        raise InputError("no data rows", file=str(path))
    names = trie.keys()
    par = np.asarray(trie.parent, dtype=np.int64)
    ranks = np.asarray(trie.rank + [None], dtype=object)[:-1]
    if len(tops) > 1:
        if RANK_CSV_ROOT in trie.first:
            raise InputError(
                f"several top-level taxa need a root named {RANK_CSV_ROOT!r}, but a taxon "
                "already has that name",
                file=str(path),
            )
        par[list(tops)] = len(names)
        names.append(RANK_CSV_ROOT)
        ranks = np.append(ranks, None)
    has = par >= 0
    return Taxonomy._from_parts(
        names, par[has], np.flatnonzero(has), None, columns={"rank": ranks}, trusted=True
    )


def _rank_cells(row: list[str], ranks: list[str], where: tuple[Path, int]) -> list[Cell] | None:
    """The row's filled cells from the coarsest rank down (``None``: a blank row)."""
    path, line = where
    if not any(c.strip() for c in row):
        return None
    if len(row) > len(ranks):
        raise InputError(
            f"expected at most {len(ranks)} fields, found {len(row)}", file=str(path), row=line
        )
    cells = [c.strip() for c in row]
    if not cells[0]:
        last = max(i for i, c in enumerate(cells) if c)
        raise InputError(
            f"empty cell before a finer rank ({ranks[last]} {cells[last]!r}); the coarsest "
            "rank of every row must be filled",
            file=str(path),
            row=line,
            column=ranks[0],
        )
    return [(c, ranks[i], ranks[i]) for i, c in enumerate(cells) if c]


def read_ranks(rows: Rows, path: Path, add_root: bool, qualify_names: bool = False) -> Taxonomy:
    """Rank-column CSV/TSV: one row per leaf, columns coarse -> fine (``order,family,...``)."""
    _, header = next(rows, (1, []))
    ranks = [h.strip() for h in header]
    if not ranks or any(not r for r in ranks) or len(set(ranks)) != len(ranks):
        raise InputError(
            f"rank columns must have distinct non-empty names, got {ranks}", file=str(path), row=1
        )
    paths = (
        (line, cells) for line, row in rows if (cells := _rank_cells(row, ranks, (path, line)))
    )
    return build_paths(paths, path, qualify_names)
