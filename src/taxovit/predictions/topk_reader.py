"""Top-k submissions, as in the iNaturalist competitions: ``id,predicted`` (names in any case),
``predicted`` holding K labels separated by spaces, best first, the same K on every row.

The true labels come from a truth file (:mod:`taxovit.predictions.truth`). ``y_pred`` is the
first label; ``ranked`` holds all K. A label therefore cannot contain a space (use
``--label-attr`` with integer ids, as the competitions do). Checks, reported earliest first:
empty or duplicate id, empty ``predicted``, a row listing a different number of labels than
the first row, a label that names no node, a label listed twice in a row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from taxovit.predictions.cells import Problems, check_ids, first, label_words, map_labels
from taxovit.predictions.contract import Predictions
from taxovit.predictions.csv_layout import shorten
from taxovit.predictions.sources import Source, header_of, load_table
from taxovit.predictions.tables import find_columns
from taxovit.predictions.truth import Truth, align_truth

__all__ = ["read_topk", "split_ranked"]

_SEP = "\x00sep"  # not a NUL alone: numpy drops trailing NULs when comparing with a str


def _tokens(cells: np.ndarray, column: str, problems: Problems) -> tuple[np.ndarray, ...]:
    """Every label of every cell, by one ``str.split`` over all cells joined by a separator
    token holding a NUL (a cell holding a NUL is an error): (labels, row of each label,
    labels per row)."""
    joined = f" {_SEP} ".join(cells)
    if joined.count("\x00") != len(cells) - 1:
        import pandas as pd

        r = first(pd.Series(cells).str.contains("\x00", regex=False).to_numpy(dtype=bool))
        problems.note(r, column, "NUL character; expected labels separated by spaces")
        return np.empty(0, dtype=object), np.empty(0, np.int64), np.zeros(len(cells), np.int64)
    tokens = np.array(joined.split(), dtype=object)
    sep = tokens == _SEP
    rows = np.cumsum(sep)[~sep]
    return tokens[~sep], rows, np.bincount(rows, minlength=len(cells))


def _note_counts(counts: np.ndarray, column: str, problems: Problems) -> int:
    """K (the first row's count); empty cells and rows with another count are noted."""
    k = int(counts[0])
    problems.note(first(counts == 0), column, "empty cell; expected labels separated by spaces")
    r = first((counts != k) & (counts > 0)) if k > 0 else -1
    if r >= 0:
        problems.note(
            r,
            column,
            f"{counts[r]} label{'s' if counts[r] != 1 else ''}; expected "
            f"{k} labels separated by spaces, as many as on the first row",
        )
    return k


def split_ranked(
    cells: np.ndarray, column: str, name_to_id: Mapping[str, int], problems: Problems
) -> np.ndarray:
    """``(n, K)`` node ids from cells of K space-separated labels (-1 where a cell is bad)."""
    labels, rows, counts = _tokens(cells, column, problems)
    k = _note_counts(counts, column, problems)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(labels.size) - starts[rows]
    width = max(int(counts.max()), 1)
    tokens = np.full((len(cells), width), "", dtype=object)
    nodes = np.full((len(cells), width), -1, dtype=np.int64)
    tokens[rows, pos] = labels
    nodes[rows, pos], _ = map_labels(labels, name_to_id)
    bad = (nodes < 0) & (tokens != "")
    r = first(bad.any(axis=1))
    if r >= 0:
        j = first(bad[r])
        what, expected, _ = label_words(name_to_id)
        problems.note(
            r,
            column,
            f"label {shorten(tokens[r, j])} (candidate {j + 1}) is not {what}; expected {expected}",
        )
    _note_repeats(nodes, tokens, column, problems)
    return nodes[:, : max(k, 1)]


def _note_repeats(nodes: np.ndarray, tokens: np.ndarray, column: str, problems: Problems) -> None:
    """A label listed twice in one row (padding and unknown labels, -1, excepted)."""
    s = np.sort(nodes, axis=1)
    rep = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    r = first(rep.any(axis=1))
    if r >= 0:
        node = s[r, 1:][rep[r]][0]
        j = first(nodes[r] == node)
        problems.note(
            r,
            column,
            f"label {shorten(tokens[r, j])} is listed twice; expected distinct labels, best first",
        )


def read_topk(src: Source, name_to_id: Mapping[str, int], truth: Truth) -> Predictions:
    """A top-k submission (see the module docstring) with its truth."""
    ctx = src.context()
    header, row = header_of(src)
    names = find_columns(ctx, header, ["id", "predicted"], row=row)
    table = load_table(src, header, [])
    problems = Problems(table.header)
    ids = check_ids(table.strings(names["id"]), names["id"], problems)
    ranked = split_ranked(
        table.strings(names["predicted"]), names["predicted"], name_to_id, problems
    )
    table.check(problems)
    y_true = align_truth(truth, ids, table, names["id"])
    empty = np.empty(0, dtype=np.int64)
    return Predictions(
        ids, y_true, ranked[:, 0].copy(), empty, None, src.path, ranked=ranked, format="topk"
    )
