"""Tests for taxovit.metrics.flat: exact agreement with scikit-learn, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    precision_recall_fscore_support,
)

from taxovit.metrics import SampleWeights, flat
from taxovit.metrics.flat import (
    accuracy,
    confusion_counts,
    precision_recall_f1,
    prf_from_counts,
)


@st.composite
def label_pairs(draw):
    n = draw(st.integers(1, 40))
    pool = draw(st.lists(st.integers(0, 1_400_000), min_size=1, max_size=8, unique=True))
    y_true = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return np.array(y_true, dtype=np.int64), np.array(y_pred, dtype=np.int64)


# ----------------------------------------------------------------------------- label metrics


def test_hand_checked_example():
    # docs/metrics.md: a1->a1, a1->a2, a2->b1, b1->b1
    a1, a2, b1 = 3, 4, 5
    t = np.array([a1, a1, a2, b1])
    p = np.array([a1, a2, b1, b1])
    assert accuracy(t, p) == 0.5
    # Per class (a1, a2, b1): P = (1, 0, 1/2), R = (1/2, 0, 1), F = (2/3, 0, 2/3), support
    # (2, 1, 1).  These are sklearn's values; the example in docs/metrics.md lists
    # recall_macro 1/3, f1_macro 0.375, f1_weighted 0.625, precision_weighted 1.0, which
    # contradict its own formulas (reported upstream).
    pm, rm, fm = precision_recall_f1(t, p, "macro")
    assert (pm, rm, fm) == pytest.approx((0.5, 0.5, 4 / 9))
    pw, rw, fw = precision_recall_f1(t, p, "weighted")
    assert (pw, rw, fw) == pytest.approx((0.625, 0.5, 0.5))
    assert precision_recall_f1(t, p, "micro") == pytest.approx((0.5, 0.5, 0.5))


@settings(max_examples=60, deadline=None)
@given(label_pairs())
def test_prf_matches_sklearn(pair):
    t, p = pair
    assert accuracy(t, p) == pytest.approx(accuracy_score(t, p), abs=1e-12)
    for avg in ("micro", "macro", "weighted"):
        ours = precision_recall_f1(t, p, avg)
        ref = precision_recall_fscore_support(t, p, average=avg, zero_division=0)[:3]
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    labels, pr, rc, f1, sup = precision_recall_f1(t, p, None)
    ref_labels = np.union1d(t, p)
    np.testing.assert_array_equal(labels, ref_labels)
    rp, rr, rf, rs = precision_recall_fscore_support(
        t, p, labels=ref_labels, average=None, zero_division=0
    )
    np.testing.assert_allclose(pr, rp, atol=1e-12)
    np.testing.assert_allclose(rc, rr, atol=1e-12)
    np.testing.assert_allclose(f1, rf, atol=1e-12)
    np.testing.assert_array_equal(sup, rs)


@settings(max_examples=40, deadline=None)
@given(label_pairs(), st.data())
def test_prf_from_counts_reweighted_equals_resample(pair, data):
    """Counts re-weighted by bootstrap multiplicities equal sklearn on the resample."""
    t, p = pair
    n = t.shape[0]
    idx = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))
    w = np.bincount(idx, minlength=n)
    labels, inv = np.unique(np.concatenate([t, p]), return_inverse=True)
    k = labels.shape[0]
    it, ip = inv[:n], inv[n:]
    sup = np.bincount(it, weights=w, minlength=k)
    pc = np.bincount(ip, weights=w, minlength=k)
    tp = np.bincount(it, weights=w * (t == p), minlength=k)
    for avg in ("micro", "macro", "weighted"):
        ours = prf_from_counts(tp, pc - tp, sup - tp, sup, avg)
        ref = precision_recall_fscore_support(t[idx], p[idx], average=avg, zero_division=0)[:3]
        np.testing.assert_allclose(ours, ref, atol=1e-12)


@st.composite
def ranged_label_pairs(draw):
    """Labels from one of the ranges the counting kernels choose between: dense small ids,
    sparse ids below 20,000, negative ids, and ids far apart (the np.unique path)."""
    lo, hi = draw(st.sampled_from([(0, 9), (0, 19_999), (-50, 50), (0, 2**40)]))
    pool = draw(st.lists(st.integers(lo, hi), min_size=1, max_size=12, unique=True))
    n = draw(st.integers(1, 60))
    t = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    p = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return np.array(t, dtype=np.int64), np.array(p, dtype=np.int64)


@settings(max_examples=80, deadline=None)
@given(ranged_label_pairs(), st.booleans())
def test_counting_kernels_equal_sklearn(pair, force_unique):
    """Both counting kernels (bincount over the id range, np.unique) give scikit-learn's
    P/R/F1, per class and averaged, zero-division cases included (a class only predicted
    or only true)."""
    t, p = pair
    old = flat._BINCOUNT_SPAN
    flat._BINCOUNT_SPAN = -(2**62) if force_unique else old
    try:
        labels, tp, fp, fn, sup = confusion_counts(t, p)
        averaged = {a: precision_recall_f1(t, p, a) for a in ("micro", "macro", "weighted")}
    finally:
        flat._BINCOUNT_SPAN = old
    np.testing.assert_array_equal(labels, np.union1d(t, p))
    np.testing.assert_array_equal(tp + fn, [np.sum(t == c) for c in labels])
    np.testing.assert_array_equal(tp + fp, [np.sum(p == c) for c in labels])
    np.testing.assert_array_equal(tp, [np.sum((t == c) & (p == c)) for c in labels])
    for avg, ours in averaged.items():
        ref = precision_recall_fscore_support(t, p, average=avg, zero_division=0)[:3]
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(ranged_label_pairs(), st.data())
def test_weighted_counts_equal_repeated_rows(pair, data):
    """Integer sample weights in counts_from_codes = the rows repeated in confusion_counts."""
    t, p = pair
    n = t.shape[0]
    w = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.float64)
    labels, inv = np.unique(np.concatenate([t, p]), return_inverse=True)
    got = flat.counts_from_codes(inv[:n], inv[n:], labels.size, SampleWeights(w, n))
    rep = np.repeat(np.arange(n), w.astype(np.int64))
    if rep.size == 0:
        return
    lab_r, *counts = confusion_counts(t[rep], p[rep])
    at = np.searchsorted(labels, lab_r)
    for g, r in zip(got, counts, strict=True):
        np.testing.assert_array_equal(g[at], r)
        assert g.sum() == r.sum()


def test_confusion_counts_sparse_large_labels():
    t = np.array([1_400_000, 7, 7, 0])
    p = np.array([7, 7, 3, 0])
    labels, tp, fp, fn, sup = confusion_counts(t, p)
    np.testing.assert_array_equal(labels, [0, 3, 7, 1_400_000])
    np.testing.assert_array_equal(tp, [1, 0, 1, 0])
    np.testing.assert_array_equal(fp, [0, 1, 1, 0])
    np.testing.assert_array_equal(fn, [0, 0, 1, 1])
    np.testing.assert_array_equal(sup, [1, 0, 2, 1])


def test_label_input_errors():
    with pytest.raises(ValueError):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError):
        accuracy([], [])
    with pytest.raises(ValueError):
        precision_recall_f1([1.5], [1.5])
    with pytest.raises(ValueError):
        prf_from_counts([1], [0], [0], None, "bogus")
