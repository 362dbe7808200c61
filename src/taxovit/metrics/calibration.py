"""Calibration of class probabilities: expected calibration error, Brier score, log loss.

All take row-stochastic ``probs`` ``(n, C)`` (see :func:`taxovit.decide.to_probabilities`)
and ``true_col``, the column of each sample's true class (``-1``: the truth has no column,
so its probability is 0). The prediction is the arg-max column with taxovit's top-k tie
rule (:func:`taxovit.metrics.ranking.top_k_columns`: among tied maxima the highest column);
its probability is the confidence. The per-sample terms (:func:`calibration_terms`) are
summed into the metric table's ``ece``, ``brier`` and ``nll`` rows.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics._common import check_scores, check_true_col
from taxovit.metrics.table import value_of

__all__ = [
    "CalibrationTerms",
    "adaptive_bins",
    "binned_ece",
    "brier_score",
    "calibration_terms",
    "confidence_and_correct",
    "expected_calibration_error",
    "log_loss",
    "uniform_bins",
]

#: the bins of ``ece`` (and of ``ece_adaptive``)
N_BINS = 15

#: probability floor of the log loss (scikit-learn's historical eps), so a confident miss
#: costs log(1e15) ≈ 34.5 rather than infinity
LOG_LOSS_EPS = 1e-15


def confidence_and_correct(
    probs: ArrayLike, true_col: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The top-1 probability of each row and whether the top-1 column is the true one."""
    terms = calibration_terms(probs, true_col)
    return terms.confidence, terms.correct


class CalibrationTerms(NamedTuple):
    """Per-sample calibration statistics: the top-1 ``confidence``, whether it is
    ``correct``, the Brier term ``Σ_c (p_c − [c = y])²`` (a truth without a column is a class
    of probability 0: its (0 − 1)² = 1 is included), the log-loss term
    ``−log max(p_y, eps)`` and the equal-width ``bin`` of the confidence. Their sums give
    ``ece``, ``brier`` and ``nll`` (:mod:`taxovit.metrics.table`): exact under streaming,
    merging and bootstrap weights."""

    confidence: NDArray[np.float64]
    correct: NDArray[np.bool_]
    brier: NDArray[np.float64]
    nll: NDArray[np.float64]
    bin: NDArray[np.int64]


def uniform_bins(conf: NDArray[np.float64], n_bins: int = N_BINS) -> NDArray[np.int64]:
    """Equal-width bins ``[k/n_bins, (k+1)/n_bins)``; a confidence of exactly 1 gets bin
    ``n_bins`` of its own (torchmetrics' binning)."""
    return np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1), conf, side="right") - 1


def adaptive_bins(conf: NDArray[np.float64], n_bins: int = N_BINS) -> NDArray[np.int64]:
    """Equal-mass bins that never split tied confidences: a sample's bin is
    ``floor(n_below · n_bins / n)``, ``n_below`` the number of samples with a *strictly*
    smaller confidence. Without ties this is the sorted position's bin (Nguyen & O'Connor
    2015); a group of tied confidences goes whole to the bin of its first member, so the
    bins, and the ECE, do not depend on the row order."""
    n = conf.size
    below = np.searchsorted(np.sort(conf), conf, side="left")
    return below * n_bins // max(n, 1)


def _last_argmax(p: NDArray[np.float64]) -> NDArray[np.int64]:
    """``top_k_columns(p, 1)[:, 0]``: the highest column among each row's maxima (one
    argmax pass; the rows with a tied maximum looked at again)."""
    rows = np.arange(p.shape[0])
    top = np.argmax(p, axis=1)
    tied = np.flatnonzero(np.count_nonzero(p == p[rows, top][:, None], axis=1) > 1)
    if tied.size:
        top[tied] = p.shape[1] - 1 - np.argmax(p[tied, ::-1], axis=1)
    return top


def calibration_terms(
    probs: ArrayLike,
    true_col: ArrayLike,
    n_bins: int = N_BINS,
    top1: NDArray[np.int64] | None = None,
) -> CalibrationTerms:
    """The :class:`CalibrationTerms` of row-stochastic ``probs`` and ``true_col``
    (``top1``: each row's arg-max column by :func:`top_k_columns`, if already known)."""
    p = check_scores(probs)
    t = check_true_col(true_col, p.shape[0], p.shape[1])
    rows = np.arange(p.shape[0])
    if top1 is not None:
        top = top1
    elif p.shape[1]:
        top = _last_argmax(p)
    else:
        top = np.full(p.shape[0], -2)
    has = t >= 0
    p_true = np.where(has, p[rows, np.where(has, t, 0)], 0.0) if p.shape[1] else np.zeros(t.size)
    conf = p[rows, top] if p.shape[1] else np.zeros(t.size)
    brier = np.einsum("ij,ij->i", p, p) - 2 * p_true + 1.0
    nll = -np.log(np.maximum(p_true, LOG_LOSS_EPS))
    return CalibrationTerms(conf, top == t, brier, nll, uniform_bins(conf, n_bins))


def binned_ece(terms: CalibrationTerms, bins: NDArray[np.int64], n_bins: int = N_BINS) -> float:
    """The ``ece`` row of :mod:`taxovit.metrics.table` for samples binned by ``bins``: the
    per-bin sums of confidence and correctness, then ``Σ_b |acc_b − conf_b| / n``."""
    sums = {
        "ece_conf": np.bincount(bins, weights=terms.confidence, minlength=n_bins + 1),
        "ece_acc": np.bincount(
            bins, weights=terms.correct.astype(np.float64), minlength=n_bins + 1
        ),
        "one": float(bins.size),
    }
    return float(value_of("ece", sums) or 0.0)


def expected_calibration_error(
    probs: ArrayLike,
    true_col: ArrayLike,
    n_bins: int = N_BINS,
    binning: Literal["uniform", "adaptive"] = "uniform",
) -> float:
    """``ECE = Σ_b (|B_b| / n) · |accuracy(B_b) − confidence(B_b)| = Σ_b |Σ_{i∈B_b}
    ([ŷ_i = y_i] − conf_i)| / n`` over confidence bins.

    ``uniform`` (Guo et al. 2017; Naeini et al. 2015): ``n_bins`` equal-width bins
    (:func:`uniform_bins`), as torchmetrics ``multiclass_calibration_error(norm="l1")``
    bins (equal to it). ``adaptive`` (Nguyen & O'Connor 2015, "ACE"): ``n_bins`` bins of
    equal mass, tied confidences never split (:func:`adaptive_bins`). The value is the
    metric table's ``ece`` row (:mod:`taxovit.metrics.table`).

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> round(expected_calibration_error(probs, [0, 1, 1]), 4)  # bins: {0.9: right}, {0.6: wrong}, {0.8: right}
    0.3
    """
    terms = calibration_terms(probs, true_col, n_bins)
    if binning == "uniform":
        bins = terms.bin
    elif binning == "adaptive":
        bins = adaptive_bins(terms.confidence, n_bins)
    else:
        raise ValueError(f"binning must be 'uniform' or 'adaptive', got {binning!r}")
    return binned_ece(terms, bins, n_bins)


def brier_score(probs: ArrayLike, true_col: ArrayLike) -> float:
    """Multiclass Brier score ``mean_i Σ_c (p_ic − [c = y_i])²`` (Brier 1950).

    A truth without a score column (``true_col = -1``: a coarse truth, or a class the model
    lacks) is a class of probability 0, so its ``(0 − 1)² = 1`` term is included. Equals
    scikit-learn ``brier_score_loss(y, probs, labels=...)`` for multiclass input where every
    truth has a column. The value is the metric table's ``brier`` row.

    Examples
    --------
    >>> import numpy as np
    >>> brier_score(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]), [-1, -1])  # 2.0 and 1.5
    1.75
    """
    t = calibration_terms(probs, true_col)
    return float(value_of("brier", {"brier": t.brier.sum(), "one": float(t.brier.size)}))


def log_loss(probs: ArrayLike, true_col: ArrayLike) -> float:
    """Negative log-likelihood ``−mean_i log max(p_i,y_i, eps)``, ``eps`` =
    :data:`LOG_LOSS_EPS`, ``p = 0`` for a truth without a column; equals scikit-learn
    ``log_loss`` where every p_true > 0. The value is the metric table's ``nll`` row.

    Examples
    --------
    >>> import numpy as np
    >>> round(log_loss(np.array([[0.5, 0.5], [0.25, 0.75]]), [0, 1]), 4)
    0.4904
    """
    t = calibration_terms(probs, true_col)
    return float(value_of("nll", {"nll": t.nll.sum(), "one": float(t.nll.size)}))
