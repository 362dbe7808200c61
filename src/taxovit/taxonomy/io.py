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
* ``node-link``: networkx node-link JSON (``{"nodes": [...], "links"|"edges": [...]}``).

Lossless round trips: ``nested``, ``edges`` (attribute values become strings; an empty string reads back as absent) and
``node-link`` keep structure, ranks and attributes; ``ranks`` keeps structure and ranks of
trees whose nodes all carry a rank.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np

from taxovit.errors import InputError, TaxonomyError
from taxovit.taxonomy.graph import Taxonomy

Format = Literal["nested", "edges", "ranks", "node-link"]
FORMATS: tuple[str, ...] = ("nested", "edges", "ranks", "node-link")
RANK_CSV_ROOT = "root"


def _read_text(path: Path) -> str:
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


def detect_format(path: str | os.PathLike[str], text: str | None = None) -> Format:
    """Guess the format from the extension and the first bytes (JSON object keys, CSV header)."""
    p = Path(path)
    text = _read_text(p) if text is None else text
    if text.lstrip().startswith(("{", "[")):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", file=str(p), row=exc.lineno) from None
        if isinstance(obj, dict) and "nodes" in obj and ("links" in obj or "edges" in obj):
            return "node-link"
        if isinstance(obj, dict) and "name" in obj:
            return "nested"
        raise InputError(
            "JSON taxonomy must be an object with 'name' (nested) or 'nodes' and 'links' "
            "(node-link)",
            file=str(p),
        )
    header = next(csv.reader(io.StringIO(text), delimiter=_delimiter(p, text)), [])
    if [h.strip().lower() for h in header[:2]] == ["parent", "child"]:
        return "edges"
    return "ranks"


def _delimiter(path: Path, text: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    first = text.split("\n", 1)[0]
    return "\t" if first.count("\t") > first.count(",") else ","


# ---------------------------------------------------------------------------- readers
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
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(path, text))
    for row in reader:
        yield reader.line_num, row


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
            old = attrs.get(child)
            if old is None:
                attrs[child] = new
                attr_line[child] = line
            else:
                for k, v in new.items():
                    if old.setdefault(k, v) != v:
                        raise InputError(
                            f"node {child!r} has {k}={v!r} here but {old[k]!r} on line "
                            f"{attr_line[child]}",
                            file=str(path),
                            row=line,
                            column=k,
                        )
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
        if not any(c.strip() for c in row):
            continue
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
        first_col.add(cells[0])
        parent: str | None = None
        for i in range(last + 1):
            name = cells[i]
            if name in rank_of and rank_of[name][0] != ranks[i]:
                raise InputError(
                    f"{name!r} appears at rank {ranks[i]!r} here but at rank "
                    f"{rank_of[name][0]!r} on line {rank_of[name][1]}",
                    file=str(path),
                    row=line,
                    column=ranks[i],
                )
            if name in parent_of and parent_of[name][0] != parent:
                raise InputError(
                    f"{ranks[i]} {name!r} is under {parent!r} here but under "
                    f"{parent_of[name][0]!r} on line {parent_of[name][1]}; "
                    "give the two taxa different names",
                    file=str(path),
                    row=line,
                    column=ranks[i],
                )
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


def load_taxonomy(
    path: str | os.PathLike[str], format: Format | None = None, *, add_root: bool = False
) -> Taxonomy:
    """Load a taxonomy file; the format is detected unless given.

    ``add_root`` joins several roots under a virtual root (edge lists only; other formats
    have one root by construction). Structural problems raise :class:`TaxonomyError`, file
    problems :class:`InputError`, both naming the file.
    """
    p = Path(path)
    text = _read_text(p)
    fmt = format or detect_format(p, text)
    try:
        if fmt == "nested":
            return _read_nested(text, str(p))
        if fmt == "edges":
            return _read_edges(text, p, add_root)
        if fmt == "ranks":
            return _read_ranks(text, p)
        if fmt == "node-link":
            return _read_node_link(text, str(p))
    except TaxonomyError as exc:
        raise TaxonomyError(f"{p}: {exc}") from None
    raise ValueError(f"unknown taxonomy format {fmt!r}; choose one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------- writers
def _nested_obj(tax: Taxonomy) -> dict[str, Any]:
    g = tax.graph
    written: set[str] = set()

    def make(name: str) -> dict[str, Any]:
        return {"name": name, **g.nodes[name]}

    root = make(tax.root)
    written.add(tax.root)
    stack = [(tax.root, root)]
    while stack:
        name, obj = stack.pop()
        kids = []
        for child in g.successors(name):
            if child in written:
                kids.append({"name": child})  # later occurrence: a reference (DAG)
            else:
                written.add(child)
                cobj = make(child)
                kids.append(cobj)
                stack.append((child, cobj))
        if kids:
            obj["children"] = kids
    return root


def _edges_text(tax: Taxonomy) -> str:
    g = tax.graph
    keys: list[str] = []
    for _, data in g.nodes(data=True):
        for k in data:
            if k != "rank" and k not in keys:
                keys.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["parent", "child", "rank", *keys])

    def cells(name: str) -> list[str]:
        data = g.nodes[name]
        return [str(data.get("rank", "")), *(str(data.get(k, "")) for k in keys)]

    w.writerow(["", tax.root, *cells(tax.root)])
    for u, v in g.edges:
        w.writerow([u, v, *cells(v)])
    return buf.getvalue()


def _ranks_text(tax: Taxonomy, delimiter: str) -> str:
    if not tax.is_tree:
        raise TaxonomyError("a rank-column file can only hold a tree; this taxonomy is a DAG")
    g = tax.graph
    ranks = tax.rank_names
    unranked = [n for n in tax.nodes if n != tax.root and g.nodes[n].get("rank") is None]
    if unranked:
        raise TaxonomyError(
            f"a rank-column file needs a rank on every node; {len(unranked)} have none, "
            f"e.g. {unranked[0]!r}"
        )
    root_ranked = g.nodes[tax.root].get("rank") is not None
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(ranks)
    col = {r: i for i, r in enumerate(ranks)}
    for leaf in tax.leaves:
        path = [leaf]
        while path[-1] != tax.root:
            path.append(next(iter(g.predecessors(path[-1]))))
        if not root_ranked:
            path.pop()
        path.reverse()
        row = [""] * len(ranks)
        for depth, name in enumerate(path):
            r = g.nodes[name]["rank"]
            if col[r] != depth:
                raise TaxonomyError(
                    f"{name!r} has rank {r!r} at depth {depth + (not root_ranked)}; a rank-column "
                    "file needs each rank at one depth"
                )
            row[col[r]] = name
        w.writerow(row)
    return buf.getvalue()


def _node_link_text(tax: Taxonomy) -> str:
    g = tax.graph
    obj = {
        "directed": True,
        "multigraph": False,
        "graph": {},
        "nodes": [{"id": n, **g.nodes[n]} for n in g.nodes],
        "links": [{"source": u, "target": v} for u, v in g.edges],
    }
    return json.dumps(obj, ensure_ascii=False, indent=1)


def _format_for_path(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "nested"
    if suffix in (".csv", ".tsv"):
        return "edges"
    raise ValueError(f"cannot tell the format from {path.name!r}; pass format=")


def dumps_taxonomy(tax: Taxonomy, format: Format, *, delimiter: str = ",") -> str:
    if format == "nested":
        return json.dumps(_nested_obj(tax), ensure_ascii=False, indent=1)
    if format == "edges":
        return _edges_text(tax)
    if format == "ranks":
        return _ranks_text(tax, delimiter)
    if format == "node-link":
        return _node_link_text(tax)
    raise ValueError(f"unknown taxonomy format {format!r}; choose one of {', '.join(FORMATS)}")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written file."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_taxonomy(
    tax: Taxonomy, path: str | os.PathLike[str], format: Format | None = None
) -> None:
    """Write ``tax``; the format defaults from the extension (.json nested, .csv/.tsv edges)."""
    p = Path(path)
    fmt = format or _format_for_path(p)
    text = dumps_taxonomy(tax, fmt, delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
    atomic_write_text(p, text + ("" if text.endswith("\n") else "\n"))
