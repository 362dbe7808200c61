"""taxovit train logs hierarchical metrics of its kNN read-out (via TaxonomyMetrics) that agree
with `taxovit evaluate` on the predictions `taxovit predict` writes with the same kNN."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchmetrics")

import taxovit  # noqa: E402
from taxovit.predictions import read_predictions  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import predict  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_train import tiny_config  # noqa: E402

pytestmark = pytest.mark.torch


def test_logged_hierarchical_metrics_equal_evaluate(tmp_path, torch_one_thread) -> None:
    cfg = tiny_config(tmp_path, method="ce", optim={"epochs": 1}, eval={"knn_k": 5})
    res = train(cfg, out=tmp_path / "run")
    row = json.loads(Path(res["log"]).read_text().splitlines()[-1])
    assert {"knn_top1_fine", "knn_hierarchical_f1_fine", "knn_mistake_severity_fine"} <= set(row)
    predict(res["checkpoint"], tmp_path / "p.csv", knn=5)
    tax = taxovit.load_taxonomy(cfg["taxonomy"])
    data = read_predictions(tmp_path / "p.csv", tax.name_to_id)
    m = taxovit.evaluate(data.y_true, data.y_pred, tax).metrics
    assert row["knn_top1_fine"] == pytest.approx(m["accuracy"])
    assert row["knn_hierarchical_f1_fine"] == pytest.approx(m["hierarchical_f1_micro"])
    assert row["knn_mistake_severity_fine"] == pytest.approx(m["mistake_severity"])
