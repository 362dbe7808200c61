"""The Poisson bootstrap's state (taxovit.evaluation.poisson): the vectorised update equals
the definition, one resample at a time; the weights are the Poisson(1) quantile exactly."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxovit.errors import ArgumentError
from taxovit.evaluation import poisson
from taxovit.evaluation.context import as_ranked, build_context
from taxovit.evaluation.exact_sums import carry, limbs, value
from taxovit.evaluation.poisson import PoissonState, poisson_counts, poisson_weights
from taxovit.evaluation.streaming import StreamingEvaluator
from taxovit.metrics import components

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_evaluation import hand_taxonomy, problems  # noqa: E402


def _ranked(p: np.ndarray, n_nodes: int, k: int, seed: int) -> np.ndarray:
    """Each sample's prediction first, then k - 1 other distinct nodes (-1 padded)."""
    rng = np.random.default_rng(seed)
    out = np.full((p.size, k), -1, dtype=np.int64)
    for i, first in enumerate(p):
        others = rng.permutation(np.setdiff1d(np.arange(n_nodes), [first]))[: k - 1]
        out[i, : 1 + others.size] = np.r_[first, others]
    return out


def _one_at_a_time(state: PoissonState, t, p, ranked, ids, rs) -> tuple[dict, dict]:
    """The definition: every resample's weighted sums and counts, one resample at a time."""
    tax, b = state.point.taxonomy, state.b
    comp = components(t, p, tax)
    r = as_ranked(ranked, comp.y_true.size, tax.index.n)
    ctx = build_context(comp, tax, None, None, state.point.top_k, r)
    stats = StreamingEvaluator.statistics(ctx, None, rs)
    w = poisson_weights(ids, b, state.seed)
    sums = {n: np.array([col @ w[:, j] for j in range(b)]) for n, col in stats.columns.items()}
    counts: dict[str, list] = {}
    for name, binned in stats.binned.items():
        ok = binned.bins >= 0
        counts[name] = [
            np.bincount(binned.bins[ok], binned.weights[ok] * w[ok, j], binned.size)
            for j in range(b)
        ]
    for suffix, conf in state.point.confusions(comp.y_true, comp.y_pred):
        for j in range(b):
            for name, got in conf.counts(w[:, j]).items():
                counts.setdefault(name + suffix, []).append(np.asarray(got, dtype=np.float64))
    return sums, {k: np.stack(v, axis=1) for k, v in counts.items()}  # counts: (k, B)


@given(
    problems(ranked=True),
    st.integers(1, 3),
    st.integers(0, 2**32),
    st.sampled_from([1, 7]),
    st.sampled_from([None, 1.0, 1.5]),
)
@settings(max_examples=40, deadline=None)
def test_update_equals_one_resample_at_a_time(prob, k, seed, chunk, mass) -> None:
    """... with the candidates' scores (``mass``: a row's total; over 1: not probabilities)."""
    tax, t, _ = prob
    ranked = _ranked(t[::-1].copy(), len(tax.nodes), min(k, len(tax.nodes)), seed)
    ids = np.array([f"id{i}-{seed}" for i in range(t.size)])
    rs = None
    if mass is not None:
        rs = np.random.default_rng(seed).dirichlet(np.ones(ranked.shape[1]), t.size) * mass
    state = PoissonState(tax, 9, seed=seed, top_k=(1, 2))
    old = poisson._CHUNK
    poisson._CHUNK = chunk * 9  # chunks of 1 or 7 samples: units split across chunks
    try:
        state.update(t, ranked[:, 0], ranked=ranked, ids=ids, ranked_scores=rs)
    finally:
        poisson._CHUNK = old
    sums, counts = _one_at_a_time(state, t, ranked[:, 0], ranked, ids, rs)
    conf = {k: value(v) for k, v in state.exact.items() if v.ndim == 3}  # binned confidences
    got_counts = {**state.counts, **conf}
    assert sorted(got_counts) == sorted(counts) and not set(state.counts) & set(conf)
    for name, want in counts.items():
        if name in conf:  # confidences: exact sums of floats, against float sums
            np.testing.assert_allclose(conf[name], want, rtol=1e-12, atol=1e-12)
        else:
            assert np.array_equal(state.counts[name], want), name  # integers: exact
    got = {k: value(v) for k, v in state.exact.items() if v.ndim == 2}
    got.update(state.sums)
    assert sorted(got) == sorted(sums) and not set(state.sums) & set(state.exact)
    for name, want in sums.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-12, atol=1e-12, err_msg=name)
        if name in state.sums:  # integer statistics: exact float sums
            assert np.array_equal(got[name], want), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unit_weights_are_the_sums_of_the_weights(dtype) -> None:
    rng = np.random.default_rng(0)
    ids = np.array([f"s{i}" for i in range(500)])
    unit_of = rng.integers(0, 37, 500)
    want = np.zeros((37, 50))
    np.add.at(want, unit_of, poisson_counts(ids, 50, 4).astype(np.float64))
    got = poisson.unit_weights(ids, unit_of, 37, 50, 4, dtype)
    assert got.dtype == dtype and np.array_equal(got, want)


def test_quantile_is_the_poisson_cdf_exactly() -> None:
    """The comparisons of the hash equal the definition (the Poisson(1) CDF searched for
    u = (z >> 11) / 2**53) everywhere, at every threshold and one below it."""
    rng = np.random.default_rng(1)
    z = np.concatenate(
        [
            rng.integers(0, 2**64 - 1, 200_000, dtype=np.uint64, endpoint=True),
            poisson._Z,
            poisson._Z - np.uint64(1),
            np.array([0, 2**64 - 1], dtype=np.uint64),
        ]
    )
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    want = np.searchsorted(poisson._CDF, u, side="right")
    got = poisson.poisson_quantile(z.copy())
    assert np.array_equal(got, want) and want.max() == poisson._Z.size
    w = poisson_counts(np.array([f"s{i}" for i in range(20_000)]), 50, 0)
    assert w.dtype == np.uint8 and abs(w.mean() - 1) < 0.01 and abs(w.var() - 1) < 0.02


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    st.integers(0, 2**32),
)
@settings(max_examples=60, deadline=None)
def test_exact_sums_do_not_depend_on_order_or_grouping(xs, seed) -> None:
    """Limb sums of integer-weighted values, split and merged in any order, are one
    canonical form: the exact sum of the (2**-73-quantised) values."""
    from fractions import Fraction

    rng = np.random.default_rng(seed)
    x = np.array(xs)
    w = rng.integers(0, 19, (x.size, 3)).astype(np.float64)
    L = limbs(x)
    exact = [
        sum(Fraction(int(v)) * Fraction(2) ** (-73 + 26 * j) for j, v in enumerate(r)) for r in L
    ]
    assert all(
        abs(Fraction(float(a)) - e) <= Fraction(2) ** -74 for a, e in zip(x, exact, strict=True)
    )

    def total(order, cuts):
        acc = np.zeros((3, L.shape[1]), dtype=np.int64)
        for part in np.split(order, cuts):
            acc = carry(acc + (w[part].T @ L[part]).astype(np.int64))
        return acc

    one = total(np.arange(x.size), [])
    cuts = sorted(rng.integers(0, x.size + 1, 3))
    assert np.array_equal(total(rng.permutation(x.size), cuts), one)
    want = [sum(int(w[i, b]) * exact[i] for i in range(x.size)) for b in range(3)]
    got = [
        sum(Fraction(int(v)) * Fraction(2) ** (-73 + 26 * j) for j, v in enumerate(r)) for r in one
    ]
    assert got == want
    assert np.array_equal(value(one), value(total(x.size - 1 - np.arange(x.size), [1])))


def _poisson_state(tax) -> PoissonState:
    state = PoissonState(tax, 7, seed=5, top_k=(1, 2))
    ranked = np.array([[3, 4], [4, 5], [5, 6]])  # a1, a2, b1, b2 are 3..6
    rs = np.array([[0.5, 0.25], [0.375, 0.25], [0.875, 0.0625]])  # probabilities: the ece
    ids = np.array(["x", "y", "z"])
    state.update(np.array([3, 4, 5]), ranked[:, 0], ranked=ranked, ids=ids, ranked_scores=rs)
    return state


def test_poisson_bytes_round_trip() -> None:
    tax = hand_taxonomy()
    state = _poisson_state(tax)
    data = state.to_bytes()
    back = PoissonState.from_bytes(data, tax)
    assert back.to_bytes() == data and (back.b, back.seed) == (7, 5)
    assert back.report(0.9).intervals == state.report(0.9).intervals
    assert back.exact["ece_conf"].ndim == 3 and "ece" in state.report(0.9).intervals
    assert back.report(0.9).metrics == state.report(0.9).metrics
    twice = PoissonState.from_bytes(data, tax).merge(PoissonState.from_bytes(data, tax))
    assert twice.point.sums["one"] == 6 and np.array_equal(
        twice.counts["sup"], 2 * state.counts["sup"]
    )
    empty = PoissonState(tax, 3)
    assert PoissonState.from_bytes(empty.to_bytes(), tax).to_bytes() == empty.to_bytes()
    with pytest.raises(ArgumentError, match="cannot merge Poisson states of 3 resamples"):
        PoissonState(tax, 7, seed=5).merge(empty)


def _corrupt(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace ``old`` by ``new`` in the JSON header, its declared length kept right."""
    size = struct.unpack_from("<I", data, 10)[0]
    assert old in data[14 : 14 + size]
    head = data[14 : 14 + size].replace(old, new, 1)
    return data[:10] + struct.pack("<I", len(head)) + head + data[14 + size :]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:5], "shorter than"),
        (lambda d: b"TXVSTATE" + d[8:], "expected b'TXVPOISS'"),
        (lambda d: d[:8] + struct.pack("<H", 2) + d[10:], "version 2"),
        (lambda d: d[:10] + struct.pack("<I", 10**9) + d[14:], "-byte header"),
        (lambda d: _corrupt(d, b'"resamples":7', b'"resamples":0'), "0 resamples"),
        (lambda d: _corrupt(d, b'"resamples":7', b'"resamples":8'), "bytes of resamples"),
        (lambda d: _corrupt(d, b'"seed":5', b'"seed":-5'), "seed -5"),
        (lambda d: _corrupt(d, b'"seed":5', b'"seed":"5"'), "header 'seed'"),
        (lambda d: _corrupt(d, b'"point":', b'"point":9'), "-byte point state"),
        (lambda d: d[:-8], "bytes of resamples"),
        (lambda d: d + b"\0" * 8, "bytes of resamples"),
        (lambda d: _corrupt(d, b'"sums":["correct"', b'"sums":["wrongs"'), "not those of"),
        (lambda d: _corrupt(d, b'["sup",7]', b'["sup",8]'), "of another length"),
        (lambda d: _corrupt(d, b'["sup",7]', b'["nope",7]'), "does not have"),
        (lambda d: d[:-8] + struct.pack("<d", float("nan")), "not finite"),
        (lambda d: d[:14] + b"}" + d[15:], "not JSON"),
    ],
)
def test_poisson_corrupt_bytes_are_refused(mutate, message) -> None:
    tax = hand_taxonomy()
    with pytest.raises(ArgumentError, match=message):
        PoissonState.from_bytes(mutate(_poisson_state(tax).to_bytes()), tax)


def test_poisson_bytes_limbs_and_taxonomy_checked() -> None:
    from taxovit.evaluation.exact_sums import N_LIMBS

    tax = hand_taxonomy()
    state = _poisson_state(tax)
    state.exact["hp"][0, 0] = -1  # a lower limb out of [0, 2**26): not canonical
    with pytest.raises(ArgumentError, match="canonical"):
        PoissonState.from_bytes(state.to_bytes(), tax)
    assert state.exact["hp"].shape == (7, N_LIMBS)
    other = type(tax).from_edges([("root", "x"), ("root", "y")])
    with pytest.raises(ArgumentError, match="taxonomy of"):
        PoissonState.from_bytes(_poisson_state(tax).to_bytes(), other)


def test_counts_float32_until_the_bound_then_float64() -> None:
    tax = hand_taxonomy()
    a, b = _poisson_state(tax), _poisson_state(tax)
    assert a.counts["sup"].dtype == np.float32  # 3 samples x 18 < 2**24
    b.weight_bound = (1 << 24) - 1  # as if many samples were added: past the bound below
    both = PoissonState.from_bytes(a.to_bytes(), tax)  # from bytes: float64
    assert both.counts["sup"].dtype == np.float64
    merged = _poisson_state(tax).merge(b)
    assert merged.counts["sup"].dtype == np.float64
    np.testing.assert_array_equal(merged.counts["sup"], 2 * a.counts["sup"])
    assert merged.report(0.9).intervals == both.merge(a).report(0.9).intervals
