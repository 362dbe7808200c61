"""Vectorised reading of edge tables (``edges``, ``dwc``, ``inat``): pandas' C parser, numpy
checks, no Python loop per row.

:func:`read_table_fast` either returns the taxonomy the row-by-row reader
(:func:`taxovit.taxonomy.edge_table.read_edge_table`) would return, or ``None`` when it sees
anything that reader would reject or that the two parsers might read differently (a row of
another width, a quote inside a field, a lone carriage return, a NUL byte, undecodable text,
an empty id, a repeated edge, a parent without a row...). The caller then runs the row-by-row
reader, which raises the exact error (file, line, column), so messages are the same whichever
reader finds the problem.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from taxovit.errors import TaxovitError
from taxovit.taxonomy.edge_table import INTEGER, Columns, TableSpec, table_columns
from taxovit.taxonomy.graph import Taxonomy

__all__ = ["read_table_fast", "uniform_width", "width_by_count"]

BOM = b"\xef\xbb\xbf"
QUOTE, LF, CR = 34, 10, 13


def _quotes_are_plain(a: np.ndarray, q: np.ndarray, delim: int) -> bool:
    """RFC 4180 quoting only: a field's opening quote follows a delimiter or line start, its
    closing quote precedes a delimiter or line end, and quotes inside are doubled."""
    if q.size % 2:
        return False
    prev = np.where(q > 0, a[np.maximum(q - 1, 0)], LF)
    nxt = np.where(q + 1 < a.size, a[np.minimum(q + 1, a.size - 1)], LF)
    opening = np.arange(q.size) % 2 == 0
    ok_open = (prev == delim) | (prev == LF) | (prev == QUOTE)
    ok_close = (nxt == delim) | (nxt == LF) | (nxt == CR) | (nxt == QUOTE)
    return bool(ok_open[opening].all() and ok_close[~opening].all())


def uniform_width(buf: bytes, delim: str, width: int) -> bool:
    """Whether every non-blank line (record) of ``buf`` has ``width`` fields, in numpy."""
    a = np.frombuffer(buf, dtype=np.uint8)
    d = ord(delim)
    none = np.empty(0, dtype=np.int64)
    cr = np.flatnonzero(a == CR) if b"\r" in buf else none
    if cr.size and not (a[np.minimum(cr + 1, a.size - 1)] == LF)[cr + 1 < a.size].all():
        return False
    if cr.size and cr[-1] == a.size - 1:
        return False
    q = np.flatnonzero(a == QUOTE) if b'"' in buf else none
    if q.size and not _quotes_are_plain(a, q, d):
        return False
    nl = np.flatnonzero(a == LF)
    dl = np.flatnonzero(a == d)
    if q.size:  # inside quotes when an odd number of quotes come before
        nl = nl[np.searchsorted(q, nl) % 2 == 0]
        dl = dl[np.searchsorted(q, dl) % 2 == 0]
    starts = np.r_[0, nl + 1]
    ends = np.r_[nl, a.size]
    length = ends - starts
    if cr.size:
        length -= (length > 0) & (a[np.maximum(ends - 1, 0)] == CR)
    fields = np.searchsorted(dl, ends) - np.searchsorted(dl, starts) + 1
    return bool((fields[length > 0] == width).all())


def width_by_count(buf: bytes, delim: str, width: int, records: int) -> bool | None:
    """The cheap form of :func:`uniform_width` once pandas has read ``records`` non-blank
    lines without finding one too long: then every line has ``width`` fields exactly when
    the delimiters outside quotes number ``(width - 1) * records``. ``None`` where a blank-
    looking line, a carriage return or many quotes need the full check."""
    if b"\r" in buf or b"\n " in buf or b"\n\t" in buf or buf[:1] in (b" ", b"\t"):
        return None
    d = delim.encode()
    quotes = buf.count(b'"')
    if quotes > 1000:
        return None
    inside, at = 0, []
    pos = buf.find(b'"')
    while pos >= 0:
        at.append(pos)
        pos = buf.find(b'"', pos + 1)
    if at:
        a = np.frombuffer(buf, dtype=np.uint8)
        if not _quotes_are_plain(a, np.asarray(at, dtype=np.int64), ord(delim)):
            return False
        inside = sum(buf.count(d, at[i], at[i + 1]) for i in range(0, len(at), 2))
    return buf.count(d) - inside == (width - 1) * records


def _header(head: str, delim: str) -> list[str] | None:
    try:
        return [h.strip() for h in next(csv.reader(io.StringIO(head, newline=""), delimiter=delim))]
    except (csv.Error, StopIteration):
        return None


def _parse(buf: bytes, delim: str) -> Any:
    """Every cell as a string column (pandas' C parser; Arrow-backed strings where pandas
    has them, so no Python object per cell); None if pandas cannot read it."""
    import pandas as pd

    try:
        # header=None: the header row is data, so every column is read as text, exactly as
        # written (no type inference can turn "01" into 1); checked below all the same
        df = pd.read_csv(
            io.BytesIO(buf),
            sep=delim,
            header=None,
            keep_default_na=False,
            na_filter=False,
            engine="c",
            encoding="utf-8",
            skip_blank_lines=True,
            low_memory=False,
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    text = all(pd.api.types.is_string_dtype(t) or t is np.dtype(object) for t in df.dtypes)
    return df if text else None


def _node_codes(parent: Any, child: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(has-parent mask, parent codes, child codes, names) numbered in first-seen order,
    parent before child within a row (as the row-by-row reader numbers them).

    Hashes each parent once into a small table and each distinct name once more, instead of
    every cell into the big one, then renumbers by first position in row order."""
    import pandas as pd

    n = len(child)
    has = (parent != "").to_numpy(dtype=bool)
    rows = np.flatnonzero(has)
    p_codes, p_names = pd.factorize(parent[has] if not has.all() else parent)
    k = len(p_names)
    codes, names = pd.factorize(
        pd.concat([pd.Series(p_names, dtype=child.dtype), child], ignore_index=True)
    )
    p_first = np.full(k, 2 * n, dtype=np.int64)
    np.minimum.at(p_first, p_codes, 2 * rows)
    first = np.full(len(names), 2 * n, dtype=np.int64)
    first[codes[:k]] = p_first  # parent names are distinct
    np.minimum.at(first, codes[k:], 2 * np.arange(n) + 1)
    order = np.argsort(first, kind="stable")
    new = np.empty(order.size, dtype=np.int64)
    new[order] = np.arange(order.size)
    names = np.asarray(names, dtype=object)[order].tolist()
    return has, new[codes[:k]][p_codes], new[codes[k:]], names


def _agree(child: np.ndarray, values: Any, n: int) -> bool:
    """Whether every node given on several rows has the same value on each (a DAG's child)."""
    import pandas as pd

    codes, _ = pd.factorize(values)
    lo = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(n, -1, dtype=np.int64)
    np.minimum.at(lo, child, codes)
    np.maximum.at(hi, child, codes)
    return bool((lo[child] == hi[child]).all())


def _columns(
    df: Any, cols: Columns, spec: TableSpec, child: np.ndarray, n: int
) -> dict[str, np.ndarray] | None:
    """Attribute columns aligned with node ids; None when a node's rows disagree."""
    import pandas as pd

    unique = np.bincount(child, minlength=n).max(initial=0) <= 1
    out: dict[str, np.ndarray] = {}
    for i, key in cols.attrs:
        values = df[i].str.strip() if key == "rank" or spec.ids else df[i]
        if key in spec.integers:
            values = values.str.replace(INTEGER.pattern, r"\1", regex=True)
        filled = (values != "").to_numpy(dtype=bool)
        if (
            key in spec.integers
            and key not in spec.rank_from
            and not values[filled].str.fullmatch(r"-?[0-9]+").all()
        ):
            return None  # not a whole number: the row-by-row reader says where
        if not unique and not _agree(child[filled], values[filled], n):
            return None  # a conflict: the row-by-row reader names both lines
        col = np.full(n, None, dtype=object)
        if key == "rank":  # few distinct values: one string object each, no per-cell copy
            codes, uniq = pd.factorize(values[filled])
            col[child[filled]] = np.asarray(uniq, dtype=object)[codes]
        else:
            col[child[filled]] = values[filled].to_numpy(dtype=object)
        out[key] = col
    for key, table in spec.rank_from.items():
        if key in out:
            mapped = pd.Series(out[key], dtype=object).map(table).to_numpy(dtype=object)
            if (pd.isna(mapped) & ~pd.isna(out[key])).any():
                return None  # a value that names no rank: the row-by-row reader says where
            out["rank"] = np.where(pd.isna(mapped), out.get("rank", None), mapped)
    return out


def _rows(df: Any, cols: Columns) -> tuple[Any, Any, Any] | None:
    """(kept rows, stripped parents, stripped children), synonyms dropped; None if a child
    is empty."""
    child = df[cols.child].str.strip()
    if (child == "").any():
        return None
    if cols.synonym is not None:
        syn = df[cols.synonym].str.strip()
        keep = ((syn == "") | (syn == child)).to_numpy(dtype=bool)
        if not keep.all():
            df, child = df[keep], child[keep]
    return (
        df.reset_index(drop=True),
        df[cols.parent].str.strip().reset_index(drop=True),
        child.reset_index(drop=True),
    )


def read_table_fast(
    data: bytes, head: str, delim: str, path: Path, spec: TableSpec, add_root: bool
) -> Taxonomy | None:
    """The taxonomy of an edge table, or ``None`` where the row-by-row reader must decide."""
    buf = data[len(BOM) :] if data.startswith(BOM) else data
    header = _header(head, delim)
    if header is None or b"\0" in buf:
        return None
    try:
        cols = table_columns(header, spec, path)
    except TaxovitError:  # a header problem: the row-by-row reader names it
        return None
    df = _parse(buf, delim)
    if df is None or df.shape[1] != len(header) or len(df) < 2:
        return None
    same = width_by_count(buf, delim, len(header), len(df))
    if not (uniform_width(buf, delim, len(header)) if same is None else same):
        return None
    got = _rows(df.iloc[1:], cols)
    if got is None:
        return None
    df, parent, child = got
    has, par, chi, names = _node_codes(parent, child)
    n = len(names)
    unique_children = np.bincount(chi, minlength=n).max(initial=0) <= 1
    if spec.ids and not unique_children:
        return None  # an id on two rows: the row-by-row reader locates it
    if spec.ids and not (np.bincount(chi, minlength=n)[par] > 0).all():
        return None  # a parent without a row
    if not unique_children:  # (a child on one row has one edge to it)
        key = par * n + chi[has]
        if key.size != np.unique(key).size:
            return None  # a repeated edge
    columns = _columns(df, cols, spec, chi, n)
    if columns is None:
        return None
    return Taxonomy._from_parts(
        names, par, chi[has], None, add_virtual_root=add_root, columns=columns, trusted=True
    )
