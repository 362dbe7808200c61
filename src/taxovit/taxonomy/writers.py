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


#: nested JSON is indented one space per level, up to this many (deep taxonomies stay small)
MAX_INDENT = 64


def _attr_keys(tax: Taxonomy, reserved: tuple[str, ...], format: str) -> list[str]:
    """Attribute names in first-seen order; one the format uses for structure is an error."""
    keys: dict[str, None] = {}
    for _, data in tax.graph.nodes(data=True):
        keys.update(dict.fromkeys(data))
    clash = [k for k in reserved if k in keys]
    if clash:
        keyed = (
            " (a taxonomy keyed by id, e.g. Darwin Core, iNaturalist or NABirds, names its "
            "nodes so; write edges or node-link instead)"
            if clash[0] == "name"
            else ""
        )
        raise TaxonomyError(
            f"a node has an attribute named {clash[0]!r}, which {format} uses for the structure{keyed}; "
            "rename the attribute"
        )
    return list(keys)


def _nested_text(tax: Taxonomy) -> str:
    """``json.dumps(obj, indent=1)`` of the nested form, built without recursion (any depth).

    A node shared by several parents (DAG) is written in full at its first occurrence in
    the file and as ``{"name": ...}`` elsewhere.
    """
    g = tax.graph
    _attr_keys(tax, ("name", "children"), "nested JSON")

    def pad(level: int) -> str:
        return "\n" + " " * min(level, MAX_INDENT)

    def dumps(value: Any, level: int) -> str:
        return json.dumps(value, ensure_ascii=False, indent=1).replace("\n", pad(level))

    out: list[str] = []
    written: set[str] = set()
    work: list[str | tuple[str, int]] = [(tax.root, 0)]  # text to emit, or (node, level)
    while work:
        item = work.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        name, level = item
        fields = [("name", name)]
        kids: list[str] = []
        if name not in written:
            written.add(name)
            fields += g.nodes[name].items()
            kids = list(g.successors(name))
        inner = pad(level + 1)
        out.append(
            "{" + ",".join(f"{inner}{dumps(k, 0)}: {dumps(v, level + 1)}" for k, v in fields)
        )
        if not kids:
            out.append(pad(level) + "}")
            continue
        out.append(f',{inner}"children": [')
        work.append(pad(level + 1) + "]" + pad(level) + "}")
        for i in reversed(range(len(kids))):
            work.append((kids[i], level + 2))
            work.append(("," if i else "") + pad(level + 2))
    return "".join(out)


class _CsvWriter:
    """``csv.writer`` with "\\n" line ends that also quotes a cell holding "\\r" (the csv
    module quotes only the line terminator's characters, and a reader ends a line at "\\r")."""

    def __init__(self, buf: io.StringIO, delimiter: str) -> None:
        self._plain = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
        self._quoted = csv.writer(
            buf, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL
        )
        self._delimiter = delimiter

    def writerow(self, row: list[str]) -> None:
        cr = "\r" in self._delimiter.join(row)
        (self._quoted if cr else self._plain).writerow(row)


def _edges_text(tax: Taxonomy, delimiter: str) -> str:
    g = tax.graph
    keys = [k for k in _attr_keys(tax, ("parent", "child"), "an edge list") if k != "rank"]
    buf = io.StringIO()
    w = _CsvWriter(buf, delimiter)
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
    named = next((n for n in tax.nodes if "name" in g.nodes[n]), None)
    if named is not None:
        raise TaxonomyError(
            f"the nodes are keyed by id with a 'name' attribute (e.g. {named!r} is "
            f"{g.nodes[named]['name']!r:.60}); a rank-column file holds one cell per taxon and "
            "would keep the ids and lose the names; write edges or node-link instead"
        )
    ranks = tax.rank_names
    unranked = [n for n in tax.nodes if n != tax.root and g.nodes[n].get("rank") is None]
    if unranked:
        raise TaxonomyError(
            f"a rank-column file needs a rank on every node; {len(unranked)} have none, "
            f"e.g. {unranked[0]!r}"
        )
    root_ranked = g.nodes[tax.root].get("rank") is not None
    buf = io.StringIO()
    w = _CsvWriter(buf, delimiter)
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
    _attr_keys(tax, ("id",), "node-link JSON")
    obj = {
        "directed": True,
        "multigraph": False,
        "graph": {},
        "nodes": [{"id": n, **g.nodes[n]} for n in g.nodes],
        "links": [{"source": u, "target": v} for u, v in g.edges],
    }
    return json.dumps(obj, ensure_ascii=False, indent=1)


def _check_stripped(tax: Taxonomy) -> None:
    """Readers strip names and ranks, so one with surrounding whitespace cannot be written."""
    for what, names in (("node name", tax.nodes), ("rank", tax.index.rank_names)):
        bad = next((n for n in names if n != n.strip()), None)
        if bad is not None:
            raise TaxonomyError(
                f"{what} {bad!r} has surrounding whitespace, which no taxonomy reader keeps; "
                "strip it first"
            )


def dumps_taxonomy(tax: Taxonomy, format: Format, *, delimiter: str = ",") -> str:
    """The text of a taxonomy file (what :func:`~taxovit.taxonomy.save_taxonomy` writes).

    Parameters
    ----------
    tax : Taxonomy
    format : {"nested", "edges", "ranks", "node-link"}
        ``nested`` JSON, an ``edges`` CSV (``parent,child,rank`` and one column per other
        attribute; a row with an empty parent declares the root), ``ranks`` (one row per
        leaf, one column per rank: trees whose nodes all carry a rank) or networkx
        ``node-link`` JSON.
    delimiter : str, default ","
        Separates the CSV formats' columns (``"\\t"`` for TSV).

    Returns
    -------
    str

    Raises
    ------
    TaxonomyError
        A name or rank with surrounding whitespace (no reader would keep it), or a taxonomy
        the format cannot hold.
    ValueError
        An unknown ``format``.

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> from taxovit.taxonomy import dumps_taxonomy
    >>> tax = Taxonomy.from_edges([("Aves", "Corvidae"), ("Corvidae", "Corvus")],
    ...                           ranks={"Corvidae": "family", "Corvus": "genus"})
    >>> print(dumps_taxonomy(tax, "edges"), end="")
    parent,child,rank
    ,Aves,
    Aves,Corvidae,family
    Corvidae,Corvus,genus
    """
    _check_stripped(tax)
    if format == "nested":
        return _nested_text(tax)
    if format == "edges":
        return _edges_text(tax, delimiter)
    if format == "ranks":
        return _ranks_text(tax, delimiter)
    if format == "node-link":
        return _node_link_text(tax)
    raise ValueError(f"unknown taxonomy format {format!r}; choose one of {', '.join(FORMATS)}")
