"""Arrays in a ``.npz`` archive (``numpy.savez``): ``scores`` (N x C numbers), ``classes``
(C labels), ``ids`` (N), ``y_true`` (N labels) and optionally ``y_pred`` (N labels; default
the arg-max of ``scores``, the earlier column on ties).

Labels and ids are string or integer arrays (compared as their decimal text); object
arrays are refused (they would need pickle). The archive is read lazily, one array at a time
(an ``.npz`` member cannot be memory-mapped). Problems name the array as the column and the
0-based index along its first axis (``index i``), or the array's shape or dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from taxovit._npy import ZIP_ERRORS, NpyError, read_member
from taxovit.predictions.cells import Problems, check_ids, check_labels, first
from taxovit.predictions.contract import Predictions
from taxovit.predictions.csv_layout import FileContext, shorten
from taxovit.predictions.sources import Source

__all__ = ["ARRAYS", "read_npz"]

ARRAYS = ("ids", "y_true", "y_pred", "scores", "classes")
REQUIRED = ("ids", "y_true", "scores", "classes")
_TEXT = "a string or integer array"


def _load(ctx: FileContext, archive: Any, key: str) -> np.ndarray:
    """The array ``key``, its header checked against the member's size first."""
    try:
        return read_member(archive.zip, key)
    except NpyError as exc:
        raise ctx.error(str(exc), column=key) from None


def _shape(
    ctx: FileContext, arr: np.ndarray, key: str, shape: tuple, kinds: str, what: str
) -> None:
    """``shape`` with -1 for any length; ``kinds``: the allowed dtype kinds."""
    if arr.ndim != len(shape) or any(
        s not in (-1, a) for s, a in zip(shape, arr.shape, strict=True)
    ):
        want = " x ".join("any" if s == -1 else str(s) for s in shape)
        raise ctx.error(f"array of shape {arr.shape}; expected shape ({want})", column=key)
    if arr.dtype.kind not in kinds:
        raise ctx.error(f"array of dtype {arr.dtype}; expected {what}", column=key)


def _text(arr: np.ndarray) -> np.ndarray:
    return arr.astype(str).astype(object)


def _arrays(ctx: FileContext, archive: Any) -> dict[str, np.ndarray]:
    files = list(archive.files)
    for key in files:
        if key not in ARRAYS:
            raise ctx.error(
                f"unexpected array {shorten(key)}; expected the arrays {', '.join(ARRAYS)}",
                column=key,
            )
    for key in REQUIRED:
        if key not in files:
            raise ctx.error(
                f"missing array; found {shorten(files)}, expected "
                f"{', '.join(REQUIRED)} (and optionally y_pred)",
                column=key,
            )
    scores = _load(ctx, archive, "scores")
    _shape(ctx, scores, "scores", (-1, -1), "fiu", "a float (or integer) array")
    n, c = scores.shape
    if n == 0 or c == 0:
        raise ctx.error(
            f"array of shape {scores.shape}; expected at least one sample (row) "
            "and one class (column)",
            column="scores",
        )
    out = {"scores": scores}
    for key, length in (("classes", c), ("ids", n), ("y_true", n), ("y_pred", n)):
        if key in files:
            out[key] = _load(ctx, archive, key)
            _shape(ctx, out[key], key, (length,), "Uiu", _TEXT)
    return out


def _check(ctx: FileContext, a: dict[str, np.ndarray], name_to_id: Mapping[str, int]) -> tuple:
    problems = Problems(list(ARRAYS))
    ids = check_ids(_text(a["ids"]), "ids", problems)
    y_true = check_labels(_text(a["y_true"]), "y_true", name_to_id, problems)
    y_pred = (
        check_labels(_text(a["y_pred"]), "y_pred", name_to_id, problems) if "y_pred" in a else None
    )
    classes = check_labels(_text(a["classes"]), "classes", name_to_id, problems)
    scores = np.asarray(a["scores"], dtype=np.float64)
    bad = ~np.isfinite(scores)
    r = first(bad.any(axis=1))
    if r >= 0:
        j = first(bad[r])
        problems.note(
            r,
            "scores",
            f"score {shorten(float(scores[r, j]))} (class "
            f"{shorten(_text(a['classes'])[j])}) is not finite; expected a finite number",
        )
    _, first_of = np.unique(classes, return_index=True)
    if first_of.size != classes.size and (classes >= 0).all():
        j = first(~np.isin(np.arange(classes.size), first_of))
        problems.note(
            j,
            "classes",
            f"class {shorten(_text(a['classes'])[j])} is listed twice; "
            "expected one score column per class",
        )
    if problems.items:
        p = problems.earliest()
        suffix = "" if p.ref is None else f" (first seen at index {p.ref})"
        raise ctx.error(p.message + suffix, row=p.row, column=p.column)
    return ids, y_true, y_pred, classes, scores


def read_npz(src: Source, name_to_id: Mapping[str, int]) -> Predictions:
    """An ``.npz`` archive of arrays (see the module docstring)."""
    ctx = src.context()
    try:
        archive = np.load(src.binary(), allow_pickle=False)
    except (ValueError, *ZIP_ERRORS) as exc:
        raise ctx.error(
            f"not a readable .npz archive ({shorten(str(exc))}); expected arrays "
            "saved with numpy.savez"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ctx.error("holds one array, not an .npz archive; expected numpy.savez output")
    with archive:
        arrays = _arrays(ctx, archive)
        ids, y_true, y_pred, classes, scores = _check(ctx, arrays, name_to_id)
    if y_pred is None:
        y_pred = classes[np.argmax(scores, axis=1)]
    return Predictions(ids, y_true, y_pred, classes, scores, src.path, format="npz")
