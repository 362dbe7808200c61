"""TaxonomyMetrics (a torchmetrics.Metric) equals taxovit.evaluate, in one or two processes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchmetrics")

import taxovit  # noqa: E402
from taxovit.evaluation.report import flatten_metrics  # noqa: E402
from taxovit.integrations.torchmetrics import TaxonomyMetrics  # noqa: E402
from taxovit.metrics import top_k_columns  # noqa: E402

pytestmark = pytest.mark.torch
BIRDS = Path(__file__).resolve().parents[2] / "taxonomies" / "birds.json"
SCORE_ONLY = ("map_", "ece", "brier", "nll")


def _data(seed: int, n: int = 300):
    tax = taxovit.load_taxonomy(BIRDS)
    classes = sorted(tax.leaves)[:40]
    rng = np.random.default_rng(seed)
    target = rng.integers(0, len(classes), n)
    logits = rng.normal(size=(n, len(classes)))
    logits[np.arange(n), target] += 1.5
    return tax, classes, target, logits


def _expected(tax, classes, target, logits, with_scores):
    names = np.array(classes)
    pred = top_k_columns(logits, 1)[:, 0]
    rep = taxovit.evaluate(
        names[target],
        names[pred],
        tax,
        logits if with_scores else None,
        score_labels=classes if with_scores else None,
    )
    flat = flatten_metrics({**rep.metrics, "per_rank": rep.per_rank})
    return {
        k: v
        for k, v in flat.items()
        if v is not None
        and not k.split("/")[-1].startswith(SCORE_ONLY)
        and not (k.startswith("per_rank/") and k.split("/")[-1].startswith("top"))
    }


@pytest.mark.parametrize("with_scores", [False, True])
def test_equals_evaluate(with_scores) -> None:
    tax, classes, target, logits = _data(0)
    metric = TaxonomyMetrics(tax, classes)
    for part in np.array_split(np.arange(target.size), 3):
        preds = (
            torch.from_numpy(logits[part])
            if with_scores
            else torch.from_numpy(top_k_columns(logits[part], 1)[:, 0])
        )
        metric.update(preds, torch.from_numpy(target[part]))
    got = metric.compute()
    for key, value in _expected(tax, classes, target, logits, with_scores).items():
        assert float(got[key]) == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert ("top5_accuracy" in got) == with_scores


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        tax, classes, target, logits = _data(1)
        metric = TaxonomyMetrics(tax, classes)
        part = np.array_split(np.arange(target.size), world)[rank]
        metric.update(torch.from_numpy(logits[part]), torch.from_numpy(target[part]))
        got = metric.compute()  # synchronised across the two processes
        if rank == 0:
            torch.save({k: float(v) for k, v in got.items()}, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one(tmp_path) -> None:
    import torch.multiprocessing as mp

    out = str(tmp_path / "two.pt")
    mp.spawn(_worker, args=(2, _port(), out), nprocs=2)
    two = torch.load(out)
    tax, classes, target, logits = _data(1)
    one = TaxonomyMetrics(tax, classes)
    one.update(torch.from_numpy(logits), torch.from_numpy(target))
    single = {k: float(v) for k, v in one.compute().items()}
    assert two.keys() == single.keys() and len(single) > 40
    for key, value in single.items():
        assert two[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_bad_inputs() -> None:
    from taxovit.errors import ArgumentError

    tax, classes, target, logits = _data(2, n=10)
    metric = TaxonomyMetrics(tax, classes)
    with pytest.raises(ArgumentError, match="class indices"):
        metric.update(torch.tensor([0.5]), torch.tensor([1]))
    with pytest.raises(ArgumentError, match="outside"):
        metric.update(torch.tensor([99]), torch.tensor([1]))
    with pytest.raises(ArgumentError, match="no samples"):
        metric.compute()
