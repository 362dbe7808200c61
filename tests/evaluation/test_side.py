"""The second thread of large evaluations (:mod:`taxovit._side`): the same results either
way, errors re-raised, small inputs in the calling thread."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import taxovit
from taxovit import _side
from taxovit._side import side_thread


def test_small_inputs_stay_in_this_thread_and_large_ones_do_not() -> None:
    me = threading.get_ident()
    with side_thread(10) as submit:
        assert submit(threading.get_ident).result() == me
    with side_thread(_side.PARALLEL_MIN) as submit:
        assert submit(threading.get_ident).result() != me


def test_no_side_thread_keeps_large_inputs_here_in_its_thread_only() -> None:
    me = threading.get_ident()
    with _side.no_side_thread():
        with side_thread(_side.PARALLEL_MIN) as submit:
            assert submit(threading.get_ident).result() == me
        with ThreadPoolExecutor(1) as other:  # another thread is not affected
            assert other.submit(_second_thread_used).result()
    with side_thread(_side.PARALLEL_MIN) as submit:  # and the block's end restores it
        assert submit(threading.get_ident).result() != me


def _second_thread_used() -> bool:
    me = threading.get_ident()
    with side_thread(_side.PARALLEL_MIN) as submit:
        return submit(threading.get_ident).result() != me


@pytest.mark.parametrize("n", [1, _side.PARALLEL_MIN])
def test_errors_come_back_from_result(n) -> None:
    with side_thread(n) as submit:
        job = submit(int, "not a number")
        with pytest.raises(ValueError):
            job.result()


def test_a_large_evaluation_is_the_same_in_one_thread_and_two(monkeypatch) -> None:
    """70k samples, ranked candidates and scores: every key of the report agrees."""
    tax = taxovit.load_taxonomy(Path(__file__).resolve().parents[2] / "taxonomies" / "birds.json")
    leaves = np.array(sorted(tax.leaves), dtype=object)
    rng = np.random.default_rng(0)
    n = _side.PARALLEL_MIN + 4_000
    t = leaves[rng.integers(0, leaves.size, n)]
    order = np.argsort(rng.random((n, leaves.size)), axis=1)
    ids = np.asarray(tax.ids(list(leaves)))
    ranked = ids[order[:, :5]]
    scores = rng.random((n, leaves.size))
    runs = []
    for threshold in (_side.PARALLEL_MIN, 10**12):  # two threads, then one
        monkeypatch.setattr(_side, "PARALLEL_MIN", threshold)
        a = taxovit.evaluate(t, ranked[:, 0], tax, ranked=ranked, top_k=(1, 3)).to_dict()
        b = taxovit.evaluate(
            t, leaves[scores.argmax(1)], tax, scores, score_labels=list(leaves), top_k=(1, 3)
        ).to_dict()
        runs.append((a, b))
    assert runs[0] == runs[1]
