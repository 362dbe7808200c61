"""method: hierarchy trains a head with soft labels, HXE or rank CE (registered objective)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from taxovit.training.run.config import ConfigError, merge_config  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import predict  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_train import tiny_config  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("loss", ["soft_labels", "hxe", "rank_ce"])
def test_each_hierarchy_loss_trains_and_predicts(tmp_path, torch_one_thread, loss) -> None:
    cfg = tiny_config(
        tmp_path,
        method="hierarchy",
        train_rank="class",
        hierarchy={"loss": loss, "rank_weights": {"group": 1.0, "class": 0.5}},
        optim={"epochs": 1},
        eval={"every": 0},
    )
    res = train(cfg, out=tmp_path / loss)
    row = json.loads(Path(res["log"]).read_text().splitlines()[-1])
    assert math.isfinite(row["loss"]) and row[loss] == pytest.approx(row["loss"])
    r = predict(res["checkpoint"], tmp_path / f"{loss}.csv")
    assert r["classifier"] == "head" and r["rows"] == 20


def test_bad_hierarchy_config(tmp_path) -> None:
    with pytest.raises(ConfigError, match="hierarchy.rank_weights.group: expected a number >= 0"):
        merge_config(
            {
                "taxonomy": "t.json",
                "method": "hierarchy",
                "hierarchy": {"rank_weights": {"group": -1}},
            }
        )
    with pytest.raises(ConfigError, match="hierarchy.loss"):
        merge_config({"taxonomy": "t.json", "hierarchy": {"loss": "focal"}})
    cfg = tiny_config(
        tmp_path,
        method="hierarchy",
        train_rank="class",
        hierarchy={"loss": "rank_ce", "rank_weights": {"phylum": 1.0}},
        optim={"epochs": 1},
        eval={"every": 0},
    )
    with pytest.raises(ConfigError, match="unknown ranks"):
        train(cfg, out=tmp_path / "bad")
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()
