"""Record batches of a Parquet dataset (:mod:`taxovit.evaluation.dataset`) into a streaming
evaluator's state: the long layout's runs of rows per id and the wide layout's columns,
every cell checked, errors naming the file, the row within it and the column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from taxovit._repeats import rows_with_repeat
from taxovit.evaluation.streaming import StreamingEvaluator
from taxovit.predictions.contract import checked_ranked
from taxovit.predictions.tables import RecordError

if TYPE_CHECKING:
    from taxovit.evaluation.dataset import DatasetSpec

__all__ = ["ADDERS", "long_batch", "topk_batch", "wide_batch"]


def _node_ids(
    col: Any, name_to_id: Mapping[str, int], file: str, row0: int, column: str
) -> np.ndarray:
    """Node ids of a label column (dictionary-encoded once per batch); unknown or null: error."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(
            pc.cast(col, pa.string())
            if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type)
            else col
        )
    words, lut = _lut(col.dictionary, name_to_id)
    codes = col.indices.fill_null(0).to_numpy(zero_copy_only=False)
    if col.null_count:  # null: code len(words) (which the narrowest index type may not hold)
        null = col.is_null().to_numpy(zero_copy_only=False)
        codes = np.where(null, len(words), codes.astype(np.int64))
    ids = lut[codes]
    bad = np.flatnonzero(ids < 0)
    if bad.size:
        i = int(bad[0])
        what = (
            "empty; expected a node"
            if codes[i] == len(words)
            else f"{str(words[codes[i]])[:60]!r} is not a node"
        )
        raise RecordError(f"{what} of the taxonomy", file=file, row=row0 + i + 1, column=column)
    return ids


_LUTS: list[tuple[Any, Any, list, np.ndarray]] = []


def _lut(dictionary: Any, name_to_id: Mapping[str, int]) -> tuple[list, np.ndarray]:
    """The words of a batch's dictionary and their node ids (-1: unknown; one more -1 for
    null), reused while batches bring an equal dictionary (a file's usually do)."""
    for labels, d, words, lut in _LUTS:
        if labels is name_to_id and len(d) == len(dictionary) and d.equals(dictionary):
            return words, lut
    words = dictionary.to_pylist()
    lut = np.array([name_to_id.get(str(w), -1) for w in words] + [-1], dtype=np.int64)
    del _LUTS[:-3]  # the last few (label and y_true columns alternate)
    _LUTS.append((name_to_id, dictionary, words, lut))
    return words, lut


def _floats(col: Any, file: str, row0: int, column: str) -> np.ndarray:
    import pyarrow as pa

    try:
        v = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise RecordError(f"{col.type} is not a number", file=file, column=column) from None
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise RecordError(
            "not a finite number", file=file, row=row0 + int(bad[0]) + 1, column=column
        )
    return v


def long_batch(
    ev: StreamingEvaluator,
    batch: Any,
    spec: DatasetSpec,
    labels: Mapping[str, int],
    file: str,
    row0: int,
) -> None:
    """Add the complete ids of a long batch (its rows grouped by id, one after the other)."""
    import pyarrow.compute as pc

    c = spec.columns
    idcol = pc.dictionary_encode(batch.column(c["id"]))
    if idcol.null_count:
        raise RecordError(
            "empty id",
            file=file,
            column=c["id"],
            row=row0 + int(np.flatnonzero(idcol.is_null().to_numpy(zero_copy_only=False))[0]) + 1,
        )
    codes = idcol.indices.to_numpy()
    lab = _node_ids(batch.column(c["label"]), labels, file, row0, c["label"])
    score = _floats(batch.column(c["score"]), file, row0, c["score"])
    rows_truth = None
    if "y_true" in c:
        rows_truth = _node_ids(batch.column(c["y_true"]), labels, file, row0, c["y_true"])
    starts, run = _id_runs(codes, rows_truth, file, row0, c)
    ranked, ranked_scores = _ranked(starts, run, score, lab, file, row0, c["label"])
    ids = None
    if spec.truth is not None or getattr(ev, "wants_ids", False):
        ids = idcol.dictionary.take(codes[starts]).to_numpy(zero_copy_only=False)
    if rows_truth is None:
        truth = spec.truth.y_true(ids, file, row0 + starts + 1, c["id"])
    else:
        truth = rows_truth[starts]
    extra = {"ids": ids} if getattr(ev, "wants_ids", False) else {}
    ev.update(truth, ranked[:, 0], ranked=ranked, ranked_scores=ranked_scores, **extra)


def _distinct(first: np.ndarray) -> bool:
    """Whether the runs' id codes are all different: O(n). Arrow codes a dictionary in order
    of first appearance, so ids in runs of their own have increasing codes (checked first);
    otherwise (a column read as a dictionary) count each code."""
    if (first[1:] > first[:-1]).all():
        return True
    return bool(np.bincount(first).max(initial=0) <= 1)


def _id_runs(codes: np.ndarray, truth: Any, file: str, row0: int, c: Mapping[str, str]):
    """The first row of each id's run and each row's run; an id whose rows are split, or
    whose y_true (if given) varies, is an error naming its row."""
    new_id = np.r_[True, codes[1:] != codes[:-1]]
    starts = np.flatnonzero(new_id)
    run = np.cumsum(new_id) - 1
    if not _distinct(codes[starts]):
        seen = np.zeros(int(codes.max()) + 1, bool)
        for s in starts:  # rare: only on bad input, finds the first id seen again
            if seen[codes[s]]:
                raise RecordError(
                    "this id's rows are not next to its earlier rows",
                    file=file,
                    row=row0 + int(s) + 1,
                    column=c["id"],
                )
            seen[codes[s]] = True
    diff = np.zeros(0, np.int64) if truth is None else np.flatnonzero(truth != truth[starts][run])
    if diff.size:
        raise RecordError(
            "y_true differs from the first row of this id",
            file=file,
            row=row0 + int(diff[0]) + 1,
            column=c["y_true"],
        )
    return starts, run


def _ranked(starts, run, score, lab, file: str, row0: int, column: str):
    """``(ids, K)`` candidates best first (ties: the earlier row), -1 padded, and their
    scores (0 for padding); a label twice for an id is an error naming its first row."""
    sizes = np.diff(np.r_[starts, run.size])
    if (sizes == sizes[0]).all():  # K rows per id: the rows of an (ids, K) view
        k = int(sizes[0])
        ranked, ranked_scores = lab.reshape(-1, k), score.reshape(-1, k)
        if not (ranked_scores[:, :-1] >= ranked_scores[:, 1:]).all():  # not yet best first
            order = np.argsort(-ranked_scores, axis=1, kind="stable")
            ranked = np.take_along_axis(ranked, order, axis=1)
            ranked_scores = np.take_along_axis(ranked_scores, order, axis=1)
    else:
        order = np.lexsort(
            (np.arange(run.size), -score, run)
        )  # by id, best first, earlier row first
        rank_in = np.arange(run.size) - starts[run[order]]
        ranked = np.full((starts.size, int(sizes.max())), -1, dtype=np.int64)
        ranked[run[order], rank_in] = lab[order]
        ranked_scores = np.zeros(ranked.shape)
        ranked_scores[run[order], rank_in] = score[order]
    dup = rows_with_repeat(ranked, pad=-1)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise RecordError(
            "the same label twice for this id",
            file=file,
            row=row0 + int(starts[i]) + 1,
            column=column,
        )
    return checked_ranked(ranked), ranked_scores  # checked: as_ranked need not again


def wide_batch(
    ev: StreamingEvaluator,
    batch: Any,
    spec: DatasetSpec,
    labels: Mapping[str, int],
    file: str,
    row0: int,
) -> None:
    c = spec.columns
    t = _node_ids(batch.column(c["y_true"]), labels, file, row0, c["y_true"])
    p = _node_ids(batch.column(c["y_pred"]), labels, file, row0, c["y_pred"])
    s = None
    if spec.score_columns:
        s = np.column_stack([_floats(batch.column(k), file, row0, k) for k in spec.score_columns])
    ev.update(t, p, s)


def topk_batch(
    ev: StreamingEvaluator,
    batch: Any,
    spec: DatasetSpec,
    labels: Mapping[str, int],
    file: str,
    row0: int,
) -> None:
    """Add a top-k batch: ``id``, ``predicted`` (K labels separated by spaces, best first, K
    as on the dataset's first row) and ``y_true`` or the truth file's."""
    from taxovit.predictions.cells import Problems
    from taxovit.predictions.topk_reader import split_ranked

    c = spec.columns
    ids = _strings(batch.column(c["id"]))
    empty = np.flatnonzero(ids == "")
    if empty.size:
        raise RecordError("empty id", file=file, row=row0 + int(empty[0]) + 1, column=c["id"])
    problems = Problems(list(c.values()))
    ranked = split_ranked(_strings(batch.column(c["predicted"])), c["predicted"], labels, problems)
    if problems.items:
        bad = problems.earliest()
        raise RecordError(bad.message, file=file, row=row0 + bad.row + 1, column=bad.column)
    if spec.k and ranked.shape[1] != spec.k:
        raise RecordError(
            f"{ranked.shape[1]} labels; expected {spec.k} labels separated by spaces, as many "
            "as on the dataset's first row",
            file=file,
            row=row0 + 1,
            column=c["predicted"],
        )
    rows = row0 + np.arange(1, ids.size + 1)
    if "y_true" in c:
        _unique_ids(ids, file, row0, c["id"])
        t = _node_ids(batch.column(c["y_true"]), labels, file, row0, c["y_true"])
    else:  # the truth file checks each id once in the whole dataset
        t = spec.truth.y_true(ids, file, rows, c["id"])
    extra = {"ids": ids} if getattr(ev, "wants_ids", False) else {}
    ev.update(t, ranked[:, 0], ranked=ranked, **extra)


def _unique_ids(ids: np.ndarray, file: str, row0: int, column: str) -> None:
    """An id twice in a batch is an error naming its second row."""
    import pandas as pd

    dup = np.flatnonzero(pd.Index(ids).duplicated())
    if dup.size:
        raise RecordError(
            "duplicate id; expected one row per id",
            file=file,
            row=row0 + int(dup[0]) + 1,
            column=column,
        )


def _strings(col: Any) -> np.ndarray:
    """A column as an object array of str, null as ""."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(col, pa.string()).fill_null("").to_numpy(zero_copy_only=False).astype(object)


ADDERS = {"long": long_batch, "topk": topk_batch, "wide": wide_batch}
