"""Evaluate a Parquet *dataset* (a folder, hive partitions allowed, or a glob) out of core.

Record batches are read through :mod:`pyarrow.dataset` with a bounded read-ahead
(``batch_readahead`` / ``fragment_readahead``) and added to a
:class:`~taxovit.evaluation.streaming.StreamingEvaluator`, so memory depends on the batch size
and the taxonomy, not on the number of rows. Two layouts, recognised from the columns (names
in any case):

* long: ``id, label, score`` and ``y_true``, one row per (sample, candidate); an id's rows
  lie one after the other in one file (a file is a unit of work; batches of a file are
  joined at their boundary). ``y_pred`` is the best-scoring label (ties: the earlier row),
  the candidates best first give top-k and distance@k;
* wide: ``y_true, y_pred`` and optionally ``score_<label>`` columns (a full score matrix).

Errors name the file, the data row (1-based, within the file) and the column.
"""

from __future__ import annotations

import glob as globmod
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from taxovit._side import no_side_thread
from taxovit.errors import ArgumentError
from taxovit.evaluation.dataset_batches import ADDERS
from taxovit.evaluation.streaming import StreamingEvaluator
from taxovit.predictions.contract import SCORE_PREFIX
from taxovit.predictions.tables import RecordError

__all__ = ["DatasetSpec", "dataset_files", "evaluate_dataset", "file_state", "spec_of"]

BATCH_ROWS = 1 << 20
#: files evaluated at once, each in its own thread (memory: one batch and one state each)
FILE_THREADS = 2
#: rows per batch with --bootstrap: a batch's weights are (samples x resamples), so smaller
#: batches (B = 200, 1 M rows, two files at once: peak RSS 853 MB at 2**18 rows, 762 at 2**17)
POISSON_BATCH_ROWS = 1 << 17
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


def dataset_files(path: str | os.PathLike[str] | Sequence[str]) -> list[str]:
    """The Parquet files of a list, a folder (``*.parquet``, ``*.parq``, ``*.pq`` at any depth,
    hive partitions included; hidden and ``_``-prefixed files skipped) or a glob, sorted."""
    if isinstance(path, (list, tuple)):
        if not path:
            raise ArgumentError("an empty list of dataset files")
        return [str(f) for f in path]
    p = str(path)
    if Path(p).is_dir():
        files = sorted(
            str(f)
            for f in Path(p).rglob("*")
            if f.is_file()
            and f.suffix.lower() in PARQUET_SUFFIXES
            and not f.name.startswith((".", "_"))
        )
        if not files:
            raise ArgumentError(
                f"{p}: is a folder without .parquet files (give a predictions "
                "file, or a folder or glob of Parquet files)"
            )
    else:
        files = sorted(f for f in globmod.glob(p, recursive=True) if Path(f).is_file())
    if not files:
        raise ArgumentError(f"{p}: no Parquet files (give a folder of .parquet files or a glob)")
    return files


@dataclass(frozen=True)
class DatasetSpec:
    """The layout and the file's column names for each role (``scores``: wide score columns;
    ``k``: the labels per row of a top-k dataset; ``truth``: a
    :class:`~taxovit.evaluation.dataset_truth.TruthLookup` when the files have no y_true)."""

    layout: str
    columns: Mapping[str, str]
    score_columns: tuple[str, ...] = ()
    score_labels: tuple[str, ...] = ()
    k: int = 0
    truth: Any = None


_ROLES = {"long": ("id", "label", "score"), "topk": ("id", "predicted")}


def spec_of(schema_names: Sequence[str], file: str, truth: Any = None) -> DatasetSpec:
    """Recognise the layout from a file's column names (case-insensitive)."""
    lower = {c.lower(): c for c in schema_names}
    for layout, roles in _ROLES.items():
        if set(roles) <= lower.keys():
            if ("y_true" in lower) == (truth is not None):
                raise RecordError(
                    f"a {layout} dataset needs a y_true column or --truth FILE (id,expected), "
                    "not both",
                    file=file,
                    column="y_true",
                )
            cols = {k: lower[k] for k in (*roles, "y_true") if k in lower}
            return DatasetSpec(layout, cols, truth=truth)
    if {"y_true", "y_pred"} <= lower.keys() and truth is not None:
        raise RecordError(
            "--truth is for a top-k or long dataset without y_true; this one is wide "
            "(y_true, y_pred)",
            file=file,
        )
    if {"y_true", "y_pred"} <= lower.keys():
        sc = tuple(c for c in schema_names if c.lower().startswith(SCORE_PREFIX))
        return DatasetSpec(
            "wide",
            {k: lower[k] for k in ("y_true", "y_pred")},
            sc,
            tuple(c[len(SCORE_PREFIX) :] for c in sc),
        )
    raise RecordError(
        f"columns {list(schema_names)}: expected id,label,score,y_true (long), "
        "id,predicted,y_true (top-k; --truth FILE instead of y_true for both) "
        "or y_true,y_pred[,score_*] (wide)",
        file=file,
    )


def new_state(
    tax: Any,
    spec: DatasetSpec,
    labels: Mapping[str, int],
    top_k: Sequence[int],
    score_kind: str = "probs",
    resamples: tuple[int, int] | None = None,
) -> Any:
    """An empty state for files of ``spec``: a streaming evaluator, or with ``resamples``
    (B, seed) a Poisson bootstrap state (:mod:`taxovit.evaluation.poisson`)."""
    if resamples is not None:
        from taxovit.evaluation.poisson import PoissonState

        if spec.layout == "wide":
            raise ArgumentError(
                "--bootstrap on a dataset needs sample ids (the long or top-k layout): "
                "the resample weights are hashed from the ids"
            )
        return PoissonState(tax, resamples[0], resamples[1], top_k)
    score_labels = None
    if spec.score_labels:
        missing = [
            k for k, w in zip(spec.score_columns, spec.score_labels, strict=True) if w not in labels
        ]
        if missing:
            raise ArgumentError(f"score column {missing[0]!r} names no node of the taxonomy")
        score_labels = np.array([labels[w] for w in spec.score_labels])
    return StreamingEvaluator(tax, top_k=top_k, score_labels=score_labels, score_kind=score_kind)


def _batches(
    files: Sequence[str], columns: list[str], batch_rows: int
) -> Iterator[tuple[str, Any]]:
    """(file, record batch) in file order, read ahead by at most one batch and one file."""
    import pyarrow.dataset as ds

    data = ds.dataset(list(files), format="parquet")
    scanner = data.scanner(
        columns=columns, batch_size=batch_rows, batch_readahead=1, fragment_readahead=1
    )
    for tagged in scanner.scan_batches():
        yield tagged.fragment.path, tagged.record_batch


def file_state(
    ev: StreamingEvaluator,
    files: Sequence[str],
    spec: DatasetSpec,
    labels: Mapping[str, int],
    batch_rows: int = BATCH_ROWS,
) -> StreamingEvaluator:
    """Add every row of ``files`` to ``ev``, ``batch_rows`` at a time: a file's record
    batches (one per row group at most) are held until they reach it (a batch's fixed cost,
    a few thousand numpy calls, then falls on more rows); a long file's last id waits for
    the next batch."""
    columns = list(spec.columns.values()) + list(spec.score_columns)
    add = ADDERS[spec.layout]
    current, row0, held, n_held = None, 0, [], 0
    for file, batch in _batches(files, columns, batch_rows):
        if file != current:
            if n_held:
                add(ev, _joined(held), spec, labels, current, row0)
            current, row0, held, n_held = file, 0, [], 0
        held.append(batch)
        n_held += batch.num_rows
        if n_held < batch_rows:
            continue
        batch, held, n_held = _joined(held), [], 0
        if spec.layout == "long":
            keep = _tail_start(batch.column(spec.columns["id"]))
            held, n_held = [batch.slice(keep)], batch.num_rows - keep
            batch = batch.slice(0, keep)
        if batch.num_rows:
            add(ev, batch, spec, labels, current, row0)
            row0 += batch.num_rows
    if n_held:
        add(ev, _joined(held), spec, labels, current, row0)
    return ev


def _joined(batches: list[Any]) -> Any:
    """One record batch of ``batches`` (their dictionaries unified)."""
    import pyarrow as pa

    if len(batches) == 1:
        return batches[0]
    schema = batches[0].schema
    table = pa.Table.from_batches([b.cast(schema) for b in batches]).combine_chunks()
    return table.to_batches()[0]


def _tail_start(ids: Any) -> int:
    """The first row of the run of the last id at the end of ``ids``: on a dictionary column from
    its integer indices (its row before the run checked by value: a dictionary may repeat a
    word), else by comparing the values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    last, other = ids[len(ids) - 1], None
    if pa.types.is_dictionary(ids.type) and not ids.null_count:
        codes = ids.indices.to_numpy()
        other = np.flatnonzero(codes != codes[-1])
        if other.size and ids[int(other[-1])].as_py() == last.as_py():
            other = None  # the dictionary repeats the last id's word: compare the values
    if other is None:
        equal = pc.equal(ids, last).fill_null(False).to_numpy(zero_copy_only=False)
        other = np.flatnonzero(~equal)
    return int(other[-1]) + 1 if other.size else 0


def schema_spec(files: Sequence[str], truth: Any = None) -> DatasetSpec:
    """The layout of the first file (every file must have its columns); a top-k dataset's K
    from its first row."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(files[0]).names
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several kinds on a bad file)
        raise RecordError(f"not a readable Parquet file ({exc})", file=files[0]) from None
    spec = spec_of(names, files[0], truth)
    if spec.layout != "topk":
        return spec
    column = spec.columns["predicted"]
    for f in files:
        with guarded(f):
            first = next(pq.ParquetFile(f).iter_batches(batch_size=1, columns=[column]), None)
        if first is not None and first.num_rows:
            return replace(spec, k=len(str(first.column(0)[0].as_py() or "").split()))
    return spec


def evaluate_dataset(
    path: str | os.PathLike[str],
    taxonomy: Any,
    *,
    top_k: Sequence[int] = (1, 5),
    label_attr: str | None = None,
    batch_rows: int | None = None,
    score_kind: str = "probs",
    n_resamples: int = 0,
    seed: int = 0,
    truth: str | os.PathLike[str] | None = None,
) -> Any:
    """The state of every row of the dataset at ``path`` (:meth:`compute` gives the report);
    with ``n_resamples``, a :class:`~taxovit.evaluation.poisson.PoissonState` (its
    ``report(ci)``). ``batch_rows``: rows read at a time (default :data:`BATCH_ROWS`, with
    resamples :data:`POISSON_BATCH_ROWS`). ``truth``: the truth file of a top-k or long
    dataset without y_true, held in memory (:mod:`taxovit.evaluation.dataset_truth`)."""
    from taxovit.evaluation.arguments import as_taxonomy
    from taxovit.evaluation.dataset_truth import TruthLookup
    from taxovit.predictions.labels import label_map

    tax = as_taxonomy(taxonomy)
    files = dataset_files(path)
    labels = label_map(tax, label_attr)
    lookup = None if truth is None else TruthLookup(truth, labels)
    spec = schema_spec(files, lookup)
    boot = (int(n_resamples), int(seed)) if n_resamples > 0 else None
    rows = batch_rows or (POISSON_BATCH_ROWS if boot else BATCH_ROWS)

    # files in FILE_THREADS threads (numpy and Arrow release the GIL), their states merged in
    # file order (the first bad file's error, the same sums as one thread and as Dask); the
    # truth lookup marks ids as seen, so it reads one file at a time
    threads = 1 if lookup is not None else FILE_THREADS

    def one_file(f: str) -> Any:  # its own state and errors, its rows numbered from 1
        ev = new_state(tax, spec, labels, top_k, score_kind, boot)
        with guarded(f), no_side_thread() if threads > 1 else nullcontext():
            return file_state(ev, [f], spec, labels, rows)

    tree = TreeMerge()
    with ThreadPoolExecutor(threads) as pool:
        for state in pool.map(one_file, files):
            tree.add(state)
    if lookup is not None:
        lookup.check_all_seen(str(path))
    return tree.result() or new_state(tax, spec, labels, top_k, score_kind, boot)


FAN_IN = 8


class TreeMerge:
    """Merge per-file states in the tree :mod:`taxovit.dask` reduces them in (groups of
    :data:`FAN_IN` consecutive states, level by level), holding at most ``FAN_IN - 1``
    states per level: the float sums are then added in the same order, so the local and the
    Dask report are bit-identical (counts are exact in any order)."""

    def __init__(self) -> None:
        self.levels: list[list[Any]] = []

    def add(self, state: Any, level: int = 0) -> None:
        if level == len(self.levels):
            self.levels.append([])
        self.levels[level].append(state)
        if len(self.levels[level]) == FAN_IN:
            group, self.levels[level] = self.levels[level], []
            self.add(merge_group(group), level + 1)

    def result(self) -> Any:
        """The merged state (``None`` when nothing was added)."""
        level = 0
        while level < len(self.levels):  # add() may open the next level
            group = self.levels[level]
            if level == len(self.levels) - 1 and len(group) <= 1:
                return group[0] if group else None
            if group:
                self.levels[level] = []
                self.add(merge_group(group), level + 1)
            level += 1
        return None


def merge_group(states: Sequence[Any]) -> Any:
    """The first state with the others added in order (the one merge order of every engine)."""
    acc = states[0]
    for other in states[1:]:
        acc.merge(other)
    return acc


class guarded:  # noqa: N801  (a context manager used like a function)
    """Turn pyarrow's errors on a file into a RecordError naming it."""

    def __init__(self, file: str) -> None:
        self.file = file

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        import pyarrow as pa

        if (
            exc is not None
            and isinstance(exc, (pa.ArrowException, OSError))
            and not isinstance(exc, RecordError)
        ):
            raise RecordError(
                f"cannot read as Parquet ({str(exc)[:200]})", file=self.file
            ) from None
        return False
