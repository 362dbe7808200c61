"""`taxovit.evaluate(..., ranked=...)`: the K candidates of each sample give top-k accuracy and
hierarchical distance@k for k <= K, bootstrap included; the other score keys are null with a
note, which the report and the table view carry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import taxovit
from taxovit.errors import ArgumentError
from taxovit.metrics.flat import top_k_columns

ROOT = Path(__file__).resolve().parents[1]
BIRDS = ROOT / "taxonomies" / "birds.json"
MAP_KEYS = ("map_macro", "map_weighted", "map_micro", "map_macro_present")


@pytest.fixture(scope="module")
def tax() -> taxovit.Taxonomy:
    return taxovit.load_taxonomy(BIRDS)


def test_evaluate_ranked_argument(tax) -> None:
    g, m, a = tax.ids(["Gadwall", "Mallard", "Anas"])
    ranked = np.array([[m, g, -1], [g, -1, -1]])
    rep = taxovit.evaluate([g, g], [m, g], tax, ranked=ranked, top_k=[1, 2, 3])
    assert rep.metrics["top1_accuracy"] == 0.5 and rep.metrics["top2_accuracy"] == 1.0
    d = tax.index.pair_stats(np.array([g]), np.array([m])).lca_height[0]
    assert rep.metrics["avg_hierarchical_distance_at_2"] == pytest.approx(d / 2 / 2)
    for bad in (ranked[:, :0], ranked[:1], ranked.astype(float), np.array([[-1, g], [g, m]]),
                np.array([[g, -1, m], [g, m, a]]), np.array([[g, g], [g, m]])):  # fmt: skip
        with pytest.raises(ArgumentError, match="ranked"):
            taxovit.evaluate([g, g], [m, g], tax, ranked=bad)
    with pytest.raises(ArgumentError, match="not both"):
        taxovit.evaluate([g, g], [m, g], tax, np.ones((2, 1)), score_labels=["Gadwall"], ranked=ranked)

def test_ranked_equals_scores_for_k_up_to_K_bootstrap_included(tax) -> None:
    rng = np.random.default_rng(1)
    classes = tax.ids(sorted(tax.leaves)[:40])
    scores = rng.random((80, 40))
    y_true = rng.choice(classes, 80)
    ranked = classes[top_k_columns(scores, 3)]
    kw = dict(top_k=[1, 3, 5], bootstrap=40)
    full = taxovit.evaluate(y_true, ranked[:, 0], tax, scores, score_labels=classes, **kw)
    rep = taxovit.evaluate(y_true, ranked[:, 0], tax, ranked=ranked, **kw)
    for key in ("top1_accuracy", "top3_accuracy", "avg_hierarchical_distance_at_3"):
        assert rep.metrics[key] == full.metrics[key] and rep.intervals[key] == full.intervals[key]
    null = {"top5_accuracy", "avg_hierarchical_distance_at_5", *MAP_KEYS}
    assert {k for k, v in rep.metrics.items() if v is None} == null == set(rep.notes)
    assert "only 3 candidates" in rep.notes["map_micro"] and rep.to_dict()["notes"] == rep.notes
    from taxovit.evaluation.render import render_table

    assert "Not computed" in render_table(rep) and "Not computed" not in render_table(full)
    plain = taxovit.evaluate(y_true, ranked[:, 0], tax, notes={"map_micro": "why not"})
    assert plain.notes["map_micro"] == "why not" and "no scores" in plain.notes["top1_accuracy"]
