"""What every metric shares: input checks, zero-safe division, sample weights, dense codes.

Every 0/0 in taxovit is 0 (scikit-learn's ``zero_division=0``): :func:`safe_divide`.
Every metric is a (weighted) statistic of per-sample quantities: :class:`SampleWeights`
holds the weights (``None`` = 1 each for a point estimate, draw counts for a bootstrap
resample) so that the same code serves both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.errors import ArgumentError, UnknownLabelError

__all__ = [
    "SampleWeights",
    "check_labels",
    "check_pair",
    "check_scores",
    "check_true_col",
    "dense_codes",
    "label_ids",
    "node_ids",
    "safe_divide",
]


# ----------------------------------------------------------------------------- input checks


def check_labels(y: ArrayLike, name: str) -> NDArray[np.int64]:
    """``y`` as a 1-D int64 array; ``ValueError`` naming ``name`` otherwise."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def check_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Two label arrays of the same, non-zero length."""
    t = check_labels(y_true, "y_true")
    p = check_labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} != {p.shape[0]}")
    if t.size == 0:
        raise ValueError("no samples")
    return t, p


def check_scores(scores: ArrayLike, n_rows: int | None = None) -> NDArray[np.float64]:
    """A finite float64 score matrix ``(n_samples, n_columns)`` (``n_rows`` rows if given).

    Parameters
    ----------
    scores : array-like of shape (n_samples, n_columns)
        Scores (probabilities, logits, ...), one column per class.
    n_rows : int, optional
        Required number of rows (samples); not checked when ``None``.

    Returns
    -------
    ndarray of float64, shape (n_samples, n_columns)
        ``scores`` as float64 (no copy when it already is).

    Raises
    ------
    ValueError
        If ``scores`` is not 2-D, has other than ``n_rows`` rows, or holds NaN or infinity.

    References
    ----------
    Follows scikit-learn: like ``sklearn.utils.check_array``, NaN and infinities are
    rejected.

    Examples
    --------
    >>> from taxovit.metrics import check_scores
    >>> check_scores([[0.2, 0.8], [1, 0]])
    array([[0.2, 0.8],
           [1. , 0. ]])
    >>> check_scores([0.2, 0.8])
    Traceback (most recent call last):
    ...
    ValueError: scores must be 2-D (n_samples, n_columns), got shape (2,)
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_samples, n_columns), got shape {s.shape}")
    if n_rows is not None and s.shape[0] != n_rows:
        raise ValueError(f"scores must have shape (n_samples={n_rows}, n_classes), got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (no NaN or infinity)")
    return s


def check_true_col(true_col: ArrayLike, n: int, c: int) -> NDArray[np.int64]:
    """Column of each sample's true class in an ``(n, c)`` score matrix, ``-1`` for none."""
    t = check_labels(true_col, "true_col")
    if t.shape[0] != n:
        raise ValueError(f"true_col has {t.shape[0]} entries but scores has {n} rows")
    if n == 0:
        raise ValueError("no samples")
    if t.size and (t.min() < -1 or t.max() >= c):
        raise ValueError(f"true_col entries must lie in [-1, {c - 1}]")
    return t


def node_ids(taxonomy: Any, labels: ArrayLike, name: str) -> NDArray[np.int64]:
    """Node ids of ``labels`` (names or ids); unknown labels raise UnknownLabelError.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy the labels belong to.
    labels : array-like of shape (n_samples,)
        Node names (any hashable, e.g. str) or integer node ids in ``[0, len(taxonomy))``.
    name : str
        The argument's name, used in error messages (e.g. ``"y_true"``).

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        The node id of each label.

    Raises
    ------
    ArgumentError
        If ``labels`` is not 1-D, an integer id lies outside the taxonomy, or a label is
        missing (``None`` or NaN).
    UnknownLabelError
        If a name is not a node of the taxonomy.

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> from taxovit.metrics import node_ids
    >>> tax = Taxonomy.from_edges(
    ...     [("animal", "cat"), ("animal", "dog")], ranks={"cat": "species", "dog": "species"}
    ... )
    >>> node_ids(tax, ["dog", "cat", "dog"], "y_true")
    array([2, 1, 2])
    >>> node_ids(tax, ["cow"], "y_true")
    Traceback (most recent call last):
    ...
    taxovit.errors.UnknownLabelError: y_true: 'cow' is not a node of the taxonomy
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ArgumentError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() >= len(taxonomy)):
            raise ArgumentError(f"{name}: node ids must lie in [0, {len(taxonomy)})")
        return arr.astype(np.int64, copy=False)
    import pandas as pd

    lookup = taxonomy.name_to_id
    codes, uniques = pd.factorize(arr)
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        raise ArgumentError(f"{name}[{missing[0]}] is missing (None or NaN); expected a label")
    lut = np.fromiter((lookup.get(u, -1) for u in uniques), np.int64, len(uniques))
    bad = np.flatnonzero(lut < 0)
    if bad.size:
        label = uniques[bad[0]]
        shown = repr(str(label)) if isinstance(label, str) else repr(label)
        raise UnknownLabelError(f"{name}: {shown} is not a node of the taxonomy")
    return lut[codes]


# ----------------------------------------------------------------------------- arithmetic


def label_ids(taxonomy: Any, y: ArrayLike, name: str = "labels") -> NDArray[np.int64]:
    """:func:`node_ids` of ``y`` flattened (a column vector or a list alike)."""
    return node_ids(taxonomy, np.asarray(y).ravel(), name)


def safe_divide(num: ArrayLike, den: ArrayLike) -> NDArray[np.float64]:
    """``num / den`` elementwise with 0 where ``den == 0`` (every 0/0 is 0).

    Parameters
    ----------
    num, den : array-like
        Numerator and denominator; broadcast against each other.

    Returns
    -------
    ndarray of float64
        ``num / den`` where ``den != 0``, else 0 (a 0-d array for scalar inputs).

    References
    ----------
    Follows scikit-learn's ``zero_division=0`` convention for ill-defined precision,
    recall and F1.

    Examples
    --------
    >>> from taxovit.metrics import safe_divide
    >>> safe_divide([1, 2, 0], [2, 0, 0])
    array([0.5, 0. , 0. ])
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def dense_codes(ids: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """Codes 0..k-1 of the distinct values of ``ids`` (in increasing order), all in [0, n).

    Equals ``np.unique(ids, return_inverse=True)[1]`` in O(len(ids) + n) without sorting:
    labels are node ids, so a bincount over the id range replaces the sort.

    Parameters
    ----------
    ids : ndarray of int64, shape (n_samples,)
        Non-negative integers (node ids), all below ``n``.
    n : int
        Size of the id range (e.g. ``len(taxonomy)``).

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        The rank of each id among the distinct ids (0 for the smallest).

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit.metrics import dense_codes
    >>> dense_codes(np.array([7, 3, 7, 5]), 8)
    array([2, 0, 2, 1])
    """
    present = np.bincount(ids, minlength=n) > 0
    code = np.cumsum(present) - 1
    return code[ids]


class SampleWeights:
    """Per-sample weights for the weighted statistics behind every metric.

    ``None`` means weight 1 each (the point estimate): sums then stay integer reductions
    instead of float dot products. A bootstrap resample passes its draw counts.

    Parameters
    ----------
    w : ndarray of float64, shape (n,), or None
        The weights; ``None``: 1 each.
    n : int
        The number of samples.

    Examples
    --------
    >>> w = SampleWeights(np.array([2.0, 0.0, 1.0]), 3)
    >>> w.total, w.dot(np.array([1, 5, 3])), w.mean(np.array([1, 5, 3]))
    (3.0, 5.0, 1.666...)
    >>> SampleWeights(None, 3).bincount(np.array([0, 2, 2]), 3)
    array([1, 0, 2])
    """

    def __init__(self, w: NDArray[np.float64] | None, n: int) -> None:
        self.w = w
        self.n = n

    @property
    def total(self) -> float:
        return float(self.n if self.w is None else self.w.sum())

    def dot(self, x: NDArray) -> float:
        return float(np.sum(x)) if self.w is None else float(self.w @ x)

    def mean(self, x: NDArray) -> float:
        """Weighted mean of ``x`` (0 when the total weight is 0)."""
        return float(safe_divide(self.dot(x), self.total))

    def take(self, mask: NDArray[np.bool_]) -> SampleWeights:
        return SampleWeights(None if self.w is None else self.w[mask], int(np.count_nonzero(mask)))

    def bincount(self, idx: NDArray[np.int64], minlength: int) -> NDArray:
        return np.bincount(idx, weights=self.w, minlength=minlength)
