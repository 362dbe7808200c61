"""Writers of every predictions format :func:`~taxovit.predictions.read_any` reads.

Each takes one set of predictions (``ids``, true labels ``y_true``, ``class_names`` and
``scores``, ``(N, C)``) and returns the whole file as ``str`` or ``bytes``, to hand to
:meth:`taxovit._outputs.OutputPlan.write` (all or nothing). The predicted label is always
the arg-max of ``scores`` (the earlier column on ties), which is also the first candidate of
the top-k and long formats (candidates best first, ties in column order), so every format
read back gives the same ``y_pred``.

* :func:`wide_csv`, :func:`wide_parquet`: ``id,y_true,y_pred,score_<class>...``;
* :func:`topk_csv`: ``id,predicted``, the K best labels separated by spaces (a top-k
  submission; the truth goes in a separate :func:`truth_csv` ``id,expected``);
* :func:`long_csv`, :func:`long_parquet`: ``id,label,score,y_true``, every class per id in
  column order (``top_k=None``) or the K best per id, best first;
* :func:`npz_bytes`: ``scores``, ``classes``, ``ids``, ``y_true``, ``y_pred``.

CSV scores are written with 6 significant digits, Parquet and ``.npz`` scores exactly
(float64). Arguments that disagree raise ``ValueError``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from taxovit.predictions.contract import ID_COL, PRED_COL, TRUE_COL, header

__all__ = [
    "DEFAULT_MAX_CLASSES",
    "WRITE_FORMATS",
    "choose_format",
    "encode",
    "long_csv",
    "long_parquet",
    "npz_bytes",
    "ranked_columns",
    "topk_csv",
    "truth_csv",
    "wide_csv",
    "wide_parquet",
]

#: the formats ``taxovit predict --format`` writes
WRITE_FORMATS = ("csv", "topk", "long", "parquet", "npz")
#: the most classes ``taxovit predict`` writes as the wide CSV when no ``--format`` is given
#: (1,000 classes x 100k images is already about 1 GB of text)
DEFAULT_MAX_CLASSES = 1000
#: K of ``--format topk`` when ``--top-k`` is not given
DEFAULT_TOPK = 5
_FLOAT = "%.6g"


def wide_csv(
    ids: Sequence[str], y_true: Sequence[str], class_names: Sequence[str], scores: np.ndarray
) -> str:
    """The text of ``id,y_true,y_pred,score_<class>...`` (what ``taxovit evaluate`` reads).

    ``y_pred`` is the arg-max of ``scores`` (``(N, len(class_names))``); scores are written
    with 6 significant digits. Raises ``ValueError`` when the arguments disagree in length.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(ids), len(class_names)) or len(y_true) != len(ids):
        raise ValueError("ids, y_true and scores must describe the same rows")
    names = list(class_names)
    pred = scores.argmax(axis=1) if names else np.zeros(len(ids), dtype=np.int64)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header(names))
    for i in range(len(ids)):
        w.writerow([ids[i], y_true[i], names[pred[i]], *(f"{s:.6g}" for s in scores[i])])
    return buf.getvalue()


def _checked(
    ids: Sequence[str], y_true: Sequence[str] | None, class_names: Sequence[str], scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape != (len(ids), len(class_names)):
        raise ValueError(
            f"scores of shape {s.shape}; expected ({len(ids)}, {len(class_names)}): "
            "one row per id, one column per class"
        )
    if y_true is not None and len(y_true) != len(ids):
        raise ValueError(f"{len(y_true)} true labels for {len(ids)} ids; expected one per id")
    if len(class_names) == 0:
        raise ValueError("no classes; expected at least one score column")
    text = np.asarray([str(x) for x in ids], dtype=object)
    truth = None if y_true is None else np.asarray([str(x) for x in y_true], dtype=object)
    return text, truth, np.asarray([str(c) for c in class_names], dtype=object), s


def ranked_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """``(N, min(k, C))`` column indices, best score first, ties in column order (the
    order of a stable sort, without sorting every row when ``k`` is small)."""
    s = np.asarray(scores, dtype=np.float64)
    n, c = s.shape
    k = min(int(k), c)
    if k * 4 >= c:
        return np.argsort(-s, axis=1, kind="stable")[:, :k]
    kth = -np.partition(-s, k - 1, axis=1)[:, k - 1 : k]  # the K-th best score of each row
    above = s > kth
    need = k - above.sum(axis=1, keepdims=True)  # columns at the K-th score to keep
    at = s == kth
    keep = above | (at & (np.cumsum(at, axis=1) <= need))  # the earliest ones
    cols = np.nonzero(keep)[1].reshape(n, k)  # ascending within each row
    sub = np.take_along_axis(s, cols, axis=1)
    return np.take_along_axis(cols, np.argsort(-sub, axis=1, kind="stable"), axis=1)


def topk_csv(ids: Sequence[str], class_names: Sequence[str], scores: np.ndarray, k: int) -> str:
    """A top-k submission ``id,predicted``: the ``k`` best labels of each id, best first."""
    text, _, names, s = _checked(ids, None, class_names, scores)
    if k < 1:
        raise ValueError(f"k = {k}; expected an integer >= 1")
    spaced = [c for c in names if c == "" or any(ch.isspace() for ch in c)]
    if spaced:
        raise ValueError(
            f"class {spaced[0]!r} is empty or contains a space, which a top-k "
            "submission cannot hold (labels are separated by spaces); write "
            "the long format instead"
        )
    cols = ranked_columns(s, k)
    joined = names[cols[:, 0]]
    for j in range(1, cols.shape[1]):
        joined = joined + " " + names[cols[:, j]]
    return _csv_text({ID_COL: text, "predicted": joined})


def truth_csv(ids: Sequence[str], y_true: Sequence[str]) -> str:
    """The true labels of a top-k submission, ``id,expected`` (``taxovit evaluate --truth``)."""
    if len(y_true) != len(ids):
        raise ValueError(f"{len(y_true)} true labels for {len(ids)} ids; expected one per id")
    return _csv_text(
        {
            ID_COL: np.asarray(ids, dtype=object).astype(str),
            "expected": np.asarray(y_true, dtype=object).astype(str),
        }
    )


def _long_columns(
    ids: Sequence[str],
    y_true: Sequence[str],
    class_names: Sequence[str],
    scores: np.ndarray,
    top_k: int | None,
) -> dict[str, np.ndarray]:
    text, truth, names, s = _checked(ids, y_true, class_names, scores)
    assert truth is not None
    n, c = s.shape
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k = {top_k}; expected an integer >= 1 (or None: every class)")
    if top_k is None or top_k >= c:  # every class, in column order: the columns of the file
        cols = np.broadcast_to(np.arange(c), (n, c))
    else:
        cols = ranked_columns(s, top_k)
    rows = np.repeat(np.arange(n), cols.shape[1])
    flat = cols.ravel()
    return {ID_COL: text[rows], "label": names[flat], "score": s[rows, flat], TRUE_COL: truth[rows]}


def long_csv(
    ids: Sequence[str],
    y_true: Sequence[str],
    class_names: Sequence[str],
    scores: np.ndarray,
    top_k: int | None = None,
) -> str:
    """The long format ``id,label,score,y_true`` as CSV (see the module docstring)."""
    return _csv_text(_long_columns(ids, y_true, class_names, scores, top_k))


def long_parquet(
    ids: Sequence[str],
    y_true: Sequence[str],
    class_names: Sequence[str],
    scores: np.ndarray,
    top_k: int | None = None,
) -> bytes:
    """The long format as Parquet (labels dictionary-encoded). Needs pyarrow."""
    return _parquet_bytes(
        _long_columns(ids, y_true, class_names, scores, top_k), dictionary=("label", TRUE_COL)
    )


def wide_parquet(
    ids: Sequence[str], y_true: Sequence[str], class_names: Sequence[str], scores: np.ndarray
) -> bytes:
    """The wide layout as Parquet (the columns of :func:`wide_csv`). Needs pyarrow."""
    text, truth, names, s = _checked(ids, y_true, class_names, scores)
    cols: dict[str, np.ndarray] = {ID_COL: text, TRUE_COL: truth, PRED_COL: names[s.argmax(axis=1)]}  # type: ignore[dict-item]
    for j, name in enumerate(header(list(names))[3:]):
        cols[name] = s[:, j]
    if len(cols) != 3 + len(names):
        raise ValueError("a class is listed twice; expected one score column per class")
    return _parquet_bytes(cols, dictionary=(TRUE_COL, PRED_COL))


def npz_bytes(
    ids: Sequence[str], y_true: Sequence[str], class_names: Sequence[str], scores: np.ndarray
) -> bytes:
    """An ``.npz`` archive: ``scores`` (float64), ``classes``, ``ids``, ``y_true``, ``y_pred``
    as unicode arrays (no pickle needed to read them)."""
    text, truth, names, s = _checked(ids, y_true, class_names, scores)
    buf = io.BytesIO()
    np.savez(
        buf,
        scores=s,
        classes=names.astype(str),
        ids=text.astype(str),
        y_true=truth.astype(str),
        y_pred=names[s.argmax(axis=1)].astype(str),
    )  # type: ignore[union-attr]
    return buf.getvalue()


def _csv_text(cols: dict[str, np.ndarray]) -> str:
    import pandas as pd

    return pd.DataFrame(cols).to_csv(index=False, float_format=_FLOAT, lineterminator="\r\n")


def _pyarrow() -> tuple:
    from taxovit.errors import ArgumentError
    from taxovit.predictions.parquet_reader import INSTALL_HINT

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ArgumentError(
            f"writing Parquet needs pyarrow, which is not installed; install it with {INSTALL_HINT}"
        ) from None
    return pa, pq


def _parquet_bytes(cols: dict[str, np.ndarray], dictionary: tuple[str, ...] = ()) -> bytes:
    pa, pq = _pyarrow()
    arrays = {}
    for name, values in cols.items():
        arr = pa.array(values, type=pa.string() if values.dtype == object else None)
        arrays[name] = arr.dictionary_encode() if name in dictionary else arr
    buf = io.BytesIO()
    pq.write_table(pa.table(arrays), buf)
    return buf.getvalue()


def _parquet_name(out: object) -> bool:
    return str(out).lower().endswith((".parquet", ".pq"))


def choose_format(
    fmt: str | None, class_names: Sequence[str], top_k: int | None, out: object = None
) -> tuple[str, int | None]:
    """Check ``taxovit predict``'s ``--format`` and ``--top-k`` before anything is computed;
    returns (format, K) with the defaults applied. Raises ``ArgumentError``.

    No format: the wide CSV up to :data:`DEFAULT_MAX_CLASSES` classes, else refused (a dense
    CSV of 10k classes is tens of GB). ``topk`` keeps :data:`DEFAULT_TOPK` labels unless
    ``top_k`` says otherwise; ``long`` keeps every class unless ``top_k`` is given; the
    other formats refuse ``top_k``."""
    from taxovit.errors import ArgumentError

    c = len(class_names)
    if fmt is None:
        if c > DEFAULT_MAX_CLASSES:
            raise ArgumentError(
                f"{c:,} classes: a wide CSV would hold a score per class and "
                f"image (the default only up to {DEFAULT_MAX_CLASSES:,} classes); "
                "choose --format long --top-k K (the K best per image), "
                "--format npz, or --format csv to write it anyway"
            )
        fmt = "csv"
    if fmt not in WRITE_FORMATS:
        raise ArgumentError(f"--format {fmt!r}: expected one of {', '.join(WRITE_FORMATS)}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ArgumentError(f"--top-k {top_k}: expected an integer >= 1")
    if top_k is not None and fmt not in ("topk", "long"):
        raise ArgumentError(f"--top-k applies to --format topk and long, not {fmt}")
    if fmt == "parquet" or (fmt == "long" and _parquet_name(out)):
        _pyarrow()
    if fmt == "topk":
        bad = [x for x in class_names if x == "" or any(ch.isspace() for ch in x)]
        if bad:
            raise ArgumentError(
                f"--format topk: class {bad[0]!r} contains a space, which a "
                "top-k submission cannot hold (labels are separated by "
                "spaces); choose --format long --top-k K"
            )
    if top_k is not None and top_k > c:
        raise ArgumentError(
            f"--top-k {top_k}: the model has {c:,} classes, so a row can list "
            f"at most {c:,}; expected --top-k {c:,} or less"
        )
    if fmt == "topk":
        return fmt, min(top_k or DEFAULT_TOPK, c)  # the default 5, fewer with fewer classes
    return fmt, top_k


def encode(
    fmt: str,
    ids: Sequence[str],
    y_true: Sequence[str],
    class_names: Sequence[str],
    scores: np.ndarray,
    top_k: int | None = None,
    out: object = None,
) -> str | bytes:
    """The file of format ``fmt`` (:data:`WRITE_FORMATS`; checked by :func:`choose_format`).
    ``long`` is CSV unless ``out`` is named ``.parquet`` or ``.pq``."""
    if fmt == "csv":
        return wide_csv(ids, y_true, class_names, scores)
    if fmt == "topk":
        return topk_csv(ids, class_names, scores, top_k or DEFAULT_TOPK)
    if fmt == "long":
        write = long_parquet if _parquet_name(out) else long_csv
        return write(ids, y_true, class_names, scores, top_k)
    if fmt == "parquet":
        return wide_parquet(ids, y_true, class_names, scores)
    if fmt == "npz":
        return npz_bytes(ids, y_true, class_names, scores)
    raise ValueError(f"format {fmt!r}: expected one of {', '.join(WRITE_FORMATS)}")
