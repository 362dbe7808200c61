"""Class probabilities from a score matrix: ``probs`` (normalised rows) or ``logits`` (softmax)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.errors import ArgumentError

__all__ = ["SCORE_KINDS", "to_probabilities"]

SCORE_KINDS = ("probs", "logits")


def to_probabilities(scores: ArrayLike, kind: str = "probs") -> NDArray[np.float64]:
    """Row-stochastic probabilities ``(n, C)`` from scores.

    Parameters
    ----------
    scores : array-like of shape (n, C)
        One row per sample, one column per class.
    kind : {"probs", "logits"}, default "probs"
        ``probs``: scores must be non-negative with a positive row sum; each row is divided
        by its sum (rows that already sum to 1 are unchanged). ``logits``: a numerically
        stable softmax, ``exp(s - max s) / Σ exp(s - max s)``.

    Returns
    -------
    ndarray of shape (n, C)
        float64 probabilities; every row sums to 1.

    Raises
    ------
    ArgumentError
        Scores that are not a non-empty matrix, an unknown ``kind``, or (``probs``) a row
        with a negative score or a zero sum; the message names the first bad row.

    Examples
    --------
    >>> from taxovit.decide import to_probabilities
    >>> to_probabilities([[1.0, 3.0]])
    array([[0.25, 0.75]])
    >>> to_probabilities([[0.0, 0.0]], kind="logits")
    array([[0.5, 0.5]])
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] == 0:
        raise ArgumentError(f"scores must be a (samples, classes) matrix, got shape {s.shape}")
    if kind == "logits":
        with np.errstate(over="ignore"):  # 1e308 - (-1e308): -inf, whose exp is 0
            z = s - s.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if kind != "probs":
        raise ArgumentError(f"score kind must be one of {', '.join(SCORE_KINDS)}, got {kind!r}")
    bad = np.flatnonzero((s < 0).any(axis=1))
    if bad.size:
        raise ArgumentError(
            f"row {bad[0]} has a negative score; probabilities must be >= 0 "
            "(use kind='logits' for logits)"
        )
    with np.errstate(over="ignore"):
        total = s.sum(axis=1, keepdims=True)
    zero = np.flatnonzero(total[:, 0] <= 0)
    if zero.size:
        raise ArgumentError(f"row {zero[0]} has scores summing to 0; expected probabilities")
    huge = ~np.isfinite(total[:, 0])  # scores near 1e308 whose sum overflows: scaled first
    if huge.any():
        s = s.copy()
        s[huge] /= s[huge].max(axis=1, keepdims=True)
        total[huge] = s[huge].sum(axis=1, keepdims=True)
    return s / total
