"""The long format, CSV or Parquet: one row per (sample, candidate), ``id,label,score`` and
optionally ``y_true`` (the same on every row of an id), names in any case; without ``y_true``
the truth comes from a truth file (:mod:`taxovit.predictions.truth`).

Samples are the distinct ids in order of first appearance. ``y_pred`` is the best-scoring
label of each id (ties: the label of the earlier row). When every id lists every label of
the file exactly once the scores form the dense ``(n, C)`` matrix of the wide format (columns
in order of first appearance) and every metric can be computed; otherwise ``ranked`` holds
each id's labels best first (same tie rule), padded with -1, and mAP is not computable (the
reason is in ``notes``). Checks, reported earliest first: empty or unknown id/label/y_true,
a score that is not a finite number, the same (id, label) twice, a y_true that differs
between rows of one id.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from taxovit._repeats import rows_with_repeat
from taxovit.errors import ArgumentError
from taxovit.predictions.cells import (
    Problems,
    check_label_codes,
    first,
    first_appearance,
    label_lut,
)
from taxovit.predictions.contract import MAP_KEYS, Predictions, checked_ranked
from taxovit.predictions.csv_layout import shorten
from taxovit.predictions.long_parquet import Reading, Runs, read_runs, start_reading
from taxovit.predictions.sources import Source, header_of, load_table
from taxovit.predictions.tables import Table, find_columns
from taxovit.predictions.truth import Truth, align_truth

__all__ = ["long_columns", "read_long", "start_long"]


def _first_repeat(
    idc: np.ndarray, labc: np.ndarray, n_labels: int, groups: tuple
) -> tuple[int, int]:
    """(row, earlier row) of the first (id, label) pair seen twice, (-1, -1) if none."""
    contiguous, counts, starts = groups
    k = int(counts[0]) if counts.size else 0
    if contiguous and (counts == k).all():  # K rows per id, ids one after the other
        m = labc.reshape(-1, k)
        i = first(rows_with_repeat(m))
        if i < 0:
            return -1, -1
        row = [int(x) for x in m[i]]
        j = next(j for j in range(k) if row[j] in row[:j])
        return int(starts[i]) + j, int(starts[i]) + row.index(row[j])
    import pandas as pd

    key = idc.astype(np.int64) * max(n_labels, 1) + labc
    r = first(pd.Series(key).duplicated().to_numpy())
    return (r, int(np.flatnonzero(key == key[r])[0])) if r >= 0 else (-1, -1)


def _note_varying_truth(
    idc: np.ndarray,
    first_row: np.ndarray,
    y: np.ndarray,
    text: tuple,
    column: str,
    problems: Problems,
    groups: tuple,
) -> None:
    """A y_true that differs from the one on the id's first row (``text``: codes, uniques)."""
    contiguous, counts, _ = groups
    k = int(counts[0]) if counts.size else 0
    if contiguous and (counts == k).all():  # K rows per id: compare with each id's first row
        ym = y.reshape(-1, k)
        differs = (ym != ym[:, :1]).ravel()
    else:
        y0 = np.repeat(y[first_row], counts) if contiguous else y[first_row[idc]]
        differs = y != y0
    r = first(differs)
    if r >= 0:  # an empty or unknown label is reported as such, not as a difference
        y0 = y[first_row[idc]]
        r = first(differs & (y >= 0) & (y0 >= 0))
    if r >= 0:
        ref = int(first_row[idc[r]])
        codes, uniques = text
        problems.note(
            r,
            column,
            f"y_true {shorten(uniques[codes[r]])} differs from "
            f"{shorten(uniques[codes[ref]])} on an earlier row of the same id; "
            "expected one true label per id",
            ref,
        )


def _check_truth(
    text: tuple[np.ndarray, np.ndarray],
    column: str,
    name_to_id: Mapping[str, int],
    problems: Problems,
    idc: np.ndarray,
    first_row: np.ndarray,
    groups: tuple,
) -> np.ndarray:
    """Each id's y_true (its first row's), after checking every row's (``text``: the column's
    codes and distinct values): empty or unknown labels, a label that differs within an id.
    When every value names a node and no id's codes vary (distinct values name distinct
    nodes), only the first rows are mapped."""
    codes, uniques = text
    contiguous, counts, _ = groups
    k = int(counts[0]) if counts.size else 0
    if contiguous and (counts == k).all():  # K rows per id
        cm = codes.reshape(-1, k)
        varies = bool((cm != cm[:, :1]).any())
    else:
        varies = bool((codes != codes[first_row[idc]]).any())
    lut = label_lut(uniques, name_to_id)
    if not varies and (lut >= 0).all():
        return lut[codes[first_row]]
    y = check_label_codes(codes, uniques, column, name_to_id, problems)
    _note_varying_truth(idc, first_row, y, (codes, uniques), column, problems, groups)
    return y[first_row]


def _groups(idc: np.ndarray, n_ids: int) -> tuple[bool, np.ndarray, np.ndarray]:
    """(every id's rows one after the other, rows per id, first row of each id in the
    sorted order); ``idc`` numbers the ids in order of first appearance."""
    last = np.flatnonzero(idc[1:] != idc[:-1])  # the last row of each run but the final one
    if (idc[last + 1] > idc[last]).all():  # every id's rows together: the runs are the ids
        bounds = np.append(last + 1, idc.size)
        return True, np.diff(bounds, prepend=0), np.append(0, bounds[:-1])
    counts = np.bincount(idc, minlength=n_ids)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return False, counts, starts


def _check_rows(table: Table, names: dict, name_to_id: Mapping[str, int]) -> tuple:
    """Every cell check; returns (id codes, unique ids, labels, scores, each id's y_true or
    None, first row of each id, label codes and texts, groups)."""
    problems = Problems(table.header)
    with ThreadPoolExecutor(1) as pool:  # the ids beside the labels (Arrow and numpy release
        ids = pool.submit(table.factorized, names["id"])  # the GIL): ~0.2 s of 1 M x top-10
        labc, labu = table.factorized(names["label"], ordered=False)
        truth = table.factorized(names["y_true"], ordered=False) if "y_true" in names else None
        idc, uid = ids.result()
    empty = np.flatnonzero(uid == "")
    if empty.size:
        problems.note(
            first(idc == empty[0]), names["id"], "empty id; expected a non-empty identifier"
        )
    labels = check_label_codes(labc, labu, names["label"], name_to_id, problems)
    score = table.floats([names["score"]], problems)[:, 0]
    groups = _groups(idc, len(uid))
    r, ref = _first_repeat(idc, labc, len(labu), groups)
    if r >= 0:
        problems.note(
            r,
            names["label"],
            f"label {shorten(labu[labc[r]])} is listed twice for "
            f"id {shorten(uid[idc[r]])}; expected each (id, label) pair once",
            ref,
        )
    if groups[0]:
        first_row = groups[2]
    else:
        first_row = np.full(len(uid), table.n, dtype=np.int64)
        np.minimum.at(first_row, idc, np.arange(table.n))
    y = None
    if truth is not None:
        y = _check_truth(truth, names["y_true"], name_to_id, problems, idc, first_row, groups)
    table.check(problems)
    return idc, uid, labels, score, y, first_row, (labc, labu), groups


def _ranking(idc: np.ndarray, score: np.ndarray, groups: tuple) -> np.ndarray | None:
    """Rows grouped by id, best score first, ties by row order: the order of the rows, None
    when the file is in that order already (no sort)."""
    if groups[0] and not ((idc[1:] == idc[:-1]) & (score[1:] > score[:-1])).any():
        return None
    return np.lexsort((np.arange(idc.size), -score, idc))


def _candidates(idc, uid, labels, score, label_text, groups) -> tuple:
    """(y_pred, scores, score_labels, ranked, notes, ranked_scores) from the checked rows."""
    n_ids, (_, counts, starts) = len(uid), groups
    order = _ranking(idc, score, groups)
    y_pred = labels[starts] if order is None else labels[order[starts]]
    c = len(label_text[1])
    if idc.size == n_ids * c:  # no repeated pair, so every id lists every label once
        labc, _ = first_appearance(*label_text)  # the columns in order of first appearance
        scores = np.empty((n_ids, c), dtype=np.float64)
        scores[idc, labc] = score
        return y_pred, scores, labels[np.unique(labc, return_index=True)[1]], None, {}, None
    k = int(counts.max())
    if order is None and (counts == k).all():
        ranked, ranked_scores = labels.reshape(n_ids, k), score.reshape(n_ids, k)
    else:
        order = np.arange(idc.size) if order is None else order
        ranked = np.full((n_ids, k), -1, dtype=np.int64)
        ranked_scores = np.zeros((n_ids, k))
        at = (idc[order], np.arange(idc.size) - starts[idc[order]])
        ranked[at], ranked_scores[at] = labels[order], score[order]
    x = first(counts < c)  # labels checked, none twice per id, -1 padding only at the end
    return (
        y_pred,
        None,
        np.empty(0, dtype=np.int64),
        checked_ranked(ranked),
        _map_notes(uid[x], counts[x], c),
        ranked_scores,
    )


def _map_notes(some_id: str, listed: int, c: int) -> dict[str, str]:
    """Why mAP is null: ``some_id`` lists ``listed`` of the ``c`` labels of the file."""
    reason = (
        f"id {shorten(some_id)} lists {listed} of the {c} labels in the file; mAP "
        "needs every id to score every label exactly once"
    )
    return dict.fromkeys(MAP_KEYS, reason)


def _from_runs(
    src: Source, runs: Runs, table: Table, id_col: str, truth: Truth | None
) -> Predictions:
    """The predictions of a long Parquet file whose rows passed the fast checks."""
    y_true = (
        runs.y_true if truth is None else align_truth(truth, runs.uid, table, id_col, runs.starts)
    )
    assert y_true is not None
    k = runs.ranked.shape[1]
    return Predictions(
        runs.uid,
        y_true,
        runs.ranked[:, 0].copy(),
        np.empty(0, dtype=np.int64),
        None,
        src.path,
        ranked=checked_ranked(runs.ranked),
        format="long-parquet",
        notes=_map_notes(runs.uid[0], k, runs.n_labels),
        ranked_scores=runs.scores,
    )


def long_columns(src: Source, header: list[str], row: int | None) -> dict[str, str]:
    """The role -> column name of a long file's header (names in any case)."""
    return find_columns(src.context(), header, ["id", "label", "score"], ["y_true"], row=row)


def start_long(src: Source) -> Reading | None:
    """The reads of a long Parquet file, started (see :func:`read_long`); None when there
    is nothing to start (not Parquet, or a file the general reader must read)."""
    if src.kind != "parquet":
        return None
    header, row = header_of(src)
    return start_reading(src, header, long_columns(src, header, row))


def read_long(
    src: Source, name_to_id: Mapping[str, int], truth: Truth | None, reading: Reading | None = None
) -> Predictions:
    """A long-format file (see the module docstring); ``reading``: from :func:`start_long`."""
    ctx = src.context()
    header, row = header_of(src)
    names = long_columns(src, header, row)
    if truth is not None and "y_true" in names:
        raise ArgumentError(f"--truth: {src.shown} has its own y_true column; give one of them")
    if truth is None and "y_true" not in names:
        raise ctx.error(
            "no y_true column; expected a y_true column or the true labels in a "
            "truth file (--truth)",
            row=row,
            column="y_true",
        )
    if src.kind == "parquet":  # the common case in one pass, checks and all; else checked below
        runs, table = read_runs(src, header, names, name_to_id, reading)
        if runs is not None:
            return _from_runs(src, runs, table, names["id"], truth)
    else:
        table = load_table(src, header, [names["score"]])
    idc, uid, labels, score, y, first_row, label_text, groups = _check_rows(
        table, names, name_to_id
    )
    y_pred, scores, score_labels, ranked, notes, ranked_scores = _candidates(
        idc, uid, labels, score, label_text, groups
    )
    if y is not None:
        y_true = y
    else:
        assert truth is not None
        y_true = align_truth(truth, uid, table, names["id"], first_row)
    fmt = "long-parquet" if src.kind == "parquet" else "long-csv"
    return Predictions(
        uid,
        y_true,
        y_pred,
        score_labels,
        scores,
        src.path,
        ranked=ranked,
        notes=notes,
        format=fmt,
        ranked_scores=ranked_scores,
    )
