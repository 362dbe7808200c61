"""Taxonomy writers, one per format: each turns a taxonomy into the file's text."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from taxovit.errors import TaxonomyError
from taxovit.taxonomy.graph import Taxonomy

__all__ = ["FORMATS", "Format", "dumps_taxonomy"]

Format = Literal["nested", "edges", "ranks", "node-link"]
FORMATS: tuple[str, ...] = ("nested", "edges", "ranks", "node-link")


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
