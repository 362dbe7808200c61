"""Taxonomy readers, one per format (see :mod:`taxovit.taxonomy.io` for the formats).

Each reader takes the file's text and its path (for messages) and returns a
:class:`~taxovit.taxonomy.graph.Taxonomy`; every problem is an ``InputError`` naming the
file and, where there is one, the line and column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from taxovit.errors import InputError
from taxovit.taxonomy.graph import Taxonomy

__all__ = ["READERS", "csv_delimiter", "read_text"]

RANK_CSV_ROOT = "root"


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=str(path)) from None
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
    if path.suffix.lower() == ".tsv":
        return "\t"
    first = text.split("\n", 1)[0]
    return "\t" if first.count("\t") > first.count(",") else ","


def _read_nested(text: str, path: str) -> Taxonomy:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", file=path, row=exc.lineno) from None
    graph = nx.DiGraph()
    stack: list[tuple[Any, str, str | None]] = [(obj, "$", None)]
    while stack:
        node, where, parent = stack.pop()
        if not isinstance(node, dict):
            raise InputError(f"{where}: expected an object with 'name', got {node!r:.60}", file=path)
        name = node.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}: 'name' must be a non-empty string, got {name!r:.60}", file=path)
        attrs = {k: v for k, v in node.items() if k not in ("name", "children")}
        if name in graph:
            old = graph.nodes[name]
            for k, v in attrs.items():
                if k in old and old[k] != v:
                    raise InputError(
                        f"{where}: node {name!r} has {k}={v!r} here but {old[k]!r} elsewhere",
                        file=path,
                    )
        graph.add_node(name, **attrs)
        if parent is not None:
            graph.add_edge(parent, name)
        children = node.get("children", [])
        if not isinstance(children, list):
            raise InputError(f"{where}.children: expected a list", file=path)
        seen: set[str] = set()
        for i, child in enumerate(children):
            cname = child.get("name") if isinstance(child, dict) else None
            if isinstance(cname, str):
                if cname in seen:
                    raise InputError(
                        f"{where}.children[{i}]: duplicate child {cname!r} of {name!r}", file=path
                    )
                seen.add(cname)
        # Reverse so the stack pops children in file order (keeps node ids in file order).
        stack.extend((c, f"{where}.children[{i}]", name) for i, c in reversed(list(enumerate(children))))
    return Taxonomy(graph, copy=False)


def _csv_rows(text: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(path, text))
    for row in reader:
        yield reader.line_num, row


def _merge_attrs(
    attrs: dict[str, dict[str, str]],
    attr_line: dict[str, int],
    child: str,
    new: dict[str, str],
    where: tuple[Path, int],
) -> None:
    """Record ``child``'s attributes from one row; a conflicting value is an error."""
    path, line = where
    old = attrs.get(child)
    if old is None:
        attrs[child] = new
        attr_line[child] = line
        return
    for k, v in new.items():
        if old.setdefault(k, v) != v:
            raise InputError(
                f"node {child!r} has {k}={v!r} here but {old[k]!r} on line {attr_line[child]}",
                file=str(path),
                row=line,
                column=k,
            )


def _read_edges(text: str, path: Path, add_root: bool) -> Taxonomy:
    rows = _csv_rows(text, path)
    _, header = next(rows)
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise InputError("duplicate column names in the header", file=str(path), row=1)
    attr_cols = header[2:]
    width = len(header)
    # One pass into plain containers and integer ids; the taxonomy is built from arrays and
    # no networkx graph is made until someone asks for one (million-row files load in seconds).
    id_of: dict[str, int] = {}
    nodes: list[str] = []
    parents: list[int] = []
    children: list[int] = []
    edge_lines: list[int] = []
    attrs: dict[str, dict[str, str]] = {}
    attr_line: dict[str, int] = {}

    def node_id(name: str) -> int:
        i = id_of.get(name)
        if i is None:
            i = id_of[name] = len(nodes)
            nodes.append(name)
        return i

    for line, row in rows:
        if not row:
            continue
        if len(row) != width:
            raise InputError(
                f"expected {width} fields ({','.join(header)}), found {len(row)}",
                file=str(path),
                row=line,
            )
        parent, child = row[0].strip(), row[1].strip()
        if not child:
            raise InputError("empty child name", file=str(path), row=line, column=header[1])
        if parent:
            parents.append(node_id(parent))
            children.append(node_id(child))
            edge_lines.append(line)
        else:
            node_id(child)  # a declared parentless node (the root)
        if attr_cols:
            new = {k: v for k, v in zip(attr_cols, row[2:], strict=True) if v != ""}
            _merge_attrs(attrs, attr_line, child, new, (path, line))
    if not nodes:
        raise InputError("no data rows", file=str(path))
    par = np.asarray(parents, dtype=np.int64)
    chi = np.asarray(children, dtype=np.int64)
    _check_duplicate_edges(par, chi, np.asarray(edge_lines), nodes, path)
    return Taxonomy._from_parts(
        nodes, par, chi, {n: a for n, a in attrs.items() if a}, id_of=id_of,
        add_virtual_root=add_root,
    )


def _check_duplicate_edges(
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


def _rank_row(row: list[str], ranks: list[str], where: tuple[Path, int]) -> list[str] | None:
    """The row's names from the coarsest rank to its finest filled one (``None``: blank)."""
    path, line = where
    if not any(c.strip() for c in row):
        return None
    if len(row) > len(ranks):
        raise InputError(
            f"expected at most {len(ranks)} fields, found {len(row)}", file=str(path), row=line
        )
    cells = [c.strip() for c in row] + [""] * (len(ranks) - len(row))
    last = max(i for i, c in enumerate(cells) if c)
    for i in range(last + 1):
        if not cells[i]:
            raise InputError(
                f"empty cell before a finer rank ({ranks[last]} {cells[last]!r})",
                file=str(path),
                row=line,
                column=ranks[i],
            )
    return cells[: last + 1]


def _check_rank_placement(
    name: str,
    rank: str,
    parent: str | None,
    rank_of: dict[str, tuple[str, int]],
    parent_of: dict[str, tuple[str | None, int]],
    where: tuple[Path, int],
) -> None:
    """A name keeps one rank and one parent everywhere in the file."""
    path, line = where
    if name in rank_of and rank_of[name][0] != rank:
        raise InputError(
            f"{name!r} appears at rank {rank!r} here but at rank "
            f"{rank_of[name][0]!r} on line {rank_of[name][1]}",
            file=str(path),
            row=line,
            column=rank,
        )
    if name in parent_of and parent_of[name][0] != parent:
        raise InputError(
            f"{rank} {name!r} is under {parent!r} here but under "
            f"{parent_of[name][0]!r} on line {parent_of[name][1]}; "
            "give the two taxa different names",
            file=str(path),
            row=line,
            column=rank,
        )


def _read_ranks(text: str, path: Path) -> Taxonomy:
    rows = _csv_rows(text, path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise InputError("the file is empty", file=str(path)) from None
    ranks = [h.strip() for h in header]
    if any(not r for r in ranks) or len(set(ranks)) != len(ranks):
        raise InputError(
            f"rank columns must have distinct non-empty names, got {ranks}", file=str(path), row=1
        )
    graph = nx.DiGraph()
    first_col: set[str] = set()
    parent_of: dict[str, tuple[str | None, int]] = {}
    rank_of: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        cells = _rank_row(row, ranks, (path, line))
        if cells is None:
            continue
        first_col.add(cells[0])
        parent: str | None = None
        for i, name in enumerate(cells):
            _check_rank_placement(name, ranks[i], parent, rank_of, parent_of, (path, line))
            rank_of.setdefault(name, (ranks[i], line))
            parent_of.setdefault(name, (parent, line))
            graph.add_node(name, rank=ranks[i])
            if parent is not None:
                graph.add_edge(parent, name)
            parent = name
    if not graph:
        raise InputError("no data rows", file=str(path))
    if len(first_col) > 1:
        if RANK_CSV_ROOT in graph:
            raise InputError(
                f"several {ranks[0]} values need a root named {RANK_CSV_ROOT!r}, but a taxon "
                "already has that name",
                file=str(path),
            )
        graph.add_edges_from((RANK_CSV_ROOT, top) for top in sorted(first_col))
    return Taxonomy(graph, copy=False)


def _read_node_link(text: str, path: str) -> Taxonomy:
    obj = json.loads(text)
    graph = nx.DiGraph()
    for i, node in enumerate(obj["nodes"]):
        if not isinstance(node, dict) or "id" not in node:
            raise InputError(f"nodes[{i}]: expected an object with 'id'", file=path)
        graph.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
    links = obj.get("links", obj.get("edges"))
    for i, link in enumerate(links):
        try:
            u, v = link["source"], link["target"]
        except (TypeError, KeyError):
            raise InputError(f"links[{i}]: expected 'source' and 'target'", file=path) from None
        if graph.has_edge(u, v):
            raise InputError(f"links[{i}]: duplicate edge {u!r} -> {v!r}", file=path)
        graph.add_edge(u, v)
    return Taxonomy(graph, copy=False)


#: format name -> reader(text, path, add_root)
READERS = {
    "nested": lambda text, path, add_root: _read_nested(text, str(path)),
    "edges": _read_edges,
    "ranks": lambda text, path, add_root: _read_ranks(text, path),
    "node-link": lambda text, path, add_root: _read_node_link(text, str(path)),
}
