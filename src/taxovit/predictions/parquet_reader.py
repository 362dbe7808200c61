"""Parquet predictions: the wide layout (the columns of the wide CSV) and the table behind the
long and top-k layouts. Needs pyarrow (``pip install "taxovit[parquet]"``), imported only here
and only when a Parquet file is read.

Problems are located by data row (1-based, as ``row N``) and column. Label and id columns
may be strings (dictionary-encoded too) or integers, compared as their decimal text; score
columns must be numeric; a null cell counts as an empty one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from taxovit.errors import InputError
from taxovit.predictions.cells import Problems, first, first_appearance
from taxovit.predictions.contract import Predictions
from taxovit.predictions.csv_layout import Columns, check_header, shorten
from taxovit.predictions.tables import wide_from_table

__all__ = [
    "INSTALL_HINT",
    "ParquetTable",
    "arrow_compute",
    "numbers",
    "parquet_columns",
    "parquet_schema",
    "read_columns",
    "read_wide_parquet",
    "run_heads",
    "text_chunks",
]

INSTALL_HINT = 'pip install "taxovit[parquet]"'


def _pyarrow(ctx: Any, compute: bool = True) -> tuple[Any, Any, Any]:
    """(pyarrow, pyarrow.compute or None, pyarrow.parquet); ``compute=False``: no
    pyarrow.compute (~0.03 s of imports that reading a file does not need)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pc = None
        if compute:
            import pyarrow.compute as pc
    except ImportError:
        raise ctx.error(
            f"reading Parquet needs pyarrow, which is not installed; install it with {INSTALL_HINT}"
        ) from None
    return pa, pc, pq


def arrow_compute(ctx: Any) -> Any:
    """pyarrow.compute (the message of a missing pyarrow if it is)."""
    return _pyarrow(ctx)[1]


def _guarded(src: Any, read: Any) -> Any:
    """``read(pyarrow.parquet)``, a failure to read reported as the file's InputError."""
    ctx = src.context()
    pa, _, pq = _pyarrow(ctx, compute=False)
    try:  # ParquetFile, not read_table: no pyarrow.dataset (and pandas) import, ~0.15 s
        return read(pq)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ctx.error(
            f"not a readable Parquet file ({shorten(str(exc))}); expected Parquet "
            "as written by pyarrow or pandas"
        ) from None


#: what a label or id column may hold, for messages
TEXT_TYPES = "a string type (string, large_string, string_view) or an integer type"


def is_text(pa: Any, t: Any) -> bool:
    """A label or id column's type: any Arrow string or integer type (dictionary-encoded
    too), each read exactly as text."""
    t = t.value_type if pa.types.is_dictionary(t) else t
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_string_view(t)
    )


def is_number(pa: Any, t: Any) -> bool:
    """A score column's type: floats, integers or decimals (read as the nearest float64, as
    a CSV number is)."""
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)


def read_columns(src: Any, columns: list[str] | None, numbers: frozenset[str] = frozenset()) -> Any:
    """``columns`` of the file (None: all) as an Arrow table, the text columns but ``numbers``
    dictionary-encoded, one dictionary per row group (Parquet stores text so: each distinct
    value becomes one Arrow string, not every cell). Safe to call from several threads: each
    call opens the file anew."""
    pa, _, _ = _pyarrow(src.context(), compute=False)

    def read(pq: Any) -> Any:
        pf = pq.ParquetFile(src.binary())
        text = [
            f.name
            for f in pf.schema_arrow
            if f.name not in numbers
            and (columns is None or f.name in columns)
            and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        ]
        if text:
            pf = pq.ParquetFile(src.binary(), read_dictionary=text)
        return pf.read(columns=columns)

    return _guarded(src, read)


def parquet_schema(src: Any) -> Any:
    """The file's Arrow schema (reads no data)."""
    return _guarded(src, lambda pq: pq.ParquetFile(src.binary()).schema_arrow)


def parquet_columns(src: Any) -> list[str]:
    """The column names of the file's schema (reads no data)."""
    return list(parquet_schema(src).names)


class ParquetTable:
    """A Parquet file's data as a :class:`~taxovit.predictions.tables.Table`."""

    def __init__(self, ctx: Any, table: Any) -> None:
        self.ctx, self.table = ctx, table
        self.header: list[str] = list(table.column_names)
        self.n = int(table.num_rows)
        if self.n == 0:
            raise ctx.error("no data rows; expected at least one row")

    @classmethod
    def read(cls, src: Any, numbers: list[str] = ()) -> ParquetTable:
        """The file's data; ``numbers``: the score columns (never dictionary-encoded)."""
        return cls(src.context(), read_columns(src, None, frozenset(numbers)))

    def _column(self, name: str) -> Any:
        return self.table.column(self.header.index(name))

    def _text_column(self, column: str) -> Any:
        pa, _, _ = _pyarrow(self.ctx)
        col = self._column(column)
        t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        if not is_text(pa, t):
            raise self.ctx.error(
                f"column has type {col.type}; expected {TEXT_TYPES}", column=column
            )
        return col

    def strings(self, column: str) -> np.ndarray:
        pa, pc, _ = _pyarrow(self.ctx)
        text = pc.fill_null(self._text_column(column).cast(pa.string()), "")
        return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)

    def factorized(self, column: str, ordered: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Arrow's dictionary encoding: only the distinct values become Python strings."""
        pa, pc, _ = _pyarrow(self.ctx)
        col = self._text_column(column)
        if not pa.types.is_dictionary(col.type):  # numbered in order of first appearance
            col = col.cast(pa.string())
            return _encode_plain(pa, pc, pc.fill_null(col, "") if col.null_count else col)
        if ordered and (runs := _dictionary_runs(pa, pc, col)) is not None:
            return runs
        arr = col.combine_chunks()  # one array: one dictionary (given ones are unified)
        values = arr.dictionary.cast(pa.string())
        idx = arr.indices  # int32 codes mostly: half the memory of int64
        raw = (
            pc.fill_null(idx.cast(pa.int64()), len(values)) if idx.null_count else idx
        ).to_numpy()
        # a dictionary may repeat a value, or hold "" (a null cell's text, appended last):
        # numbered as pd.factorize would (first appearance; a null value -> -1)
        enc = pa.concat_arrays([values, pa.array([""], pa.string())]).dictionary_encode()
        dedup = pc.fill_null(enc.indices, -1).to_numpy().astype(np.int64)
        uniques = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
        if ordered or (dedup < 0).any():
            raw = dedup[raw]
            if ordered:
                return first_appearance(raw, uniques)
            used = np.bincount(raw, minlength=uniques.size) > 0  # only the values in cells
            return (np.cumsum(used) - 1)[raw], uniques[used]
        # the same codes through one composed table: a single pass over the cells
        used = np.zeros(uniques.size, dtype=bool)
        used[dedup[np.bincount(raw, minlength=dedup.size) > 0]] = True
        return (np.cumsum(used) - 1)[dedup][raw], uniques[used]

    def floats(self, columns: list[str], problems: Problems) -> np.ndarray:
        pa, pc, _ = _pyarrow(self.ctx)
        out = None if len(columns) == 1 else np.empty((self.n, len(columns)), dtype=np.float64)
        for j, name in enumerate(columns):
            col = self._column(name)
            if not is_number(pa, col.type):
                raise self.ctx.error(
                    f"score column has type {col.type}; expected a number "
                    "type (float, integer or decimal)",
                    column=name,
                )
            # beyond 2**53 an integer becomes the nearest float64, as a CSV number does
            vals = pc.cast(col, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
            bad = ~np.isfinite(vals)
            if col.null_count:
                null = pc.is_null(col).to_numpy(zero_copy_only=False)
                problems.note(first(null), name, "empty (null) score; expected a finite number")
                bad &= ~null
            r = first(bad)
            if r >= 0:
                problems.note(
                    r,
                    name,
                    f"score {shorten(float(vals[r]))} is not finite; expected a finite number",
                )
            if out is None:  # one column (the long format's score): no copy
                return vals.astype(np.float64, copy=False).reshape(-1, 1)
            out[:, j] = vals
        return out

    def check(self, problems: Problems) -> None:
        if not problems.items:
            return
        p = problems.earliest()
        message = p.message
        if p.ref is not None:
            message += f" (first seen on row {p.ref + 1})"
        raise self.ctx.error(message, row=p.row + 1, column=p.column)


def _dictionary_runs(pa: Any, pc: Any, col: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_encode_plain`'s runs for a dictionary-encoded column, found from each chunk's
    integer codes (:func:`run_heads`). None when the column has nulls, is not in runs, or a
    value comes back after its run."""
    n = len(col)
    if col.null_count or n < 2:
        return None
    return _run_codes(pc, *run_heads(pa, col), n)


def _run_codes(
    pc: Any, starts: np.ndarray, heads: Any, n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes, distinct values) when the runs starting at rows ``starts`` (of ``n``) are the
    values: no more runs than half the rows and each run head (``heads``, Arrow strings)
    distinct; else None."""
    if len(heads) > n // 2 or len(pc.unique(heads)) != len(heads):
        return None
    codes = np.repeat(np.arange(len(heads), dtype=np.int32), np.diff(starts, append=n))
    return codes, np.asarray(heads.to_numpy(zero_copy_only=False), dtype=object)


def text_chunks(pa: Any, col: Any) -> list[tuple[np.ndarray, Any]]:
    """Each non-empty chunk of a text or integer column without nulls as (codes, the values
    they index as Arrow strings: the text the general reader compares)."""
    out = []
    for chunk in col.chunks:
        if len(chunk) == 0:
            continue
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        values = chunk.dictionary  # a cast imports pyarrow.compute (~0.03 s): only if needed
        out.append(
            (
                numbers(chunk.indices),
                values if values.type == pa.string() else values.cast(pa.string()),
            )
        )
    return out


# pyarrow imports pandas (~0.2 s of a command's start) for ``to_numpy``, ``pa.array`` and
# Python scalars in compute calls; these go through buffers instead


def numbers(arr: Any) -> np.ndarray:
    """A zero-copy numpy view of a primitive Arrow array without nulls."""
    dtype = np.dtype(arr.type.to_pandas_dtype())
    return np.frombuffer(
        arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize
    )


def _arrow_ints(pa: Any, values: np.ndarray) -> Any:
    """An int64 numpy array as an Arrow array (sharing its memory)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), values.size, [None, pa.py_buffer(values)])


def run_heads(pa: Any, col: Any) -> tuple[np.ndarray, Any]:
    """(the first row of each run of equal values, the value of each run as Arrow strings)
    of a text or integer column without nulls: a run starts where the code differs from the
    row before within a row group, where the text does across row groups. Only the run
    heads become strings."""
    starts, heads, at, last = [], [], 0, None
    for codes, values in text_chunks(pa, col):
        start = np.empty(codes.size, dtype=bool)
        start[1:] = codes[1:] != codes[:-1]
        start[0] = last is None or values[int(codes[0])].as_py() != last
        last = values[int(codes[-1])].as_py()
        rows = np.flatnonzero(start)
        starts.append(rows + at)
        heads.append(values.take(_arrow_ints(pa, codes[rows])))
        at += codes.size
    return np.concatenate(starts), pa.concat_arrays(heads)


def _encode_plain(pa: Any, pc: Any, col: Any) -> tuple[np.ndarray, np.ndarray]:
    """(codes in order of first appearance, distinct values) of a text column without nulls.
    When equal values come in runs (the ids of a long file, K rows each) and no value comes
    back after its run, the runs are the codes: only each run's first row is hashed."""
    n = len(col)
    if n > 1:
        start = np.empty(n, dtype=bool)
        start[0] = True
        start[1:] = pc.not_equal(col[1:], col[:-1]).to_numpy(zero_copy_only=False)
        if np.count_nonzero(start) <= n // 2:  # only then are the run heads worth hashing
            runs = _run_codes(
                pc, np.flatnonzero(start), col.filter(pa.array(start)).combine_chunks(), n
            )
            if runs is not None:
                return runs
    arr = col.combine_chunks().dictionary_encode()
    text = np.asarray(arr.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    return arr.indices.to_numpy(), text


def read_wide_parquet(src: Any, name_to_id: Mapping[str, int], cols: Columns) -> Predictions:
    """The wide layout from Parquet: the header checks of the wide CSV on the schema."""
    ctx = src.context()
    header = parquet_columns(src)
    try:
        score_cols, score_labels = check_header(ctx, header, name_to_id, cols)
    except InputError as exc:
        raise ctx.error(f"{exc.message} (Parquet schema)", column=exc.column) from None
    table = ParquetTable.read(src)
    return wide_from_table(table, src.path, name_to_id, cols, score_cols, score_labels, "parquet")
