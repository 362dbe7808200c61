"""``read_any``: one entry point for every predictions file format, detected from the file.

Detection: the first bytes decide the container (``PAR1``: Parquet; a zip archive: ``.npz``;
a ``.parquet``/``.pq``/``.npz`` name whose bytes disagree is an error); anything else is
CSV. Within CSV or Parquet the header decides the layout:

* a ``y_pred`` column (``pred_col``): the **wide** layout (``id,y_true,y_pred,score_<label>``);
* else a ``predicted`` column (any case): a **top-k submission** (``id,predicted``);
* else a ``label`` column (any case): the **long** layout (``id,label,score[,y_true]``);
* else the wide layout, whose reader names the missing column.

Files without true labels (top-k, long without ``y_true``) need ``truth``; files with their
own true labels refuse it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from taxovit.errors import ArgumentError, InputError, TaxovitError
from taxovit.predictions.contract import ID_COL, PRED_COL, SCORE_PREFIX, TRUE_COL, Predictions
from taxovit.predictions.csv_layout import Columns
from taxovit.predictions.sources import PARQUET_MAGIC, Source, header_of, open_source

if TYPE_CHECKING:
    from taxovit.predictions.long_parquet import Reading
    from taxovit.predictions.truth import Truth

__all__ = ["Prefetched", "detect_format", "prefetch", "read_any"]

T = TypeVar("T")


def detect_format(src: Source, pred_col: str = PRED_COL) -> str:
    """One of ``csv``, ``parquet``, ``topk``, ``long-csv``, ``long-parquet``, ``npz``."""
    if src.kind == "npz":
        return "npz"
    header, _ = header_of(src)
    lower = {name.lower() for name in header}
    if pred_col not in header and "predicted" in lower:
        return "topk"
    if pred_col not in header and "label" in lower:
        return f"long-{src.kind}"
    return src.kind


def _truth_for(fmt: str, src: Source, truth: object) -> None:
    if truth is None and fmt == "topk":
        raise ArgumentError(
            f"{src.shown} is a top-k submission (id,predicted) without true "
            "labels; give them with --truth FILE (id,expected)"
        )
    if truth is not None and fmt in ("csv", "parquet", "npz"):
        raise ArgumentError(
            f"--truth: {src.shown} ({fmt}) has its own true labels; --truth is "
            "for top-k submissions and long files without y_true"
        )
    if truth is not None and src.path == "-" and os.fspath(truth) == "-":  # type: ignore[arg-type]
        raise ArgumentError("--truth -: standard input already holds the predictions")


@dataclass(frozen=True)
class Prefetched:
    """A predictions file whose reads :func:`prefetch` started."""

    path: str
    pred_col: str
    src: Source
    fmt: str
    reading: Reading


def prefetch(path: str | os.PathLike[str], pred_col: str = PRED_COL) -> Prefetched | None:
    """Start reading ``path`` in the background when that pays; give the result to
    :func:`read_any` as ``prefetched``.

    Only a long Parquet file pays: Arrow's reads release the GIL, so the caller's work
    (e.g. loading the taxonomy) goes on beside them. Never raises: a file it cannot start
    on (missing, unreadable, another format, standard input) gives ``None``, and
    :func:`read_any` then reports its problems in their usual order.

    Parameters
    ----------
    path : str or os.PathLike
        The predictions file (``"-"``: standard input, never prefetched).
    pred_col : str, default "y_pred"
        As :func:`read_any`'s (a file with this column is wide, not long).

    Returns
    -------
    Prefetched or None
        The reads under way, or ``None`` when nothing was started.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from taxovit import Taxonomy
    >>> from taxovit.predictions import prefetch, read_any
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")])
    >>> long = pd.DataFrame({"id": ["a", "a", "b", "b"],
    ...                      "label": ["Corvus", "Pica", "Pica", "Corvus"],
    ...                      "score": [0.8, 0.2, 0.7, 0.3], "y_true": ["Corvus"] * 4})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "long.parquet")
    ...     long.to_parquet(path)
    ...     started = prefetch(path)
    ...     # ... load the taxonomy, check the options ...
    ...     pred = read_any(path, tax.name_to_id, prefetched=started)
    ...     nothing = prefetch(os.path.join(d, "missing.parquet"))
    >>> started.fmt, pred.format, tax.names(pred.y_pred), nothing
    ('long-parquet', 'long-parquet', ['Corvus', 'Pica'], None)
    """
    spath = os.fspath(path)
    if spath == "-":
        return None  # standard input: read once, by read_any
    try:
        with open(spath, "rb") as fh:  # nor a CSV read twice
            if fh.read(4) != PARQUET_MAGIC:
                return None
    except OSError:
        return None
    try:
        src = open_source(spath)
        fmt = detect_format(src, pred_col)
        if fmt != "long-parquet":
            return None
        from taxovit.predictions.long_reader import start_long

        reading = start_long(src)
    except TaxovitError:
        return None
    return None if reading is None else Prefetched(spath, pred_col, src, fmt, reading)


def read_any(
    path: str | os.PathLike[str],
    name_to_id: Mapping[str, int],
    *,
    truth: str | os.PathLike[str] | None = None,
    id_col: str = ID_COL,
    true_col: str = TRUE_COL,
    pred_col: str = PRED_COL,
    score_prefix: str = SCORE_PREFIX,
    prefetched: Prefetched | None = None,
    truth_optional: bool = False,
) -> Predictions:
    """Read a predictions file in any supported format, detected from the file.

    The container comes from the first bytes (Parquet, ``.npz`` zip, else CSV), the layout
    from the header: wide (a ``y_pred`` column), top-k submission (``predicted``), long
    (``label``); the formats are described on the Evaluating page ("The predictions
    file"). Every problem is reported, nothing is skipped or repaired.

    Parameters
    ----------
    path : str or os.PathLike
        The predictions file; ``"-"`` reads standard input.
    name_to_id : Mapping of str to int
        Label text -> node id: ``taxonomy.name_to_id``, or
        :func:`~taxovit.predictions.label_map` for labels that are a node attribute.
    truth : str or os.PathLike, optional
        A truth file (``id,expected``), for a top-k submission or a long file without
        ``y_true``; refused for a file with its own true labels.
    id_col : str, default "id"
        The wide layout's sample id column.
    true_col : str, default "y_true"
        The wide layout's true label column.
    pred_col : str, default "y_pred"
        The wide layout's predicted label column.
    score_prefix : str, default "score_"
        The prefix of the score columns' names (``score_<label>``).
    prefetched : Prefetched, optional
        The same file's reads, started by :func:`prefetch` (ignored for another path).
    truth_optional : bool, default False
        ``taxovit compare`` of a file with true labels and one without: a file with its own
        true labels is read with them, and ``truth`` must hold the same ids with the same
        labels instead of being refused.

    Returns
    -------
    Predictions
        The validated file; ``format`` names the format detected.

    Raises
    ------
    InputError
        Naming the file, the line (or row or index) and the column of the first problem:
        no such file, a label that is not in ``name_to_id``, a duplicate id, a score that
        is not finite, a corrupt Parquet page...
    ArgumentError
        When ``truth`` is missing (top-k submission) or unwanted (a file with its own true
        labels), or disagrees with the file (``truth_optional``).

    Examples
    --------
    >>> import os, tempfile
    >>> from taxovit import Taxonomy
    >>> from taxovit.predictions import read_any
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path, truth = os.path.join(d, "top2.csv"), os.path.join(d, "truth.csv")
    ...     with open(path, "w") as f:
    ...         print("id,predicted", "a,Corvus Pica", "b,Pica Corvus", sep="\\n", file=f)
    ...     with open(truth, "w") as f:
    ...         print("id,expected", "a,Corvus", "b,Corvus", sep="\\n", file=f)
    ...     pred = read_any(path, tax.name_to_id, truth=truth)
    >>> pred.format, tax.names(pred.y_true), pred.ranked
    ('topk', ['Corvus', 'Corvus'], array([[1, 2],
           [2, 1]]))
    """
    cols = Columns(id_col, true_col, pred_col, score_prefix)
    reading = None
    if prefetched is not None and (prefetched.path, prefetched.pred_col) == (
        os.fspath(path),
        cols.pred,
    ):
        src, fmt, reading = prefetched.src, prefetched.fmt, prefetched.reading
    else:
        src = open_source(path, f"{cols.id},{cols.true},{cols.pred}")
        fmt = detect_format(src, cols.pred)
    if truth is not None and truth_optional and _has_own_truth(src, fmt):
        from taxovit.predictions.truth import read_truth

        pred = _guarded(src.shown, _read, src, fmt, name_to_id, None, cols, reading)
        _check_agrees(pred, _guarded(os.fspath(truth), read_truth, truth, name_to_id))
        return pred
    _truth_for(fmt, src, truth)
    t = None
    if truth is not None:
        from taxovit.predictions.truth import read_truth

        t = _guarded(os.fspath(truth), read_truth, truth, name_to_id)
    return _guarded(src.shown, _read, src, fmt, name_to_id, t, cols, reading)


def _guarded(shown: str, read: Callable[..., T], *args: Any) -> T:
    """``read(*args)``; Arrow's errors on corrupt data, which it decodes lazily (dictionary
    indices out of range, text that is not UTF-8), become one message naming the file."""
    import sys

    pa = sys.modules.get("pyarrow")
    errors = (UnicodeDecodeError,) + ((pa.ArrowException,) if pa is not None else ())
    try:
        return read(*args)
    except TaxovitError:
        raise
    except (*errors, IndexError) as exc:
        if isinstance(exc, IndexError) and not _corrupt_parquet(shown, args):
            raise  # not the file's fault: a bug to report
        raise InputError(
            f"cannot read the data ({type(exc).__name__}); the file is corrupt "
            "(Parquet pages that do not decode)",
            file=shown,
        ) from None


def _corrupt_parquet(shown: str, args: tuple) -> bool:
    """Whether the Parquet file read by ``args`` (a Source, or a path) fails Arrow's full
    validation (dictionary indices in range, UTF-8 text): only checked after an IndexError,
    so good files pay nothing."""
    src = next((a for a in args if isinstance(a, Source)), None)
    try:
        from taxovit.predictions.parquet_reader import read_columns

        src = src or open_source(shown)
        read_columns(src, None).validate(full=True)  # as the readers read it: text as dictionaries
    except Exception:  # noqa: BLE001  (any failure: the data is corrupt)
        return True
    return False


def _has_own_truth(src: Source, fmt: str) -> bool:
    if fmt == "topk":
        return False
    if fmt.startswith("long-"):
        from taxovit.predictions.long_reader import long_columns

        return "y_true" in long_columns(src, *header_of(src))
    return True


def _check_agrees(pred: Predictions, t: Truth) -> None:
    """The truth file holds exactly ``pred``'s ids, each with ``pred``'s true label."""
    import numpy as np
    import pandas as pd

    from taxovit.predictions.tables import fail_at

    pos = pd.Index(t.ids).get_indexer(pred.ids)
    if (pos < 0).any() or len(t.ids) != len(pred.ids):
        missing = [s for s, p in zip(pred.ids.tolist(), pos.tolist(), strict=True) if p < 0]
        raise ArgumentError(
            f"--truth {t.path}: it does not hold the same ids as {pred.path}"
            + (f" (e.g. {missing[0]!r} is missing)" if missing else "")
        )
    differ = np.flatnonzero(t.y_true[pos] != pred.y_true)
    if differ.size:
        i = int(differ[0])
        fail_at(
            t.table,
            int(pos[i]),
            t.id_col,
            f"id {pred.ids[i]!r}: its true label differs "
            f"from the y_true in {pred.path}; expected the same ground truth",
        )


def _read(
    src: Source,
    fmt: str,
    name_to_id: Mapping[str, int],
    t: Truth | None,
    cols: Columns,
    reading: Reading | None,
) -> Predictions:
    if fmt == "csv":
        from taxovit.predictions.csv_reader import read_wide_csv

        assert src.data is not None
        return read_wide_csv(src.context(), src.path, src.data, name_to_id, cols)
    if fmt == "parquet":
        from taxovit.predictions.parquet_reader import read_wide_parquet

        return read_wide_parquet(src, name_to_id, cols)
    if fmt == "npz":
        from taxovit.predictions.npz_reader import read_npz

        return read_npz(src, name_to_id)
    if fmt == "topk":
        from taxovit.predictions.topk_reader import read_topk

        assert t is not None
        return read_topk(src, name_to_id, t)
    from taxovit.predictions.long_reader import read_long

    return read_long(src, name_to_id, t, reading)
