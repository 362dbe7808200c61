"""Tests for taxovit.metrics.ranking: top-k and average precision against scikit-learn, ties,
blocks and kernels."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    top_k_accuracy_score,
)

from taxovit.metrics import _ap, ranking
from taxovit.metrics.ranking import average_precision, top_k_accuracy, top_k_columns

SETTINGS = settings(max_examples=100, deadline=None)

try:
    import numba  # noqa: F401

    HAS_NUMBA = True
except ImportError:
    HAS_NUMBA = False
#: the average-precision kernels (taxovit.metrics._ap), each checked against scikit-learn
KERNELS = [
    "numpy",
    pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")),
]


@contextlib.contextmanager
def ap_kernel(name):
    old = _ap.KERNEL
    _ap.KERNEL = name
    try:
        yield
    finally:
        _ap.KERNEL = old


@st.composite
def score_problems(draw, min_c=1, allow_missing=True):
    """Small integer-valued scores (many ties) and true columns (some -1)."""
    n = draw(st.integers(1, 25))
    c = draw(st.integers(min_c, 7))
    hi = draw(st.integers(0, 4))
    scores = np.array(
        draw(st.lists(st.integers(-hi, hi), min_size=n * c, max_size=n * c)), dtype=np.float64
    ).reshape(n, c)
    lo = -1 if allow_missing else 0
    true_col = np.array(draw(st.lists(st.integers(lo, c - 1), min_size=n, max_size=n)))
    return true_col, scores


def sk_rank_order(scores):
    return np.argsort(scores, axis=1, kind="mergesort")[:, ::-1]


# ----------------------------------------------------------------------------- top-k


def test_sklearn_tie_rule_later_column_first():
    s = np.array([[1.0, 1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(sk_rank_order(s)[0], [2, 1, 0, 3])
    np.testing.assert_array_equal(top_k_columns(s, 2), [[2, 1]])
    # sklearn itself: with k=1, only column 2 counts as a hit
    y = np.array([2, 0, 1, 3])
    s4 = np.tile(s, (4, 1))
    assert top_k_accuracy_score(y, s4, k=1, labels=[0, 1, 2, 3]) == 0.25
    assert top_k_accuracy(y, s4, 1) == 0.25


@SETTINGS
@given(score_problems(), st.integers(1, 9))
def test_top_k_columns_equals_sklearn_order(problem, k):
    _, s = problem
    ref = sk_rank_order(s)[:, : min(k, s.shape[1])]
    np.testing.assert_array_equal(top_k_columns(s, k), ref)


@SETTINGS
@given(score_problems(), st.integers(1, 9))
def test_top_k_accuracy_equals_sklearn(problem, k):
    t, s = problem
    n, c = s.shape
    kk = min(k, c)
    ref_hits = (sk_rank_order(s)[:, :kk] == t[:, None]).any(axis=1) & (t >= 0)
    ours = top_k_accuracy(t, s, k)
    assert ours == pytest.approx(ref_hits.mean(), abs=1e-12)
    assert ours == pytest.approx((top_k_columns(s, k) == t[:, None]).any(axis=1).mean(), abs=1e-12)
    if c >= 3 and (t >= 0).all():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = top_k_accuracy_score(t, s, k=k, labels=np.arange(c))
        assert ours == pytest.approx(ref, abs=1e-12)


def test_top_k_blocks(monkeypatch):
    """Row blocking does not change anything."""
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(257, 11)).astype(float)
    t = rng.integers(-1, 11, size=257)
    full = top_k_columns(s, 4), top_k_accuracy(t, s, 4)
    monkeypatch.setattr(ranking, "_BLOCK_ELEMS", 30)
    assert np.array_equal(top_k_columns(s, 4), full[0])
    assert top_k_accuracy(t, s, 4) == full[1]


def test_top_k_errors_and_caps():
    s = np.array([[0.1, 0.9], [0.5, 0.5]])
    assert top_k_columns(s, 10).shape == (2, 2)
    assert top_k_accuracy([0, -1], s, 10) == 0.5
    with pytest.raises(ValueError):
        top_k_columns(s, 0)
    with pytest.raises(ValueError):
        top_k_accuracy([0, 2], s, 1)
    with pytest.raises(ValueError):
        top_k_accuracy([0, 1], np.array([[0.1, np.nan], [0, 0]]), 1)


# ----------------------------------------------------------------------------- average precision


def sk_ap(t, s, average):
    y = (t[:, None] == np.arange(s.shape[1])[None, :]).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if s.shape[1] == 1:  # sklearn sees a (n, 1) indicator as binary
            val = average_precision_score(y[:, 0], s[:, 0]) if y.any() else 0.0
            return np.array([val]) if average is None else val
        return average_precision_score(y, s, average=average)


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=80, deadline=None)
@given(score_problems())
def test_average_precision_equals_sklearn(kernel, problem):
    t, s = problem
    for avg in (None, "macro", "weighted", "micro"):
        with ap_kernel(kernel):
            ours = average_precision(t, s, avg)
        ref = sk_ap(t, s, avg)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10, err_msg=str(avg))
    per = average_precision(t, s, None)
    present = np.bincount(t[t >= 0], minlength=s.shape[1]) > 0
    mp = average_precision(t, s, "macro_present")
    if present.any():
        assert mp == pytest.approx(per[present].mean(), abs=1e-12)
    else:
        assert mp is None


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=40, deadline=None)
@given(score_problems(min_c=2), st.integers(0, 10**6))
def test_average_precision_continuous_scores(kernel, problem, seed):
    t, _ = problem
    rng = np.random.default_rng(seed)
    s = rng.random((t.shape[0], 5))
    s[:, 0] = np.round(s[:, 0], 1)  # some ties
    t = np.where(t >= 5, -1, t)
    for avg in ("macro", "weighted", "micro"):
        with ap_kernel(kernel):
            ours = average_precision(t, s, avg)
        assert ours == pytest.approx(sk_ap(t, s, avg), abs=1e-10)


@st.composite
def many_positive_columns(draw):
    """Columns with many distinct, clustered or extreme positive scores: the numba kernel's
    grid cells then hold several thresholds, or one cell all of them."""
    n = draw(st.integers(2, 120))
    c = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["uniform", "clustered", "extreme", "integers"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "uniform":
        s = rng.random((n, c))
    elif kind == "clustered":  # most scores within 1e-12 of 0.5, a few far away
        s = 0.5 + rng.integers(0, 50, (n, c)) * 1e-14
        s[rng.random((n, c)) < 0.1] = 7.0
    elif kind == "extreme":
        s = rng.choice([-1e308, -1.0, 0.0, 5e-324, 1e-300, 1.0, 1e308], (n, c))
    else:
        s = rng.integers(-3, 4, (n, c)).astype(np.float64)
    t = rng.integers(-1, c, n)
    return t, s


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=60, deadline=None)
@given(many_positive_columns())
def test_average_precision_kernels_on_hard_scores(kernel, problem):
    t, s = problem
    with ap_kernel(kernel):
        ours = average_precision(t, s, None)
    np.testing.assert_allclose(ours, sk_ap(t, s, None), rtol=0, atol=1e-10)


def test_average_precision_small_cases():
    s = np.array([[0.3, 0.2, 0.1], [0.1, 0.5, 0.2], [0.3, 0.3, 0.3]])
    t = np.array([0, 2, 0])
    np.testing.assert_allclose(average_precision(t, s, None), [1.0, 0.0, 0.5])
    assert average_precision(t, s, "macro") == pytest.approx(0.5)
    assert average_precision(t, s, "weighted") == pytest.approx(5 / 6)
    assert average_precision(t, s, "macro_present") == pytest.approx(0.75)
    # n = 1; no positive anywhere
    one = np.array([[0.2, 0.7]])
    assert average_precision([1], one, "macro") == pytest.approx(0.5)
    assert average_precision([-1], one, "macro") == 0.0
    assert average_precision([-1], one, "weighted") == 0.0
    assert average_precision([-1], one, "micro") == 0.0
    assert average_precision([-1], one, "macro_present") is None
    with pytest.raises(ValueError):
        average_precision([0], one, "bogus")


def test_average_precision_blocks(monkeypatch):
    rng = np.random.default_rng(1)
    s = rng.integers(0, 4, size=(300, 9)).astype(float)
    t = rng.integers(-1, 9, size=300)
    monkeypatch.setattr(_ap, "KERNEL", "numpy")
    ref = [average_precision(t, s, a) for a in (None, "micro")]
    monkeypatch.setattr(ranking, "_BLOCK_ELEMS", 50)
    monkeypatch.setattr(_ap, "BLOCK_ELEMS", 50)
    np.testing.assert_array_equal(average_precision(t, s, None), ref[0])
    assert average_precision(t, s, "micro") == pytest.approx(ref[1], abs=1e-12)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_numba_kernel_over_several_column_blocks():
    """More columns than one parallel task takes (COLUMN_BLOCK), some without positives."""
    from taxovit.metrics import _ap_numba

    rng = np.random.default_rng(2)
    c = 2 * _ap_numba.COLUMN_BLOCK + 7
    s = np.round(rng.random((400, c)), 2)
    t = np.where(rng.random(400) < 0.2, -1, rng.integers(0, c - 5, 400))
    with ap_kernel("numba"):
        ours = average_precision(t, s, None)
    np.testing.assert_allclose(ours, sk_ap(t, s, None), rtol=0, atol=1e-10)


def test_numpy_kernel_in_two_threads():
    """A matrix large enough for the numpy kernel's second thread gives scikit-learn's AP."""
    from taxovit._side import PARALLEL_MIN

    rng = np.random.default_rng(3)
    n, c = 3000, 2 * (PARALLEL_MIN // 3000) + 4
    s = np.round(rng.random((n, c)), 2)
    t = rng.integers(-1, c, n)
    with ap_kernel("numpy"):
        ours = average_precision(t, s, None)
    np.testing.assert_allclose(ours, sk_ap(t, s, None), rtol=0, atol=1e-10)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_numba_kernel_from_several_threads():
    """Calls from several threads at once give each caller its own right answer (without
    the kernel's lock, numba's workqueue layer, used when neither OpenMP nor TBB is there,
    would abort the process)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    problems = [(rng.integers(-1, 30, 500), np.round(rng.random((500, 30)), 2)) for _ in range(6)]
    with ap_kernel("numba"), ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: average_precision(p[0], p[1], None), problems))
    for (t, s), ours in zip(problems, got, strict=True):
        np.testing.assert_allclose(ours, sk_ap(t, s, None), rtol=0, atol=1e-10)
