import csv
import json
import os
import socket
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from taxovit.training.parts import losses  # noqa: E402
from taxovit.training.run.config import ConfigError, TrainingDiverged, load_config, merge_config  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_data import MINI, fashion_taxonomy_path  # noqa: E402


def tiny_config(tmp_path, **over):
    cfg = {
        "taxonomy": str(fashion_taxonomy_path(tmp_path)),
        "train_rank": "group",
        "method": "grafit",
        "seed": 3,
        "deterministic": True,
        "device": "cpu",
        "data": {"root": str(MINI), "train_per_class": 4, "test_per_class": 2},
        "model": {"preset": "vit_nano", "patch_size": 7},
        "grafit": {"bank_size": 80, "proj_hidden": 32, "proj_dim": 16},
        "optim": {"epochs": 2, "batch_size": 20, "warmup_epochs": 0.5},
        "eval": {"train_max": 40, "knn_k": 5},
        "log": {"progress": False},
    }
    for section, values in over.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
        else:
            cfg[section] = values
    return cfg


def gpu_recipe_on_the_cpu(path, tmp_path, **sections):
    """A shipped GPU config as a dict, but for the data (the mini set), the length (one epoch
    of 40 images), the preset and compile (tested apart, slow), and ``sections`` (their keys
    updated: the widths): on the CPU with bf16 autocast, the code path of precision auto on
    CUDA."""
    cfg = load_config(path).to_dict()
    small = tiny_config(tmp_path)
    cfg["taxonomy"], cfg["data"] = small["taxonomy"], {**cfg["data"], **small["data"]}
    cfg["model"].update(compile=False, preset="vit_nano")
    for section, values in sections.items():
        cfg[section].update(values)
    cfg["optim"].update(epochs=1, batch_size=20, warmup_epochs=0.5)
    cfg["eval"].update(every=1, train_max=40, test_max=20, batch_size=20)
    cfg.update(device="cpu", precision="bf16", log={"progress": False})
    return cfg


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'optim.lrr'"):
        merge_config({"taxonomy": "x", "optim": {"lrr": 1}})
    with pytest.raises(ConfigError, match="taxonomy"):
        merge_config({})
    with pytest.raises(ConfigError, match="method"):
        merge_config({"taxonomy": "x", "method": "svm"})
    with pytest.raises(ConfigError, match="views"):
        merge_config({"taxonomy": "x", "grafit": {"views": 1}})
    p = tmp_path / "c.yaml"
    p.write_text("taxonomy: t.json\nmodel: {preset: vit_nano, overrides: {depth: 2}}\n")
    (tmp_path / "t.json").write_text("{}")
    cfg = load_config(p)
    assert cfg.taxonomy == str(tmp_path / "t.json")  # found next to the config
    assert cfg.model.overrides == {"depth": 2} and cfg.optim.epochs == 10
    p.write_text("- a\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)


@pytest.mark.parametrize(
    "name",
    [
        "fashion_mnist_cpu",
        "fashion_mnist_gpu",
        "fashion_mnist_ce_coarse",
        "fashion_mnist_grafit",
        "fashion_mnist_ce_fine",
    ],
)
def test_shipped_configs_parse(name):
    path = REPO / "configs" / f"{name}.yaml"
    if not path.is_file():
        pytest.skip(f"{path} not written")
    cfg = load_config(path)
    assert cfg.method in ("ce", "grafit", "transfg")


def test_train_predict_evaluate_grafit(tmp_path):
    cfg = tiny_config(tmp_path)
    res = train(cfg, out=tmp_path / "run")
    assert res["epochs_done"] == 2
    rows = [json.loads(line) for line in Path(res["log"]).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert {"loss", "inst", "knn", "images_per_s", "knn_top1_fine", "lr"} <= set(r)
        assert 0.0 <= r["knn_top1_fine"] <= 1.0
    ck = torch.load(res["checkpoint"], weights_only=True)
    assert {"model", "target", "optimizer", "scheduler", "rng", "bank", "config", "epoch"} <= set(
        ck
    )
    assert ck["epoch"] == 2 and ck["bank"]["filled"] == 80

    from taxovit.training.run.predict import predict

    out = tmp_path / "preds.csv"
    r = predict(res["checkpoint"], out, split="test", knn=5)
    assert r["classifier"] == "knn" and r["rows"] == 20
    table = read_csv(out)
    from taxovit.training.data.splits import FASHION_MNIST_CLASSES

    assert table[0] == ["id", "y_true", "y_pred"] + [f"score_{c}" for c in FASHION_MNIST_CLASSES]
    assert len(table) == 21
    for row in table[1:]:
        assert row[1] in FASHION_MNIST_CLASSES and row[2] in FASHION_MNIST_CLASSES
        assert sum(float(s) for s in row[3:]) == pytest.approx(1.0, abs=1e-4)
    # no head trained on fine classes -> falls back to kNN
    assert predict(res["checkpoint"], tmp_path / "p2.csv")["classifier"] == "knn"
    _evaluate(out, cfg["taxonomy"])


def test_grafit_nce_instance_loss_is_nt_xent_without_a_target(tmp_path):
    """``grafit.instance: nce``: the instance term is NT-Xent over the views (each image its
    own class in the kNN loss, the other view positive); no EMA target, no predictor; a run
    trains, checkpoints and resumes."""
    import torch.nn.functional as F

    from taxovit.training.methods.grafit import Grafit
    from taxovit.training.parts.network import build_online
    from taxovit.training.run.distributed import Dist

    cfg = merge_config(
        tiny_config(tmp_path, grafit={"instance": "nce", "tau_inst": 0.5, "lambda_knn": 0.0})
    )
    net = build_online(cfg, 5)
    assert net.predictor is None
    obj = Grafit(cfg, net, Dist(), torch.device("cpu"))
    assert obj.target is None and obj.state_dict()["target"] is None
    torch.manual_seed(0)
    x, labels = torch.randn(3, 2, 1, 28, 28), torch.tensor([0, 1, 1])
    parts = obj.loss(net, x, labels)
    with torch.no_grad():
        z = F.normalize(net(x.transpose(0, 1).reshape(6, 1, 28, 28))["z"], dim=-1)
    sim = (z @ z.T / 0.5).masked_fill(torch.eye(6, dtype=torch.bool), float("-inf"))
    nt_xent = F.cross_entropy(sim, torch.tensor([3, 4, 5, 0, 1, 2]))
    torch.testing.assert_close(parts["inst"], nt_xent, atol=1e-5, rtol=1e-5)
    full = train(cfg, out=tmp_path / "full")
    rows = [json.loads(line) for line in Path(full["log"]).read_text().splitlines()]
    assert all(r["inst"] > 0 for r in rows)  # a cross-entropy, not BYOL's negative cosine
    train(cfg, out=tmp_path / "half", stop_after_epoch=1)
    resumed = train(cfg, out=tmp_path / "half", resume=True)
    a, b = _state(full["checkpoint"]), _state(resumed["checkpoint"])
    for key in ("model", "bank", "optimizer"):
        _assert_same(a[key], b[key])


def _evaluate(preds, taxonomy):
    """The written predictions go through `taxovit evaluate` as a user would run it."""
    from typer.testing import CliRunner

    from taxovit.cli import app

    res = CliRunner().invoke(
        app, ["evaluate", str(preds), "--taxonomy", str(taxonomy), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    assert m["n_samples"] == 20
    assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["hierarchical_f1_micro"] <= 1.0
    assert m["top1_accuracy"] is not None and m["map_macro"] is not None


def test_ce_on_fine_classes_predicts_with_head(tmp_path):
    cfg = tiny_config(tmp_path, method="ce", train_rank="class", optim={"epochs": 1})
    res = train(cfg, out=tmp_path / "run")
    from taxovit.training.run.predict import predict

    r = predict(res["checkpoint"], tmp_path / "p.csv")
    assert r["classifier"] == "head"
    assert len(read_csv(tmp_path / "p.csv")) == 21
    assert predict(res["checkpoint"], tmp_path / "k.csv", knn=3)["classifier"] == "knn"


def test_transfg_and_ce_coarse_run(tmp_path):
    for method in ("transfg", "ce"):
        cfg = tiny_config(
            tmp_path,
            method=method,
            optim={"epochs": 1},
            model={"overrides": {"depth": 2}},
            eval={"every": 0},
        )
        res = train(cfg, out=tmp_path / method)
        assert res["history"][0]["loss"] > 0


def _state(path):
    ck = torch.load(path, weights_only=True)
    return ck


def _assert_same(a, b, atol=1e-6):
    if isinstance(a, torch.Tensor):
        assert torch.allclose(a.float(), b.float(), atol=atol, rtol=0)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k], atol)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y, atol)
    else:
        assert a == b


def test_resume_equals_uninterrupted(tmp_path):
    cfg = tiny_config(tmp_path, optim={"epochs": 2})
    full = train(cfg, out=tmp_path / "full")
    train(cfg, out=tmp_path / "half", stop_after_epoch=1)
    assert _state(tmp_path / "half" / "checkpoint.pt")["epoch"] == 1
    resumed = train(cfg, out=tmp_path / "half", resume=True)
    a, b = _state(full["checkpoint"]), _state(resumed["checkpoint"])
    for key in ("model", "target", "bank", "optimizer", "scheduler"):
        _assert_same(a[key], b[key])
    assert a["epoch"] == b["epoch"] == 2
    la = [json.loads(x) for x in Path(full["log"]).read_text().splitlines()]
    lb = [json.loads(x) for x in Path(resumed["log"]).read_text().splitlines()]
    assert len(lb) == 2
    for x, y in zip(la, lb, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], abs=1e-6)
        assert x["knn_top1_fine"] == y["knn_top1_fine"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, optim={"epochs": 3}, eval={"every": 0})
    calls = {"n": 0}
    real = losses.instance_loss

    def flaky(online, target):
        calls["n"] += 1
        out = real(online, target)
        return out * float("nan") if calls["n"] > 3 else out  # 2 steps per epoch

    monkeypatch.setattr(losses, "instance_loss", flaky)
    with pytest.raises(TrainingDiverged, match="non-finite loss") as e:
        train(cfg, out=tmp_path / "run")
    assert "epoch 2" in str(e.value) and "last good checkpoint" in str(e.value)
    ck = _state(tmp_path / "run" / "checkpoint.pt")
    assert ck["epoch"] == 1
    for t in ck["model"].values():
        assert torch.isfinite(t).all()


def test_absurd_learning_rate_is_caught(tmp_path):
    cfg = tiny_config(
        tmp_path,
        method="ce",
        optim={"epochs": 2, "lr": 1e30, "grad_clip": None, "warmup_epochs": 0},
        eval={"every": 0},
    )
    with pytest.raises(TrainingDiverged):
        train(cfg, out=tmp_path / "run")


def test_resume_without_checkpoint_errors(tmp_path):
    from taxovit.errors import TaxovitError

    with pytest.raises(TaxovitError, match="no checkpoint"):
        train(tiny_config(tmp_path), out=tmp_path / "none", resume=True)


def test_cli_functions_help_and_run(tmp_path):
    import typer
    import yaml
    from typer.testing import CliRunner

    from taxovit.cli.train import predict_command, train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("predict")(predict_command)
    runner = CliRunner()
    h = runner.invoke(app, ["train", "--help"])
    assert h.exit_code == 0 and "--config" in h.output and "taxovit train" in h.output
    h = runner.invoke(app, ["predict", "--help"])
    assert h.exit_code == 0 and "--knn" in h.output and "taxovit predict" in h.output
    cfg = tiny_config(tmp_path, optim={"epochs": 1}, eval={"every": 0})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(tmp_path / "c.yaml"),
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "predict",
            "--checkpoint",
            str(tmp_path / "run" / "checkpoint.pt"),
            "--out",
            str(tmp_path / "p.csv"),
            "--knn",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "wrote 20 rows" in r.output


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record_first_step(path):
    """Make ``AdamW.step`` save, on its first call, the gradients it is about to apply (in
    parameter-group order); returns the original method."""
    real = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        if not path.exists():
            torch.save(
                [p.grad.detach().clone() for g in self.param_groups for p in g["params"]], path
            )
        return real(self, *args, **kwargs)

    torch.optim.AdamW.step = step
    return real


def _ddp_worker(rank, world, port, cfg, out, grads=None):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    if grads is not None and rank == 0:  # after DDP's all-reduce, every rank holds the same
        _record_first_step(Path(grads))
    train(cfg, out=out)


def one_and_two_processes(tmp_path, cfg):
    """Train ``cfg`` in one process (out ``tmp_path/one``) and in two gloo processes on
    halves of each global batch (``tmp_path/two``); the first optimiser step's gradients of
    both, and the one-process run's result."""
    import torch.multiprocessing as mp

    real = _record_first_step(tmp_path / "grads_one.pt")
    try:
        single = train(cfg, out=tmp_path / "one")
    finally:
        torch.optim.AdamW.step = real
    mp.spawn(
        _ddp_worker,
        args=(2, _free_port(), cfg, str(tmp_path / "two"), str(tmp_path / "grads_two.pt")),
        nprocs=2,
    )
    grads = [torch.load(tmp_path / f"grads_{n}.pt", weights_only=True) for n in ("one", "two")]
    return grads, single


def relative_gap(ga, gb) -> float:
    """The largest difference of two lists of gradients, relative to each tensor's scale."""
    assert len(ga) == len(gb) > 10
    return max(
        float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))
        for a, b in zip(ga, gb, strict=True)
    )


def test_two_gloo_processes_match_one_process(tmp_path):
    """Two processes on halves of a global batch compute what one process computes on it.

    Proved on the gradients of the first optimiser step (same weights, same global batch):
    they are what the losses' DDP scaling (the kNN loss's ``* world``, the gradient through
    the gathered candidates) must get right. The weights after several AdamW steps are not
    compared: AdamW divides by sqrt(v), so float32 reduction-order noise in near-zero
    gradients grows to ~1e-4 there, on some machines beyond any honest tolerance.
    """
    # no augmentation: both runs see the same pixels; the global batch is the same
    cfg = tiny_config(
        tmp_path,
        optim={"epochs": 2, "batch_size": 20},
        eval={"every": 0},
        augment={"enabled": False},
        deterministic=False,
    )
    torch.set_num_threads(1)
    (ga, gb), single = one_and_two_processes(tmp_path, cfg)
    # The same float32 terms summed in another order: a sum of n terms moves by at most about
    # n ulps of its largest terms, and n <= 1024 here (40 images x 17 tokens, widths <= 64).
    # Seen: ~1e-6. A wrong DDP scaling (no "* world" in the kNN loss, or no gradient through
    # the gathered candidates) is off by 80% or more.
    tol = 1024 * torch.finfo(torch.float32).eps
    worst = relative_gap(ga, gb)
    assert worst < tol, f"first-step gradients differ by {worst:.2e} of their scale"
    la = [json.loads(x) for x in Path(single["log"]).read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    for x, y in zip(la, lb, strict=True):
        for key in ("loss", "inst", "knn"):
            assert x[key] == pytest.approx(y[key], abs=1e-5), key


def test_process_settings_restored(tmp_path):
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    cfg = tiny_config(tmp_path, optim={"epochs": 1}, eval={"every": 0}, threads=1)
    train(cfg, out=tmp_path / "run")
    assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == before
