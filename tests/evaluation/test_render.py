"""The terminal view stays readable in a standard 80-column terminal."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from taxovit import evaluate, load_taxonomy
from taxovit.evaluation.render import build_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bootstrap", [0, 30])
def test_per_rank_table_fits_80_columns(bootstrap: int) -> None:
    tax = load_taxonomy(ROOT / "taxonomies" / "birds.json")
    df = pd.read_csv(ROOT / "examples" / "birds_preds.csv")
    scores = df.filter(like="score_").rename(columns=lambda c: c[len("score_") :])
    report = evaluate(df.y_true, df.y_pred, tax, scores, bootstrap=bootstrap)
    console = Console(width=80, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(build_table(report))
    text = console.export_text()
    rank_part = text[text.index("Per rank") : text.index("Per depth")]
    assert "…" not in rank_part
    for word in ("rank", "accuracy", "species", "family", "macro averages"):
        assert word in rank_part
    if bootstrap:
        assert "CI" in rank_part
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80


def test_calibration_errors_are_lower_is_better() -> None:
    from taxovit.evaluation.compare_render import _verdict
    from taxovit.evaluation.metric_info import metric_info

    worse = {"diff": 0.1, "ci": [0.05, 0.15]}
    for key in ("ece", "ece_adaptive", "brier", "nll", "per_rank/genus/ece", "mistake_severity"):
        assert str(_verdict(key, worse)) == "worse"
        assert metric_info(key).higher_is_better is False
    assert str(_verdict("accuracy", worse)) == "better" and metric_info("accuracy").higher_is_better
