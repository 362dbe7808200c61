"""Taxonomy loaders and writers, with the format detected from the file.

Formats (see ``docs/taxonomies.md``; definitions in ``docs/metrics.md``):

* ``nested``: JSON ``{"name": str, "rank": str?, "children": [...], <attr>: ...}``; a name that
  occurs more than once is one node whose children are the union over all occurrences (how a DAG is
  written). Keys other than name/children are node attributes.
* ``edges``: CSV with header ``parent,child[,rank[,<attr>...]]``; a row with an empty parent
  declares a parentless node (the root), so the root's rank and attributes survive a round trip.
* ``ranks``: CSV/TSV with one row per leaf and one column per rank, ordered coarse -> fine
  (``order,family,genus,species``). A row may stop early (trailing empty cells) for a leaf at a
  coarser rank, and an empty cell in the middle is skipped (the taxon hangs from the nearest filled
  coarser rank). If the first column holds one value it is the root, otherwise a root named
  ``root`` is added. ``qualify_names``: see :mod:`taxovit.taxonomy.rank_columns`.
* ``node-link``: networkx node-link JSON (``{"nodes": [...], "links"|"edges": [...]}``); node ids
  are strings.
* ``dwc`` (Darwin Core Taxon: ``taxonID``, ``parentNameUsageID``, ...) and ``inat`` (iNaturalist's
  model ``taxonomy.csv``): edge tables keyed by id, the name as the ``name`` attribute
  (:mod:`taxovit.taxonomy.edge_table`).
* ``lineage`` (``k__Bacteria;p__Firmicutes``, ``A|B|C``) and ``nabirds`` (``hierarchy.txt`` +
  ``classes.txt``): :mod:`taxovit.taxonomy.text_formats`.

Edge tables (``edges``, ``dwc``, ``inat``) are first read by the vectorised reader
(:mod:`taxovit.taxonomy.fast_table`); the row-by-row reader runs only when it declines, to name the
line and column of the problem.

Rules shared by every format:

* Surrounding whitespace is not part of a name or a rank: ``" Aves "`` is ``"Aves"`` in every
  reader, and a name that is empty once stripped is an error. A rank, where present, is a non-empty
  string (in CSV an empty rank cell means "no rank").
* A ``.tsv`` file is tab-separated, whatever the format (read and written).
* JSON: a key repeated in one object is an error naming its JSON path; nesting of any depth is read
  (deep documents take a slower, non-recursive parser) and nested JSON is written without
  recursion; attribute values may nest at most ``MAX_VALUE_DEPTH`` levels.

Lossless round trips: ``nested``, ``edges`` (attribute values become strings; an empty string reads
back as absent) and ``node-link`` keep structure, ranks and attributes; ``ranks`` keeps structure
and ranks of trees whose nodes all carry a rank.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from taxovit._outputs import OutputPlan
from taxovit.errors import InputError, TaxonomyError, TaxovitError
from taxovit.taxonomy.edge_table import SPECS, read_edge_table
from taxovit.taxonomy.fast_table import read_table_fast
from taxovit.taxonomy.graph import Taxonomy
from taxovit.taxonomy.json_parse import _loads_iteratively, parse_json
from taxovit.taxonomy.rank_columns import read_ranks
from taxovit.taxonomy.readers import JSON_READERS, MAX_VALUE_DEPTH, RANK_CSV_ROOT
from taxovit.taxonomy.text_formats import (
    LINEAGE_COLUMNS,
    looks_like_lineage,
    looks_like_nabirds,
    nabirds_names_file,
    read_lineage,
    read_nabirds,
)
from taxovit.taxonomy.text_input import csv_delimiter, csv_rows, read_bytes, read_text
from taxovit.taxonomy.writers import FORMATS, Format, dumps_taxonomy

__all__ = ["FORMATS", "_loads_iteratively", "parse_json", "MAX_VALUE_DEPTH", "RANK_CSV_ROOT"]
__all__ += ["READ_FORMATS", "detect_format", "dumps_taxonomy", "format_for_path", "load_taxonomy"]
__all__ += ["save_taxonomy", "taxonomy_inputs"]


# ----------------------------------------------------------------- detection and loading
#: every format load_taxonomy reads (FORMATS: those it also writes)
READ_FORMATS: tuple[str, ...] = (*FORMATS, "dwc", "inat", "lineage", "nabirds")
_TABLES = ("edges", "dwc", "inat")  # edge tables: read by the vectorised reader first


def _csv_format(p: Path, text: str) -> str:
    """The format of a CSV/TSV/text file from its first lines."""
    first = text.split("\n", 1)[0]
    if p.suffix.lower() not in (".csv", ".tsv") and "\t" not in first and "," not in first:
        if looks_like_nabirds(text.split("\n", 50)[:50]):
            return "nabirds"
    delimiter = csv_delimiter(p, text)
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error as exc:
        raise InputError(f"unreadable CSV header: {exc}", file=str(p), row=1) from None
    cells = [h.strip().lower() for h in header]
    if cells[:2] == ["parent", "child"]:
        return "edges"
    if {"taxonid", "parentnameusageid"} <= set(cells):
        return "dwc"
    if {"parent_taxon_id", "taxon_id"} <= set(cells):
        return "inat"
    if any(c in LINEAGE_COLUMNS for c in cells) or any(looks_like_lineage(c) for c in header):
        return "lineage"
    if "\t" not in first and looks_like_lineage(first):
        return "lineage"  # one |- or ;-separated lineage per line, commas and all
    return "ranks"


def _detect(p: Path, text: str) -> tuple[str, Any]:
    """The format, and the parsed JSON document for JSON formats."""
    if text.lstrip().startswith(("{", "[")):
        obj = parse_json(text, p)
        if isinstance(obj, dict) and "nodes" in obj and ("links" in obj or "edges" in obj):
            return "node-link", obj
        if isinstance(obj, dict) and "name" in obj:
            return "nested", obj
        raise InputError(
            "JSON taxonomy must be an object with 'name' (nested) or 'nodes' and 'links' "
            "(node-link)",
            file=str(p),
        )
    return _csv_format(p, text), None


def detect_format(path: str | os.PathLike[str], text: str | None = None) -> str:
    """Guess a taxonomy file's format from its extension and first bytes.

    JSON files are told apart by their keys (``nodes``/``links``: node-link, else nested),
    CSV/TSV files by their header (``parent,child``: edges; ``taxonID`` and
    ``parentNameUsageID``: Darwin Core; ``parent_taxon_id`` and ``taxon_id``: iNaturalist;
    a lineage column or cell: lineage; otherwise one column per rank), integer pairs per
    line: NABirds.

    Parameters
    ----------
    path : str or os.PathLike
        The file (read unless ``text`` is given; its name still counts).
    text : str, optional
        The file's text, when already read.

    Returns
    -------
    str
        One of ``READ_FORMATS``: ``nested``, ``edges``, ``ranks``, ``node-link``, ``dwc``,
        ``inat``, ``lineage``, ``nabirds``.

    Raises
    ------
    InputError
        The file cannot be read, is not UTF-8, or its JSON is malformed.

    Examples
    --------
    >>> from taxovit.taxonomy import detect_format
    >>> detect_format("tax.csv", text="parent,child\\nAves,Corvidae\\n")
    'edges'
    >>> detect_format("tax.csv", text="order,family,genus\\nPasseriformes,Corvidae,Corvus\\n")
    'ranks'
    >>> detect_format("tax.json", text='{"name": "Aves", "children": []}')
    'nested'
    """
    p = Path(path)
    return _detect(p, read_text(p) if text is None else text)[0]


def _check_json_named(p: Path, data: bytes) -> None:
    """A ``.json`` file is JSON: other text in it is an error, never read as a CSV format."""
    start = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    if start not in (b"{", b"["):
        raise InputError(
            f"a .json file must hold a JSON object (nested or node-link); it starts "
            f"with {data.lstrip()[:12]!r} (pass --format to read another format)",
            file=str(p),
            row=1,
        )


def _head(data: bytes) -> str | None:
    """The first 64 KiB as text (whole lines), or None if they are not plain UTF-8 CSV."""
    head = data[: 1 << 16]
    if len(data) > len(head):
        head = head[: head.rfind(b"\n") + 1]
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if not text.strip() or text.lstrip().startswith(("{", "[")) else text


def _load_fast(p: Path, data: bytes, format: str | None, add_root: bool) -> Taxonomy | None:
    """Edge tables through the vectorised reader; None where the exact reader must run."""
    head = _head(data)
    if head is None or format not in (None, *_TABLES):
        return None
    format = format or _csv_format(p, head)
    if format not in _TABLES:
        return None
    return read_table_fast(data, head, csv_delimiter(p, head), p, SPECS[format], add_root)


def _read(format: str, text: str, obj: Any, p: Path, add_root: bool, qualify: bool) -> Taxonomy:
    if format in JSON_READERS:
        return JSON_READERS[format](obj, p, add_root)
    if format in _TABLES:
        return read_edge_table(csv_rows(text, p), p, add_root, SPECS[format])
    if format == "ranks":
        return read_ranks(csv_rows(text, p), p, add_root, qualify)
    if format == "lineage":
        return read_lineage(text, p, add_root, qualify)
    return read_nabirds(text, p, add_root)


def load_taxonomy(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    add_root: bool = False,
    qualify_names: bool = False,
) -> Taxonomy:
    """Load a taxonomy file; the format is detected unless given.

    Every row is checked (one root, no cycle, non-empty unique names, no repeated edge,
    consistent widths) before the taxonomy is built; the integer index is compiled on first
    use. The formats are described on the Taxonomies page (docs/taxonomies.md).

    Parameters
    ----------
    path : str or os.PathLike
        The taxonomy file.
    format : str, optional
        One of ``READ_FORMATS`` (``nested``, ``edges``, ``ranks``, ``node-link``, ``dwc``,
        ``inat``, ``lineage``, ``nabirds``); default: :func:`detect_format`.
    add_root : bool, default False
        Join several roots under a virtual root (edge tables, NABirds and node-link JSON; the
        other formats have one root by construction).
    qualify_names : bool, default False
        Rank columns and lineages: a name found under several parents becomes one taxon per
        parent, named ``"Name (Parent)"``, instead of an error.

    Returns
    -------
    Taxonomy

    Raises
    ------
    TaxonomyError
        A structural problem (a cycle, several roots, a repeated edge, an empty name...),
        naming the file and, where there is one, the line.
    InputError
        A file problem (missing, unreadable, not UTF-8, malformed JSON or CSV), naming the
        file, line and column.
    ValueError
        An unknown ``format``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from taxovit import load_taxonomy
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "corvids.csv"
    >>> _ = path.write_text("parent,child,rank\\nAves,Corvidae,family\\n"
    ...                     "Corvidae,Corvus,genus\\nCorvidae,Pica,genus\\n")
    >>> tax = load_taxonomy(path)
    >>> tax
    Taxonomy(4 nodes, 2 leaves, tree, root='Aves')
    >>> tax.rank("Corvus"), tax.rank_names
    ('genus', ['family', 'genus'])
    >>> _ = path.write_text("parent,child\\nA,B\\nB,A\\n")
    >>> load_taxonomy(path)
    Traceback (most recent call last):
    ...
    taxovit.errors.TaxonomyError: ...corvids.csv: the taxonomy has a cycle: 'A' -> 'B' -> 'A'
    """
    p = Path(path)
    if format is not None and format not in READ_FORMATS:
        raise ValueError(
            f"unknown taxonomy format {format!r}; choose one of {', '.join(READ_FORMATS)}"
        )
    try:
        data = read_bytes(p)
        if format is None and p.suffix.lower() == ".json":
            _check_json_named(p, data)
        tax = _load_fast(p, data, format, add_root)
        if tax is not None:
            return tax
        text = read_text(p, data)
        if format is None:
            format, obj = _detect(p, text)
        else:
            obj = parse_json(text, p) if format in JSON_READERS else None
        return _read(format, text, obj, p, add_root, qualify_names)
    except TaxonomyError as exc:
        raise TaxonomyError(f"{p}: {exc}") from None


def taxonomy_inputs(
    what: str, path: str | os.PathLike[str] | None, format: str | None = None
) -> dict[str, str]:
    """Every file :func:`load_taxonomy` reads for ``path``, by what it is.

    Parameters
    ----------
    what : str
        The key of ``path`` (e.g. ``"taxonomy"``).
    path : str, os.PathLike or None
    format : str, optional
        As for :func:`load_taxonomy`; only ``nabirds`` (or None) reads a ``classes.txt``.

    Returns
    -------
    dict of str to str
        For an :class:`~taxovit._outputs.OutputPlan`; an unreadable file: left to the loader.

    Examples
    --------
    >>> taxonomy_inputs("taxonomy", "tax.json")
    {'taxonomy': 'tax.json'}
    """
    if path is None or os.fspath(path) == "-":
        return {what: path} if path is not None else {}
    p = Path(path)
    found = {what: os.fspath(path)}
    if format not in (None, "nabirds"):
        return found
    if format is None:
        try:
            with open(p, "rb") as fh:
                head = fh.read(1 << 16)
            text = head[: head.rfind(b"\n") + 1 or None].decode("utf-8-sig", "replace")
            if text.lstrip().startswith(("{", "[")) or _csv_format(p, text) != "nabirds":
                return found
        except (OSError, TaxovitError):
            return found
    names = nabirds_names_file(p)
    if names is not None:
        found[f"{what}'s names ({names.name})"] = os.fspath(names)
    return found


# ----------------------------------------------------------------- saving
def format_for_path(path: str | os.PathLike[str]) -> Format:
    """The format an output's extension implies: .json nested, .csv/.tsv edges (else ValueError)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "nested"
    if suffix in (".csv", ".tsv"):
        return "edges"
    raise ValueError(
        f"cannot tell the taxonomy format from {os.fspath(path)!r} (.json: nested, .csv/.tsv: "
        f"edges); pass format= (one of {', '.join(FORMATS)})"
    )


def taxonomy_text(tax: Taxonomy, format: Format, path: str | os.PathLike[str]) -> str:
    """The file text of ``tax`` in ``format`` for ``path`` (a ``.tsv`` is tab-separated)."""
    tab = Path(path).suffix.lower() == ".tsv"
    text = dumps_taxonomy(tax, format, delimiter="\t" if tab else ",")
    return text + ("" if text.endswith("\n") else "\n")


def save_taxonomy(
    tax: Taxonomy, path: str | os.PathLike[str], format: Format | None = None
) -> None:
    """Write a taxonomy file, atomically.

    The output is checked first (not a folder; missing parent folders are created) and
    written to a temporary file renamed into place: on any error nothing is changed.

    Parameters
    ----------
    tax : Taxonomy
    path : str or os.PathLike
        The file to write; a ``.tsv`` is tab-separated.
    format : {"nested", "edges", "ranks", "node-link"}, optional
        Default from the extension: ``.json`` nested, ``.csv``/``.tsv`` edges.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        No ``format`` and an extension that implies none, or an unknown ``format``.
    TaxonomyError
        A taxonomy the format cannot hold (see :func:`dumps_taxonomy`).
    OutputError
        The path is a folder or lies under a file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from taxovit import Taxonomy, load_taxonomy, save_taxonomy
    >>> tax = Taxonomy.from_edges([("Aves", "Corvidae"), ("Corvidae", "Corvus")],
    ...                           ranks={"Corvidae": "family", "Corvus": "genus"})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "corvids.json"
    >>> save_taxonomy(tax, path)
    >>> load_taxonomy(path).rank("Corvidae")
    'family'
    """
    fmt = format or format_for_path(path)
    plan = OutputPlan({})
    out = plan.file("output", path, stdout_ok=False)
    plan.write({out: taxonomy_text(tax, fmt, path)})
