"""StreamingEvaluator equals taxovit.evaluate on the concatenated batches."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxovit import evaluate
from taxovit.evaluation.report import flatten_metrics
from taxovit.evaluation.streaming import StreamingEvaluator
from taxovit.metrics import table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_evaluation import problems  # noqa: E402


def _same(stream, batch) -> None:
    a = flatten_metrics({**stream.metrics, "per_rank": stream.per_rank})
    b = flatten_metrics({**batch.metrics, "per_rank": batch.per_rank})
    assert list(a) == list(b)
    for key, value in b.items():
        if value is None:
            assert a[key] is None, key
        else:
            assert a[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert stream.metrics["n_samples"] == batch.metrics["n_samples"]


@given(problems(with_scores=True, ranked=True), st.booleans(), st.booleans(), st.data())
@settings(max_examples=60, deadline=None)
def test_streaming_equals_batch(prob, use_scores, keep, data) -> None:
    tax, t, p, cols, scores = prob
    cuts = sorted(data.draw(st.lists(st.integers(0, t.size), max_size=3)))
    parts = np.split(np.arange(t.size), cuts)
    one = StreamingEvaluator(
        tax, top_k=(1, 3), keep_scores=keep, score_labels=cols if use_scores else None
    )
    merged = StreamingEvaluator(
        tax, top_k=(1, 3), keep_scores=keep, score_labels=cols if use_scores else None
    )
    for idx in parts:
        if idx.size == 0:
            continue
        sc = scores[idx] if use_scores else None
        one.update(t[idx], p[idx], sc)
        part = StreamingEvaluator(
            tax, top_k=(1, 3), keep_scores=keep, score_labels=cols if use_scores else None
        )
        part.update(t[idx], p[idx], sc)
        merged.merge(part)
    batch = evaluate(
        t,
        p,
        tax,
        scores if use_scores else None,
        score_labels=cols if use_scores else None,
        top_k=(1, 3),
    )
    if use_scores and not keep:  # only mAP and ece_adaptive need every score (the table's
        for key in batch.metrics:  # rows without resample); ece, brier, nll are sums
            if key != "per_level_accuracy" and not table.lookup(key)[0].resample:
                batch.metrics[key] = None
        for rank, entries in batch.per_rank.items():
            for key in entries:
                if not table.lookup(f"per_rank/{rank}/{key}")[0].resample:
                    entries[key] = None
    _same(one.compute(), batch)
    _same(merged.compute(), batch)


def test_state_does_not_grow_with_samples() -> None:
    from taxovit import load_taxonomy

    tax = load_taxonomy(Path(__file__).resolve().parents[2] / "taxonomies" / "birds.json")
    ev = StreamingEvaluator(tax)
    leaves = np.array(tax.leaves)
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(3):
        ev.update(rng.choice(leaves, 5000), rng.choice(leaves, 5000))
        sizes.append(sum(v.size for v in ev.counts.values()) + len(ev.sums))
    assert sizes[0] == sizes[1] == sizes[2]
    assert ev.compute().metrics["n_samples"] == 15000


def test_rank_classes_are_each_nodes_ancestor_position_made_once() -> None:
    """Each node's class at a rank is its ancestor's position among the rank's nodes (-1:
    none); the tables are made once per taxonomy index, shared and read-only."""
    from taxovit import load_taxonomy
    from taxovit.evaluation.statistics import rank_classes

    tax = load_taxonomy(Path(__file__).resolve().parents[2] / "taxonomies" / "birds.json")
    ix, ranks = tax.index, tuple(tax.rank_names)
    sizes, codes = rank_classes(ix)
    assert set(codes) == set(ranks) and len(ranks) >= 3
    for r in ranks:
        nodes = list(np.flatnonzero(ix.rank_of == ix.rank_id(r)))
        assert sizes[r] == len(nodes)
        anc = ix.ancestor_at_rank(np.arange(ix.n), r)
        assert codes[r].tolist() == [-1 if a < 0 else nodes.index(a) for a in anc]
        assert not codes[r].flags.writeable
    assert rank_classes(ix)[1] is codes
    ev = StreamingEvaluator(tax)
    assert list(ev._rank_code) == list(ranks)
    assert all(ev._rank_code[r] is codes[r] for r in ranks)
