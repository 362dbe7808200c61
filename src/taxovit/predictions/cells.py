"""Checks of the cells of a predictions table, whatever file it came from (CSV, Parquet).

Each check notes the first bad cell of its kind in a :class:`Problems`; the reader then
reports the earliest of them in reading order (row by row, left to right), located by the
file's own reader (a CSV line, a Parquet row). Labels are looked up through ``pd.factorize``
so only distinct values are looked up; everything else is a vectorised numpy operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from taxovit.predictions.csv_layout import shorten

__all__ = [
    "LabelMap",
    "Problem",
    "Problems",
    "check_ids",
    "check_label_codes",
    "check_labels",
    "first",
    "first_appearance",
    "map_labels",
    "valid_score",
]


class LabelMap(dict):
    """Label text -> node id, saying what a label is (for messages).

    A plain mapping means taxonomy node names; ``--label-attr`` builds a :class:`LabelMap`
    of attribute values (see :func:`taxovit.predictions.labels.attribute_labels`).
    """

    def __init__(self, items: Mapping[str, int], what: str, expected: str) -> None:
        super().__init__(items)
        self.what = what  # "a taxonomy node"
        self.expected = expected  # "a node name"


def label_words(name_to_id: Mapping[str, int]) -> tuple[str, str, str]:
    """(what a label must be, the expected value, what an empty cell should hold)."""
    if isinstance(name_to_id, LabelMap):
        return name_to_id.what, name_to_id.expected, name_to_id.expected
    return "a taxonomy node", "a node name", "a taxonomy node name"


def first(mask: np.ndarray) -> int:
    """Index of the first True, -1 if none."""
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else -1


def first_appearance(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` renumbered so that codes count up in order of first appearance
    (as ``pd.factorize`` numbers them); unused uniques dropped. Already so: no copy."""
    if codes.size == 0 or (
        codes[0] == 0
        and (np.diff(np.maximum.accumulate(codes)) <= 1).all()
        and codes.max() == uniques.size - 1
    ):
        return codes, uniques
    import pandas as pd

    new, old = pd.factorize(codes)
    return new, uniques[old]


@dataclass(frozen=True, order=True)
class Problem:
    """One bad cell: data row (0-based), column position, column name, message; ``ref`` is
    an earlier data row the message refers to ("first seen on line ...")."""

    row: int
    position: int
    column: str
    message: str
    ref: int | None = None


class Problems:
    """The first bad cell of each kind; the earliest in reading order is reported."""

    def __init__(self, header: list[str]) -> None:
        self.col_pos = {name: i for i, name in enumerate(header)}
        self.items: list[Problem] = []

    def note(self, row: int, column: str, message: str, ref: int | None = None) -> None:
        if row >= 0:
            self.items.append(Problem(row, self.col_pos.get(column, 0), column, message, ref))

    def earliest(self) -> Problem:
        return min(self.items)


def map_labels(values: np.ndarray, name_to_id: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(node ids with -1 for unknown, mask of empty cells), looking up distinct values only."""
    import pandas as pd

    return map_codes(*pd.factorize(values), name_to_id)


def label_lut(uniques: np.ndarray, name_to_id: Mapping[str, int]) -> np.ndarray:
    """The node id of each distinct value, -1 for an empty or unknown one."""
    return np.fromiter(
        (name_to_id.get(u, -1) if u != "" else -1 for u in uniques),
        dtype=np.int64,
        count=len(uniques),
    )


def map_codes(
    codes: np.ndarray, uniques: np.ndarray, name_to_id: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`map_labels` of cells given as ``uniques[codes]`` (codes >= 0)."""
    lut = label_lut(uniques, name_to_id)
    empty_code = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
    ids = lut[codes]
    empty = codes == empty_code[0] if empty_code.size else np.zeros(len(codes), dtype=bool)
    return ids, empty


def check_ids(ids: np.ndarray, column: str, problems: Problems) -> np.ndarray:
    """Empty and duplicate ids; returns the ids."""
    import pandas as pd

    id_empty = ids == ""
    problems.note(first(id_empty), column, "empty id; expected a non-empty identifier")
    codes, uniq = pd.factorize(ids)
    if len(uniq) != len(ids):
        r = first(pd.Series(codes).duplicated().to_numpy() & ~id_empty)
        if r >= 0:
            ref = int(np.flatnonzero(codes == codes[r])[0])
            problems.note(r, column, f"duplicate id {shorten(ids[r])}; expected each id once", ref)
    return ids


def check_labels(
    values: np.ndarray, column: str, name_to_id: Mapping[str, int], problems: Problems
) -> np.ndarray:
    """Empty cells and labels that name no node; returns the node ids (-1 where bad)."""
    import pandas as pd

    return check_label_codes(*pd.factorize(values), column, name_to_id, problems)


def check_label_codes(
    codes: np.ndarray,
    uniques: np.ndarray,
    column: str,
    name_to_id: Mapping[str, int],
    problems: Problems,
) -> np.ndarray:
    """:func:`check_labels` of cells given as ``uniques[codes]`` (a table's ``factorized``)."""
    lut = label_lut(uniques, name_to_id)
    if (lut >= 0).all():  # every value names a node (an empty one names none): no problem
        return lut[codes]
    node_ids, empty = map_codes(codes, uniques, name_to_id)
    what, expected, filled = label_words(name_to_id)
    problems.note(first(empty), column, f"empty cell; expected {filled}")
    r = first((node_ids < 0) & ~empty)
    if r >= 0:
        problems.note(r, column, f"{shorten(uniques[codes[r]])} is not {what}; expected {expected}")
    return node_ids


def valid_score(s: str) -> float | None:
    """Python's reading of a score cell pandas rejected; None when it is not acceptable."""
    if not s.isascii() or "_" in s:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if np.isfinite(v) else None
