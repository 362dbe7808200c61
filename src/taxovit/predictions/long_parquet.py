"""The long layout read straight from a Parquet file's row groups, for the files ranking
tools write: each id's K rows one after the other (K the same for every id), best score
first, every label a node, one ``y_true`` per id, no null cell.

The id column, the costliest to read and check (a million distinct strings), is read and
checked in a worker thread while this thread reads the other columns and maps their labels
through each row group's dictionary (a lookup per distinct label, not per cell). Nothing is
reported from here: on any deviation :func:`read_runs` returns no rows, and the general reader
(:mod:`taxovit.predictions.long_reader`) checks the same table and reports the earliest
problem, so both paths give the same :class:`~taxovit.predictions.contract.Predictions` or the
same error (``tests/predictions/test_long_parquet.py`` compares them on generated files).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from taxovit._repeats import rows_with_repeat
from taxovit.predictions.cells import label_lut
from taxovit.predictions.parquet_reader import (
    ParquetTable,
    arrow_compute,
    is_text,
    numbers,
    parquet_schema,
    read_columns,
    run_heads,
    text_chunks,
)

__all__ = ["Reading", "Runs", "read_runs", "start_reading"]


@dataclass(frozen=True)
class Runs:
    """The checked rows of a long Parquet file in runs: ``uid`` the ids (object array of str,
    file order), ``ranked`` ``(len(uid), K)`` node ids best first, ``y_true`` node ids (None
    without a y_true column), ``starts`` the first row of each id, ``n_labels`` the number
    of distinct labels in the file and ``scores`` ``(len(uid), K)`` the candidates' scores
    (float64; the evaluation takes the first one's as the confidence when they are
    probabilities)."""

    uid: np.ndarray
    ranked: np.ndarray
    y_true: np.ndarray | None
    starts: np.ndarray
    n_labels: int
    scores: np.ndarray


class Reading:
    """The reads of a long Parquet file under way in two threads: the id column (read, its
    runs found and hashed) and the other columns. Start it early (:func:`start_reading`) and
    other work (loading the taxonomy) goes on beside Arrow's reads, which release the GIL."""

    def __init__(self, src: Any, header: list[str], names: Mapping[str, str]) -> None:
        self.src, self.header, self.names = src, header, dict(names)
        self.pool = ThreadPoolExecutor(2)
        self.heads: Future = Future()
        self.distinct = self.pool.submit(_id_job, src, names["id"], self.heads)
        others = [c for c in header if c != names["id"]]
        self.rest = self.pool.submit(read_columns, src, others, frozenset([names["score"]]))

    def matches(self, src: Any, header: list[str], names: Mapping[str, str]) -> bool:
        return (src.path, header, dict(names)) == (self.src.path, self.header, self.names)


def start_reading(src: Any, header: list[str], names: Mapping[str, str]) -> Reading | None:
    """The reads of a file :func:`read_runs` can take (else None), started."""
    import pyarrow as pa

    if not _plain_schema(pa, parquet_schema(src), header, names):
        return None
    return Reading(src, header, names)


def read_runs(
    src: Any,
    header: list[str],
    names: Mapping[str, str],
    name_to_id: Mapping[str, int],
    reading: Reading | None = None,
) -> tuple[Runs | None, ParquetTable]:
    """The file's :class:`Runs`, or None when the general reader must check it; and its table
    (what the general reader and a truth file's messages use). ``reading``: its reads, if
    already started."""
    import pyarrow as pa

    if reading is None or not reading.matches(src, header, names):
        reading = start_reading(src, header, names)
        if reading is None:
            return None, ParquetTable.read(src, [names["score"]])
    try:
        rest = reading.rest.result()
        checked = _checked_rest(pa, rest, names, name_to_id)
        id_col, starts, text = reading.heads.result()
        ranked = None if checked is None or starts is None else _ranked(starts, checked)
        uid = _strings(text) if ranked is not None else None  # while the worker hashes them
        if not reading.distinct.result():
            uid = None
    finally:
        reading.pool.shutdown()
    table = pa.table({c: id_col if c == names["id"] else rest.column(c) for c in header})
    ptable = ParquetTable(src.context(), table)
    if uid is None or ranked is None or checked is None:
        return None, ptable
    y = None if checked.y is None else checked.y.at(starts)
    scores = (
        np.concatenate(checked.scores.values).astype(np.float64, copy=False).reshape(ranked.shape)
    )
    return Runs(uid, ranked, y, starts, checked.n_labels, scores), ptable


def _id_job(src: Any, column: str, heads: Future) -> bool:
    """The worker: :func:`_id_heads` into ``heads`` as soon as they are known, then whether
    they are :func:`_all_distinct`."""
    try:
        heads.set_result(_id_heads(src, column))
    except BaseException as exc:
        heads.set_exception(exc)
        raise
    text = heads.result()[2]
    return text is not None and _all_distinct(text, src.context())


class _Rest(NamedTuple):
    """The checked label, score and y_true columns: every label's node id, the rows that must
    start an id (a higher score than the row before, another y_true), the y_true column and
    the number of distinct labels."""

    labels: np.ndarray
    breaks: np.ndarray
    y: _Nodes | None
    n_labels: int
    scores: _Scores


def _checked_rest(
    pa: Any, rest: Any, names: Mapping[str, str], name_to_id: Mapping[str, int]
) -> _Rest | None:
    """:class:`_Rest`; None when a label, y_true or score cell is null, empty, unknown or not
    finite."""
    label = _Nodes.of(pa, rest.column(names["label"]), name_to_id)
    y = _Nodes.of(pa, rest.column(names["y_true"]), name_to_id) if "y_true" in names else None
    scores = _Scores.of(rest.column(names["score"]))
    if label is None or scores is None or (y is None and "y_true" in names):
        return None
    breaks = scores.rises() if y is None else np.concatenate([scores.rises(), y.changes()])
    return _Rest(label.all(), breaks, y, label.n_labels, scores)


def _plain_schema(pa: Any, schema: Any, header: list[str], names: Mapping[str, str]) -> bool:
    """Distinct column names, text or integer ids and labels, numeric scores."""
    if len(set(header)) != len(header) or list(schema.names) != header:
        return False
    types = {f.name: f.type for f in schema}

    roles = [names[r] for r in ("id", "label", "y_true") if r in names]
    s = types[names["score"]]
    return all(is_text(pa, types[c]) for c in roles) and (
        pa.types.is_floating(s) or pa.types.is_integer(s)
    )


def _ends(chunks: list[np.ndarray]) -> np.ndarray:
    """The first row of each chunk and, last, the number of rows."""
    return np.cumsum([0] + [c.size for c in chunks])


@dataclass(frozen=True)
class _Nodes:
    """A label column as node ids, chunk by chunk: each chunk's codes and the node id of
    each code (one lookup per distinct value); ``n_labels`` distinct labels in cells."""

    codes: list[np.ndarray]
    luts: list[np.ndarray]
    ends: np.ndarray
    n_labels: int

    @classmethod
    def of(cls, pa: Any, col: Any, name_to_id: Mapping[str, int]) -> _Nodes | None:
        """None when a cell is null, empty or not a known label."""
        if col.null_count:
            return None
        codes, luts, present, last = [], [], [], (None, None)
        for c, values in text_chunks(pa, col):
            if last[0] is None or not values.equals(last[0]):  # row groups often share one
                last = (values, label_lut(values.to_pylist(), name_to_id))
            lut = last[1]
            used = np.zeros(lut.size, dtype=bool)
            used[c] = True
            if (lut[used] < 0).any():
                return None
            codes.append(c), luts.append(lut), present.append(lut[used])
        # the mapping is one-to-one, so distinct nodes are distinct label texts
        n_labels = int(np.unique(np.concatenate(present)).size) if present else 0
        return cls(codes, luts, _ends(codes), n_labels)

    def all(self) -> np.ndarray:
        """The node id of every cell."""
        out = np.empty(int(self.ends[-1]), dtype=np.int64)
        for c, lut, e in zip(self.codes, self.luts, self.ends, strict=False):
            out[e : e + c.size] = lut[c]
        return out

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The node ids of the (sorted) ``rows``."""
        out = np.empty(rows.size, dtype=np.int64)
        cut = np.searchsorted(rows, self.ends)
        for c, lut, e, lo, hi in zip(self.codes, self.luts, self.ends, cut, cut[1:], strict=False):
            out[lo:hi] = lut[c[rows[lo:hi] - e]]
        return out

    def changes(self) -> np.ndarray:
        """Rows whose code differs from the row before (a superset of the rows whose node
        differs: a dictionary may hold a value twice)."""
        inner = [
            np.flatnonzero(c[1:] != c[:-1]) + 1 + e
            for c, e in zip(self.codes, self.ends, strict=False)
        ]
        seams = [
            e
            for c0, l0, c1, l1, e in zip(
                self.codes, self.luts, self.codes[1:], self.luts[1:], self.ends[1:], strict=False
            )
            if l0[c0[-1]] != l1[c1[0]]
        ]
        return np.concatenate([*inner, np.array(seams, dtype=np.int64)])


@dataclass(frozen=True)
class _Scores:
    """A score column chunk by chunk (its own dtype: a cast to float keeps the order)."""

    values: list[np.ndarray]
    ends: np.ndarray

    @classmethod
    def of(cls, col: Any) -> _Scores | None:
        """None when a score is null or not finite."""
        if col.null_count:
            return None
        values = [numbers(c) for c in col.chunks if len(c)]
        if not all(np.isfinite(v).all() for v in values):
            return None
        if any(
            v.dtype.kind in "iu" and (np.abs(v, dtype=np.float64) > 2.0**53).any() for v in values
        ):
            return None  # integers a float64 cannot hold exactly: the general reader rounds them
        return cls(values, _ends(values))

    def rises(self) -> np.ndarray:
        """Rows scored higher than the row before (no array of the whole column is made)."""
        v, e = self.values, self.ends
        inner = [np.flatnonzero(a[1:] > a[:-1]) + 1 + at for a, at in zip(v, e, strict=False)]
        seams = [at for a, b, at in zip(v, v[1:], e[1:], strict=False) if b[0] > a[-1]]
        return np.concatenate([*inner, np.array(seams, dtype=np.int64)])


def _id_heads(src: Any, column: str) -> tuple[Any, np.ndarray | None, Any]:
    """(the id column, the first row of each run of equal ids, the id of each run as Arrow
    strings: :func:`~taxovit.predictions.parquet_reader.run_heads`); None for both when an
    id is null."""
    import pyarrow as pa

    col = read_columns(src, [column]).column(0)
    if col.null_count or len(col) == 0:
        return col, None, None
    return (col, *run_heads(pa, col))


def _all_distinct(heads: Any, ctx: Any) -> bool:
    """No two runs have the same id (an id that comes back after its run) and none is empty."""
    pc = arrow_compute(ctx)  # imported here, in the worker, beside the main thread's reading
    return len(pc.unique(heads)) == len(heads) and pc.min(pc.binary_length(heads)).as_py() > 0


def _strings(arr: Any) -> np.ndarray:
    """An Arrow string array as an object array of str (through a list: pyarrow's
    ``to_numpy`` of strings imports pandas, ~0.2 s of a command's start)."""
    out = np.empty(len(arr), dtype=object)
    out[:] = arr.to_pylist()
    return out


def _ranked(starts: np.ndarray, rest: _Rest) -> np.ndarray | None:
    """The labels as ranked candidates, ``(len(starts), K)``: K rows per run (fewer than the
    labels of the file), the breaks only where a run starts, no label twice in a run; else
    None. Run while the worker still hashes the ids."""
    n, n_ids = rest.labels.size, starts.size
    k = n // n_ids
    if k * n_ids != n or k >= rest.n_labels or not (starts == np.arange(0, n, k)).all():
        return None
    ranked = rest.labels.reshape(n_ids, k)
    return None if (rest.breaks % k).any() or rows_with_repeat(ranked).any() else ranked
