"""The self-supervised GPU recipes (issue 25) without a GPU: each ``configs/ssl_*_gpu.yaml``
as shipped runs on the CPU through the GPU's code paths (bf16 autocast; its own data, length
and widths made tiny), and data-parallel training (``torchrun``: two gloo processes on
halves of a global batch) computes what one process computes for MoCo v3's gathered keys and
DINO's all-reduced centre."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import predict  # noqa: E402

pytestmark = pytest.mark.torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_ssl_methods import SMALL  # noqa: E402
from test_train import (  # noqa: E402
    gpu_recipe_on_the_cpu,
    one_and_two_processes,
    relative_gap,
    tiny_config,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Tiny models: one thread beats fighting over a shared machine's cores."""


@pytest.mark.parametrize("method", ["mae", "mocov3", "dino"])
def test_shipped_ssl_gpu_config_runs_on_the_cpu_through_the_same_paths(tmp_path, method):
    """The recipe's every key but the data (the mini set), the length (one epoch of 40
    images), the widths and compile (tested apart): bf16 autocast as on CUDA, its views,
    schedules and loss; then the checkpoint's kNN predictions."""
    path = REPO / "configs" / f"ssl_{method}_gpu.yaml"
    cfg = gpu_recipe_on_the_cpu(path, tmp_path, **{method: SMALL[method][method]})
    res = train(cfg, out=tmp_path / "gpu_recipe")
    row = res["history"][0]
    assert row["step"] == 2 and np.isfinite(row["loss"]) and 0 <= row["knn_top1_fine"] <= 1
    out = predict(res["checkpoint"], tmp_path / "p.csv", knn=5)
    assert out["classifier"] == "knn" and out["rows"] == 20


@pytest.mark.parametrize("method", ["mocov3", "dino"])
def test_two_gloo_processes_match_one_process(tmp_path, method):
    """MoCo v3: each process's queries against every process's keys (gathered), its
    positives offset by its rank; DINO: the centre moves with the mean over both processes'
    teacher outputs. One step on a global batch of 40, no random augmentation (both runs see
    the same views): the first-step gradients agree to float32 reduction order (bound as in
    ``test_train.test_two_gloo_processes_match_one_process``); a missing gather or offset
    moves them by tens of percent. DINO's centre after that step (every image's teacher
    output) agrees too; a per-process mean would differ by the halves' difference."""
    views = {
        "mocov3": {"blur": [0.0, 0.0], "solarize": [0.0, 0.0]},
        "dino": {"blur": [0.0, 0.0, 0.0], "solarize": [0.0, 0.0, 0.0]},
    }[method]
    cfg = tiny_config(
        tmp_path,
        method=method,
        train_rank="class",
        optim={"epochs": 1, "batch_size": 40, "warmup_epochs": 0},
        eval={"every": 0},
        augment={"enabled": False},
        deterministic=False,
        **{method: {**SMALL[method][method], **views}},
    )
    (ga, gb), single = one_and_two_processes(tmp_path, cfg)
    gap = relative_gap(ga, gb)
    assert gap < 1024 * torch.finfo(torch.float32).eps, f"first-step gradients differ by {gap}"
    if method == "dino":
        ca, cb = (
            torch.load(p, weights_only=True)
            for p in (single["checkpoint"], tmp_path / "two" / "checkpoint.pt")
        )
        center_one, center_two = ca["dino_state"]["center"], cb["dino_state"]["center"]
        assert center_one.abs().max() > 0
        torch.testing.assert_close(center_two, center_one, rtol=1e-5, atol=1e-7)
