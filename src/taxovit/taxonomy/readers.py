"""Taxonomy readers, one per format (see :mod:`taxovit.taxonomy.io` for the formats and the
rules they share).

The CSV readers take the file's rows as ``(line number, cells)`` pairs, the JSON readers the
parsed document (both made by :mod:`taxovit.taxonomy.io`, which reads and tokenizes the
file); each also takes the path (for messages) and returns a
:class:`~taxovit.taxonomy.graph.Taxonomy`. Every problem is an ``InputError`` naming the
file and, where there is one, the line and column or the JSON path (``$.children[2].rank``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from taxovit.errors import InputError
from taxovit.taxonomy.graph import Taxonomy

__all__ = ["MAX_VALUE_DEPTH", "RANK_CSV_ROOT", "READERS", "Repeated", "Rows", "json_path"]

RANK_CSV_ROOT = "root"
#: a CSV file's rows: (1-based line number, cells)
Rows = Iterator[tuple[int, list[str]]]
#: deepest nesting of lists and objects in a JSON attribute value (deeper ones are refused:
#: writing or comparing them would recurse)
MAX_VALUE_DEPTH = 100


# ----------------------------------------------------------------- JSON formats
class Repeated(dict):  # type: ignore[type-arg]
    """A JSON object in which some key occurred more than once (``repeated``: those keys)."""

    repeated: list[str]


def json_path(link: Any) -> str:
    """Render a path kept as nested ``(parent, key)`` pairs, e.g. ``$.children[0].rank``
    (cheap to extend at any depth; very deep paths are shortened in the middle)."""
    parts: list[str] = []
    while link is not None:
        link, key = link
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            parts.append(f".{key}" if key.isidentifier() else f"[{key!r:.60}]")
    parts.reverse()
    if len(parts) > 12:
        parts = [*parts[:4], f"...<{len(parts) - 10} more>...", *parts[-6:]]
    return "$" + "".join(parts)


def _describe(value: Any) -> str:
    """A JSON value for a message: scalars by repr (cut at 60 characters), containers by kind."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return f"{value!r:.60}"


def _json_name(value: Any, link: Any, file: str, what: str = "'name'") -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise InputError(
        f"{json_path(link)}: {what} must be a non-empty string (surrounding spaces do not "
        f"count), got {_describe(value)}",
        file=file,
    )


def _json_attrs(node: dict[str, Any], name: str, skip: tuple[str, ...], link: Any, file: str
                ) -> dict[str, Any]:  # fmt: skip
    """Node ``name``'s attributes: values nest at most MAX_VALUE_DEPTH levels; a rank is a
    non-empty string."""
    attrs = {k: v for k, v in node.items() if k not in skip}
    for key, value in attrs.items():
        stack = [(value, 1)] if isinstance(value, (list, dict)) else []
        while stack:
            v, depth = stack.pop()
            if depth > MAX_VALUE_DEPTH:
                raise InputError(
                    f"{json_path((link, key))}: an attribute value may nest lists and objects "
                    f"at most {MAX_VALUE_DEPTH} levels deep",
                    file=file,
                )
            items = v.values() if isinstance(v, dict) else v
            stack.extend((c, depth + 1) for c in items if isinstance(c, (list, dict)))
    if "rank" in attrs:
        rank = attrs["rank"]
        if not isinstance(rank, str) or not rank.strip():
            raise InputError(
                f"{json_path((link, 'rank'))}: node {name!r} has rank {_describe(rank)}; a rank "
                "is a non-empty string (or leave 'rank' out)",
                file=file,
            )
        attrs["rank"] = rank.strip()
    return attrs


def _read_nested(obj: Any, path: Path, add_root: bool) -> Taxonomy:
    file = str(path)
    graph = nx.DiGraph()
    # (node, its JSON path, parent name, names of the siblings before it)
    stack: list[tuple[Any, Any, str | None, set[str]]] = [(obj, None, None, set())]
    while stack:
        node, link, parent, siblings = stack.pop()
        if not isinstance(node, dict):
            raise InputError(
                f"{json_path(link)}: expected an object with 'name', got {_describe(node)}",
                file=file,
            )
        name = _json_name(node.get("name"), link, file)
        if name in siblings:
            raise InputError(f"{json_path(link)}: duplicate child {name!r} of {parent!r}", file=file)
        siblings.add(name)
        attrs = _json_attrs(node, name, ("name", "children"), link, file)
        if name in graph:
            old = graph.nodes[name]
            for k, v in attrs.items():
                if k in old and old[k] != v:
                    raise InputError(
                        f"{json_path(link)}: node {name!r} has {k}={v!r:.60} here but "
                        f"{old[k]!r:.60} elsewhere",
                        file=file,
                    )
        graph.add_node(name, **attrs)
        if parent is not None:
            graph.add_edge(parent, name)
        children = node.get("children", [])
        clink = (link, "children")
        if not isinstance(children, list):
            raise InputError(
                f"{json_path(clink)}: expected a list of objects, got {_describe(children)}",
                file=file,
            )
        # Reverse so the stack pops children in file order (keeps node ids in file order).
        kids: set[str] = set()
        stack.extend((c, (clink, i), name, kids) for i, c in reversed(list(enumerate(children))))
    return Taxonomy(graph, copy=False)


def _read_node_link(obj: dict[str, Any], path: Path, add_root: bool) -> Taxonomy:
    file = str(path)
    if "links" in obj and "edges" in obj:
        raise InputError("node-link JSON has both 'links' and 'edges'; keep one", file=file)
    key = "links" if "links" in obj else "edges"
    for what in ("nodes", key):
        if not isinstance(obj.get(what), list):
            raise InputError(
                f"$.{what}: expected a list of objects, got {_describe(obj.get(what))}", file=file
            )
    graph = nx.DiGraph()
    index_of: dict[str, int] = {}
    for i, node in enumerate(obj["nodes"]):
        link = ((None, "nodes"), i)
        if not isinstance(node, dict) or "id" not in node:
            raise InputError(
                f"{json_path(link)}: expected an object with 'id', got {_describe(node)}", file=file
            )
        name = _json_name(node["id"], (link, "id"), file, what="a node id")
        if name in index_of:
            raise InputError(
                f"{json_path(link)}: node id {name!r} again (first at $.nodes[{index_of[name]}])",
                file=file,
            )
        index_of[name] = i
        graph.add_node(name, **_json_attrs(node, name, ("id",), link, file))
    for i, edge in enumerate(obj[key]):
        link = ((None, key), i)
        if not isinstance(edge, dict) or "source" not in edge or "target" not in edge:
            raise InputError(
                f"{json_path(link)}: expected an object with 'source' and 'target', got "
                f"{_describe(edge)}",
                file=file,
            )
        u, v = (_json_name(edge[end], (link, end), file, what="a node id") for end in ("source", "target"))
        for end, name in (("source", u), ("target", v)):
            if name not in index_of:
                raise InputError(f"{json_path((link, end))}: no node has id {name!r}", file=file)
        if graph.has_edge(u, v):
            raise InputError(f"{json_path(link)}: duplicate edge {u!r} -> {v!r}", file=file)
        graph.add_edge(u, v)
    return Taxonomy(graph, add_virtual_root=add_root, copy=False)


# ----------------------------------------------------------------- CSV formats
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


def _edges_header(rows: Rows, path: Path) -> list[str]:
    _, header = next(rows, (1, []))
    header = [h.strip() for h in header]
    if len(header) < 2:
        raise InputError("expected a header parent,child[,rank,<attr>...]", file=str(path), row=1)
    if len(set(header)) != len(header):
        raise InputError("duplicate column names in the header", file=str(path), row=1)
    return header


def _read_edges(rows: Rows, path: Path, add_root: bool) -> Taxonomy:
    header = _edges_header(rows, path)
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
            raise InputError(
                "empty child name (surrounding spaces do not count)",
                file=str(path), row=line, column=header[1],
            )  # fmt: skip
        if parent:
            parents.append(node_id(parent))
            children.append(node_id(child))
            edge_lines.append(line)
        else:
            node_id(child)  # a declared parentless node (the root)
        if attr_cols:
            cells = zip(attr_cols, row[2:], strict=True)
            new = {k: v for k, v in ((k, v.strip() if k == "rank" else v) for k, v in cells) if v}
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


def _read_ranks(rows: Rows, path: Path, add_root: bool) -> Taxonomy:
    _, header = next(rows, (1, []))
    ranks = [h.strip() for h in header]
    if not ranks or any(not r for r in ranks) or len(set(ranks)) != len(ranks):
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


#: format name -> reader(rows or JSON document, path, add_root)
READERS = {
    "nested": _read_nested,
    "edges": _read_edges,
    "ranks": _read_ranks,
    "node-link": _read_node_link,
}
