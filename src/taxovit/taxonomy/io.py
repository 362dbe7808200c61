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
from pathlib import Path

from taxovit._atomic import atomic_write_text
from taxovit.errors import InputError, TaxonomyError
from taxovit.taxonomy.graph import Taxonomy
from taxovit.taxonomy.readers import RANK_CSV_ROOT, READERS, csv_delimiter, read_text
from taxovit.taxonomy.writers import FORMATS, Format, dumps_taxonomy

__all__ = ["FORMATS", "RANK_CSV_ROOT", "detect_format", "dumps_taxonomy", "load_taxonomy",
           "save_taxonomy"]  # fmt: skip


def detect_format(path: str | os.PathLike[str], text: str | None = None) -> Format:
    """Guess the format from the extension and the first bytes (JSON object keys, CSV header)."""
    p = Path(path)
    text = read_text(p) if text is None else text
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
    header = next(csv.reader(io.StringIO(text), delimiter=csv_delimiter(p, text)), [])
    if [h.strip().lower() for h in header[:2]] == ["parent", "child"]:
        return "edges"
    return "ranks"


def load_taxonomy(
    path: str | os.PathLike[str], format: Format | None = None, *, add_root: bool = False
) -> Taxonomy:
    """Load a taxonomy file; the format is detected unless given.

    ``add_root`` joins several roots under a virtual root (edge lists only; other formats
    have one root by construction). Structural problems raise :class:`TaxonomyError`, file
    problems :class:`InputError`, both naming the file.
    """
    p = Path(path)
    text = read_text(p)
    fmt = format or detect_format(p, text)
    reader = READERS.get(fmt)
    if reader is None:
        raise ValueError(f"unknown taxonomy format {fmt!r}; choose one of {', '.join(FORMATS)}")
    try:
        return reader(text, p, add_root)
    except TaxonomyError as exc:
        raise TaxonomyError(f"{p}: {exc}") from None


def _format_for_path(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "nested"
    if suffix in (".csv", ".tsv"):
        return "edges"
    raise ValueError(f"cannot tell the format from {path.name!r}; pass format=")


def save_taxonomy(
    tax: Taxonomy, path: str | os.PathLike[str], format: Format | None = None
) -> None:
    """Write ``tax``; the format defaults from the extension (.json nested, .csv/.tsv edges)."""
    p = Path(path)
    fmt = format or _format_for_path(p)
    text = dumps_taxonomy(tax, fmt, delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
    atomic_write_text(p, text + ("" if text.endswith("\n") else "\n"))
