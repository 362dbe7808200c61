"""Calibration of class probabilities: expected calibration error, Brier score, log loss.

All take row-stochastic ``probs`` ``(n, C)`` (see :func:`taxovit.decide.to_probabilities`)
and ``true_col``, the column of each sample's true class (``-1``: the truth has no column,
so its probability is 0). The prediction is the arg-max column with taxovit's top-k tie
rule (:func:`taxovit.metrics.flat.top_k_columns`); its probability is the confidence.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics._common import check_scores, check_true_col
from taxovit.metrics.flat import top_k_columns

__all__ = ["brier_score", "confidence_and_correct", "expected_calibration_error", "log_loss"]

#: probability floor of the log loss (scikit-learn's historical eps), so a confident miss
#: costs log(1e15) ≈ 34.5 rather than infinity
LOG_LOSS_EPS = 1e-15


def confidence_and_correct(
    probs: ArrayLike, true_col: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The top-1 probability of each row and whether the top-1 column is the true one."""
    p = check_scores(probs)
    t = check_true_col(true_col, p.shape[0], p.shape[1])
    top = top_k_columns(p, 1)[:, 0]
    return p[np.arange(p.shape[0]), top], top == t


def expected_calibration_error(
    probs: ArrayLike,
    true_col: ArrayLike,
    n_bins: int = 15,
    binning: Literal["uniform", "adaptive"] = "uniform",
) -> float:
    """``ECE = Σ_b (|B_b| / n) · |accuracy(B_b) − confidence(B_b)|`` over confidence bins.

    ``uniform`` (Guo et al. 2017; Naeini et al. 2015): ``n_bins`` equal-width bins
    ``[k/n_bins, (k+1)/n_bins)``, a confidence of exactly 1 in a bin of its own, as
    torchmetrics ``multiclass_calibration_error(norm="l1")`` bins (equal to it).
    ``adaptive`` (Nguyen & O'Connor 2015, "ACE"): ``n_bins`` bins of equal mass, the samples
    sorted by confidence and split into ``n_bins`` nearly equal consecutive groups.
    """
    conf, correct = confidence_and_correct(probs, true_col)
    n = conf.size
    if binning == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        bins = np.searchsorted(edges, conf, side="right") - 1
    elif binning == "adaptive":
        order = np.argsort(conf, kind="stable")
        bins = np.empty(n, dtype=np.int64)
        bins[order] = np.arange(n) * n_bins // max(n, 1)
    else:
        raise ValueError(f"binning must be 'uniform' or 'adaptive', got {binning!r}")
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins + 1)
    acc_sum = np.bincount(bins, weights=correct.astype(np.float64), minlength=n_bins + 1)
    # Σ_b (|B_b| / n) · |acc_b − conf_b| with acc_b, conf_b the bin means
    return float(np.sum(np.abs(acc_sum - conf_sum)) / n)


def brier_score(probs: ArrayLike, true_col: ArrayLike) -> float:
    """Multiclass Brier score ``mean_i Σ_c (p_ic − [c = y_i])²`` (Brier 1950); equals
    scikit-learn ``brier_score_loss(y, probs, labels=...)`` for multiclass input."""
    p = check_scores(probs)
    t = check_true_col(true_col, p.shape[0], p.shape[1])
    sq = np.einsum("ij,ij->i", p, p)
    has = t >= 0
    p_true = np.where(has, p[np.arange(p.shape[0]), np.where(has, t, 0)], 0.0)
    return float(np.mean(sq - 2 * p_true + has))


def log_loss(probs: ArrayLike, true_col: ArrayLike) -> float:
    """Negative log-likelihood ``−mean_i log p_i,y_i`` with ``p`` floored at
    :data:`LOG_LOSS_EPS`; equals scikit-learn ``log_loss`` where every p_true > 0."""
    p = check_scores(probs)
    t = check_true_col(true_col, p.shape[0], p.shape[1])
    has = t >= 0
    p_true = np.where(has, p[np.arange(p.shape[0]), np.where(has, t, 0)], 0.0)
    return float(-np.mean(np.log(np.maximum(p_true, LOG_LOSS_EPS))))
