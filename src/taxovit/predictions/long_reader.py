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

import numpy as np
import pandas as pd

from taxovit.errors import ArgumentError
from taxovit.predictions.cells import Problems, check_labels, first
from taxovit.predictions.contract import MAP_KEYS, Predictions
from taxovit.predictions.csv_layout import shorten
from taxovit.predictions.sources import Source, header_of, load_table
from taxovit.predictions.tables import Table, find_columns
from taxovit.predictions.truth import Truth, align_truth

__all__ = ["read_long"]


def _note_repeats(
    idc: np.ndarray, labc: np.ndarray, n_labels: int, ids: np.ndarray, names: dict,
    labels: np.ndarray, problems: Problems,
) -> None:  # fmt: skip
    """The same (id, label) pair on two rows."""
    key = idc * max(n_labels, 1) + labc
    r = first(pd.Series(key).duplicated().to_numpy() & (labc >= 0))
    if r >= 0:
        ref = int(np.flatnonzero(key == key[r])[0])
        problems.note(r, names["label"], f"label {shorten(labels[r])} is listed twice for id "
                      f"{shorten(ids[r])}; expected each (id, label) pair once", ref)  # fmt: skip


def _note_varying_truth(
    idc: np.ndarray, first_row: np.ndarray, y: np.ndarray, text: np.ndarray, column: str,
    problems: Problems,
) -> None:  # fmt: skip
    """A y_true that differs from the one on the id's first row."""
    y0 = y[first_row[idc]]
    r = first((y != y0) & (y >= 0) & (y0 >= 0))
    if r >= 0:
        ref = int(first_row[idc[r]])
        problems.note(r, column, f"y_true {shorten(text[r])} differs from {shorten(text[ref])} "
                      "on an earlier row of the same id; expected one true label per id", ref)  # fmt: skip


def _check_rows(table: Table, names: dict, name_to_id: Mapping[str, int]) -> tuple:
    """Every cell check; returns (id codes, unique ids, labels, scores, y_true or None,
    first row of each id)."""
    problems = Problems(table.header)
    ids = table.strings(names["id"])
    problems.note(first(ids == ""), names["id"], "empty id; expected a non-empty identifier")
    labels = check_labels(table.strings(names["label"]), names["label"], name_to_id, problems)
    score = table.floats([names["score"]], problems)[:, 0]
    idc, uid = pd.factorize(ids)
    labc, ulab = pd.factorize(labels)
    _note_repeats(idc, labc, len(ulab), ids, names, table.strings(names["label"]), problems)
    first_row = np.full(len(uid), table.n, dtype=np.int64)
    np.minimum.at(first_row, idc, np.arange(table.n))
    y = None
    if "y_true" in names:
        text = table.strings(names["y_true"])
        y = check_labels(text, names["y_true"], name_to_id, problems)
        _note_varying_truth(idc, first_row, y, text, names["y_true"], problems)
    table.check(problems)
    return idc, np.asarray(uid, dtype=object), labels, score, y, first_row


def _ranking(idc: np.ndarray, score: np.ndarray, n_ids: int) -> tuple[np.ndarray, ...]:
    """Rows grouped by id, best score first, ties by row order; (order, position of each
    sorted row in its group, rows per id)."""
    n = idc.size
    order = np.lexsort((np.arange(n), -score, idc))
    counts = np.bincount(idc, minlength=n_ids)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(n) - starts[idc[order]]
    return order, pos, counts


def _candidates(idc, uid, labels, score) -> tuple:
    """(y_pred, scores, score_labels, ranked, notes) from the checked rows."""
    n_ids = len(uid)
    order, pos, counts = _ranking(idc, score, n_ids)
    y_pred = labels[order[pos == 0]]
    labc, ulab = pd.factorize(labels)
    c = len(ulab)
    if idc.size == n_ids * c:  # no repeated pair, so every id lists every label once
        scores = np.empty((n_ids, c), dtype=np.float64)
        scores[idc, labc] = score
        return y_pred, scores, np.asarray(ulab, dtype=np.int64), None, {}
    ranked = np.full((n_ids, int(counts.max())), -1, dtype=np.int64)
    ranked[idc[order], pos] = labels[order]
    x = first(counts < c)
    reason = (f"id {shorten(uid[x])} lists {counts[x]} of the {c} labels in the file; mAP "
              "needs every id to score every label exactly once")  # fmt: skip
    return y_pred, None, np.empty(0, dtype=np.int64), ranked, dict.fromkeys(MAP_KEYS, reason)


def read_long(src: Source, name_to_id: Mapping[str, int], truth: Truth | None) -> Predictions:
    """A long-format file (see the module docstring)."""
    ctx = src.context()
    header, row = header_of(src)
    names = find_columns(ctx, header, ["id", "label", "score"], ["y_true"], row=row)
    if truth is not None and "y_true" in names:
        raise ArgumentError(f"--truth: {src.shown} has its own y_true column; give one of them")
    if truth is None and "y_true" not in names:
        raise ctx.error("no y_true column; expected a y_true column or the true labels in a "
                        "truth file (--truth)", row=row, column="y_true")  # fmt: skip
    table = load_table(src, header, [names["score"]])
    idc, uid, labels, score, y, first_row = _check_rows(table, names, name_to_id)
    y_pred, scores, score_labels, ranked, notes = _candidates(idc, uid, labels, score)
    if y is not None:
        y_true = y[first_row]
    else:
        assert truth is not None
        y_true = align_truth(truth, uid, table, names["id"], first_row)
    fmt = "long-parquet" if src.kind == "parquet" else "long-csv"
    return Predictions(uid, y_true, y_pred, score_labels, scores, src.path, ranked=ranked,
                       notes=notes, format=fmt)  # fmt: skip
