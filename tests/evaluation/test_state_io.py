"""StreamingEvaluator.to_bytes/from_bytes and merge: any split, any merge tree, any order of
the operands gives the batch report (counts exactly, sums to 1e-12); corrupt bytes are refused."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxovit import evaluate
from taxovit.errors import ArgumentError
from taxovit.evaluation.state_io import MAGIC
from taxovit.evaluation.streaming import StreamingEvaluator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_evaluation import hand_taxonomy, problems  # noqa: E402
from test_streaming import _same  # noqa: E402


def _tree(states: list[StreamingEvaluator], tax, data) -> StreamingEvaluator:
    """Merge ``states`` along a random binary tree, each merge through bytes, operands in a
    random order (commutativity)."""
    if len(states) == 1:
        return StreamingEvaluator.from_bytes(states[0].to_bytes(), tax)
    cut = data.draw(st.integers(1, len(states) - 1))
    a, b = _tree(states[:cut], tax, data), _tree(states[cut:], tax, data)
    if data.draw(st.booleans()):
        a, b = b, a
    return StreamingEvaluator.from_bytes(a.merge(b).to_bytes(), tax)


@given(problems(with_scores=True, ranked=True), st.booleans(), st.data())
@settings(max_examples=60, deadline=None)
def test_any_split_any_merge_tree_equals_batch(prob, use_scores, data) -> None:
    tax, t, p, cols, scores = prob
    cuts = sorted(data.draw(st.lists(st.integers(0, t.size), max_size=4)))
    parts = [i for i in np.split(np.arange(t.size), cuts) if i.size]
    kw = {"top_k": (1, 3), "score_labels": cols if use_scores else None}
    states, one = [], StreamingEvaluator(tax, **kw)
    one.update(t, p, scores if use_scores else None)
    for idx in parts:
        part = StreamingEvaluator(tax, **kw)
        part.update(t[idx], p[idx], scores[idx] if use_scores else None)
        states.append(part)
    merged = _tree(states, tax, data)
    # a batch whose scores are not probabilities adds no calibration sums (compute drops
    # them then), so a split may hold fewer keys than one pass: compare the shared ones
    for name in one.counts.keys() & merged.counts.keys():
        arr = one.counts[name]
        if name.partition("/")[0] in ("tp", "pred", "sup"):
            np.testing.assert_array_equal(merged.counts[name], arr, err_msg=name)
        else:
            np.testing.assert_allclose(merged.counts[name], arr, rtol=1e-12, atol=1e-12)
    assert {"one", "correct"} <= merged.sums.keys()
    for name in one.sums.keys() & merged.sums.keys():
        assert merged.sums[name] == pytest.approx(one.sums[name], rel=1e-12, abs=1e-12), name
    _same(merged.compute(), one.compute())
    if not use_scores:
        _same(merged.compute(), evaluate(t, p, tax, top_k=(1, 3)))


@pytest.fixture
def tax_small():
    return hand_taxonomy()


def _state(tax) -> bytes:
    ev = StreamingEvaluator(tax)
    ev.update(["a1", "a2", "b1"], ["a1", "b1", "b1"])
    return ev.to_bytes()


def test_round_trip_and_empty(tax_small) -> None:
    data = _state(tax_small)
    assert data.startswith(MAGIC)
    back = StreamingEvaluator.from_bytes(data, tax_small)
    assert back.to_bytes() == data
    assert (
        back.compute().metrics == StreamingEvaluator.from_bytes(data, tax_small).compute().metrics
    )
    empty = StreamingEvaluator.from_bytes(StreamingEvaluator(tax_small).to_bytes(), tax_small)
    assert empty.layout is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:5], "shorter than"),
        (lambda d: b"XXXXXXXX" + d[8:], "expected b'TXVSTATE'"),
        (lambda d: d[:8] + struct.pack("<H", 9) + d[10:], "version 9"),
        (lambda d: d[:10] + struct.pack("<I", 10**9) + d[14:], "-byte header"),
        (lambda d: d[:-8], "payload bytes"),
        (lambda d: d + b"\0" * 8, "payload bytes"),
        (lambda d: d.replace(b'["sup",7]', b'["sup",8]', 1), "values, the taxonomy needs"),
        (lambda d: d[:14] + b"}" + d[15:], "not JSON"),
    ],
)
def test_corrupt_bytes_are_refused(tax_small, mutate, message) -> None:
    with pytest.raises(ArgumentError, match=message):
        StreamingEvaluator.from_bytes(mutate(_state(tax_small)), tax_small)


def test_other_taxonomy_and_kept_scores_refused(tax_small) -> None:
    other = type(tax_small).from_edges([("root", "x"), ("root", "y")])
    with pytest.raises(ArgumentError, match="taxonomy of"):
        StreamingEvaluator.from_bytes(_state(tax_small), other)
    ev = StreamingEvaluator(tax_small, keep_scores=True, score_labels=["a1", "b1"])
    ev.update(["a1"], ["a1"], [[0.9, 0.1]])
    with pytest.raises(ArgumentError, match="keep_scores"):
        ev.to_bytes()
