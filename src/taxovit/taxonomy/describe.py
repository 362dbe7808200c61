"""Human-readable views of a taxonomy's summary (``taxovit taxonomy info|validate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

if TYPE_CHECKING:
    from taxovit.taxonomy.graph import Taxonomy

__all__ = ["index_summary", "info_rows", "info_table", "name_summary", "validity_line"]


def index_summary(tax: Taxonomy) -> dict[str, Any]:
    """The counts of :meth:`Taxonomy.summary` that come from the index."""
    index = tax.index
    leaf = np.diff(index.child_ptr) == 0
    counts = np.bincount(index.rank_of[index.rank_of >= 0], minlength=len(index.rank_names))
    return {
        "root": tax.root,
        "nodes": index.n,
        "edges": int(index.parent_idx.size),
        "leaves": int(leaf.sum()),
        "kind": "tree" if index.is_tree else "DAG",
        "max_depth": int(index.max_depth),
        "leaf_depth_min": int(index.depth[leaf].min()),
        "leaf_depth_max": int(index.depth[leaf].max()),
        "nodes_with_several_parents": int((np.diff(index.parent_ptr) > 1).sum()),
        "ranks": {r: int(counts[index.rank_id(r)]) for r in tax.rank_names},
    }


def name_summary(tax: Taxonomy) -> dict[str, Any]:
    """Taxonomies keyed by id with a ``name`` attribute: how many nodes have a name, and
    the root's (empty for taxonomies keyed by name)."""
    if "_attrs" in tax.__dict__:  # the dicts are the truth once made
        named = sum(1 for a in tax._attrs.values() if a.get("name") is not None)
    else:  # from the columns: the dicts of 1.4 M nodes would cost 1.7 s to count names
        col = tax._columns.get("name")
        named = 0 if col is None else int((col != None).sum())  # noqa: E711 (element-wise)
    if not named:
        return {}
    return {"named_nodes": named, "root_name": tax._node_attrs(tax._root_id).get("name")}


def info_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of :meth:`Taxonomy.summary`, in display order."""
    s = summary
    rows = [
        ("kind", s["kind"]),
        ("root", s["root"] if s.get("root_name") is None else f"{s['root']} ({s['root_name']})"),
        ("nodes", f"{s['nodes']:,}"),
        ("edges", f"{s['edges']:,}"),
        ("leaves", f"{s['leaves']:,}"),
        ("max depth", str(s["max_depth"])),
        ("leaf depth", f"{s['leaf_depth_min']}–{s['leaf_depth_max']}"),
    ]
    if "named_nodes" in s:  # keyed by id, names as the 'name' attribute
        rows.append(("names", f"{s['named_nodes']:,} of {s['nodes']:,} nodes (keys are ids)"))
    if s["nodes_with_several_parents"]:
        rows.append(("several parents", f"{s['nodes_with_several_parents']:,} nodes"))
    ranks = s["ranks"]
    shown = ", ".join(f"{r} ({c:,})" for r, c in ranks.items()) if ranks else "none"
    rows.append((f"ranks ({len(ranks)})", shown))
    return rows


def info_table(summary: dict[str, Any], title: str) -> Table:
    """The ``taxonomy info`` table: one row per :func:`info_rows` entry."""
    t = Table(title=title, show_header=False, title_justify="left", title_style="bold")
    t.add_column(style="bold")
    t.add_column()
    for label, value in info_rows(summary):
        t.add_row(label, value)
    return t


def validity_line(summary: dict[str, Any], source: str) -> str:
    """The one-line verdict of ``taxonomy validate`` (rich markup)."""
    s = summary
    return (
        f"[green]valid[/] {source}: {s['kind']}, {s['nodes']:,} nodes, {s['leaves']:,} leaves, "
        f"max depth {s['max_depth']}"
    )
