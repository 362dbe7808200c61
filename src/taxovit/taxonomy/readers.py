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
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from taxovit.errors import InputError
from taxovit.taxonomy.graph import Taxonomy

__all__ = ["JSON_READERS", "MAX_VALUE_DEPTH", "RANK_CSV_ROOT", "Repeated", "Rows", "json_path"]

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


def _json_attrs(
    node: dict[str, Any], name: str, skip: tuple[str, ...], link: Any, file: str
) -> dict[str, Any]:
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


def _merge_attrs(
    old: dict[str, Any], attrs: dict[str, Any], name: str, link: Any, file: str
) -> None:
    """A node met again (a DAG): its attributes must agree; new ones are added."""
    for k, v in attrs.items():
        if k in old and old[k] != v:
            raise InputError(
                f"{json_path(link)}: node {name!r} has {k}={v!r:.60} here but "
                f"{old[k]!r:.60} elsewhere",
                file=file,
            )
    old.update(attrs)


def _read_nested(obj: Any, path: Path, add_root: bool) -> Taxonomy:
    """Nodes in document order (a name met again is the same node, a DAG), edges grouped by
    parent in that order: the arrays a networkx graph of the same document would give."""
    file = str(path)
    id_of: dict[str, int] = {}
    attrs_of: list[dict[str, Any]] = []
    kids: list[dict[int, None]] = []  # per node, its children (ordered, each once)
    # (node, its JSON path, parent id, names of the siblings before it)
    stack: list[tuple[Any, Any, int, set[str]]] = [(obj, None, -1, set())]
    while stack:
        node, link, parent, siblings = stack.pop()
        if not isinstance(node, dict):
            raise InputError(
                f"{json_path(link)}: expected an object with 'name', got {_describe(node)}",
                file=file,
            )
        name = _json_name(node.get("name"), link, file)
        if name in siblings:
            raise InputError(
                f"{json_path(link)}: duplicate child {name!r} of {list(id_of)[parent]!r}", file=file
            )
        siblings.add(name)
        attrs = _json_attrs(node, name, ("name", "children"), link, file)
        i = id_of.setdefault(name, len(id_of))
        if i == len(kids):
            attrs_of.append(attrs)
            kids.append({})
        else:
            _merge_attrs(attrs_of[i], attrs, name, link, file)
        if parent >= 0:
            kids[parent][i] = None
        children = node.get("children", [])
        clink = (link, "children")
        if not isinstance(children, list):
            raise InputError(
                f"{json_path(clink)}: expected a list of objects, got {_describe(children)}",
                file=file,
            )
        # Reverse so the stack pops children in file order (keeps node ids in file order).
        siblings_here: set[str] = set()
        stack.extend(
            (c, (clink, k), i, siblings_here) for k, c in reversed(list(enumerate(children)))
        )
    nodes = list(id_of)
    counts = [len(k) for k in kids]
    parents = np.repeat(np.arange(len(nodes), dtype=np.int64), counts)
    children_ids = np.fromiter(chain.from_iterable(kids), dtype=np.int64, count=sum(counts))
    attrs = {n: a for n, a in zip(nodes, attrs_of, strict=True) if a}
    return Taxonomy._from_parts(nodes, parents, children_ids, attrs, id_of=id_of, trusted=True)


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
    import networkx as nx

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
        u, v = (
            _json_name(edge[end], (link, end), file, what="a node id")
            for end in ("source", "target")
        )
        for end, name in (("source", u), ("target", v)):
            if name not in index_of:
                raise InputError(f"{json_path((link, end))}: no node has id {name!r}", file=file)
        if graph.has_edge(u, v):
            raise InputError(f"{json_path(link)}: duplicate edge {u!r} -> {v!r}", file=file)
        graph.add_edge(u, v)
    return Taxonomy(graph, add_virtual_root=add_root, copy=False)


#: JSON format name -> reader(JSON document, path, add_root); the CSV readers are in
#: :mod:`taxovit.taxonomy.edge_table`, :mod:`~taxovit.taxonomy.rank_columns` and
#: :mod:`~taxovit.taxonomy.text_formats`
JSON_READERS = {
    "nested": _read_nested,
    "node-link": _read_node_link,
}
