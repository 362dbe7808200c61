"""The recipe's parts: the in-memory data path, the conv stem, precision, EMA of the weights,
the frozen-backbone read-outs (linear, knn) and torch.compile."""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from taxovit.training.run.config import ConfigError, merge_config  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import predict  # noqa: E402

pytestmark = pytest.mark.torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_train import gpu_recipe_on_the_cpu, tiny_config  # noqa: E402

FULL = Path("/usr/share/datasets/fashion-mnist")


def _space_and_set(tmp_path, per_class=4):
    from taxovit.taxonomy import load_taxonomy
    from taxovit.training.data.splits import load_split

    cfg = merge_config(tiny_config(tmp_path, data={"train_per_class": per_class}))
    samples, space = load_split(cfg.data, "train", load_taxonomy(cfg.taxonomy), "group")
    return cfg, samples, space


# ------------------------------------------------------------------------------ config keys
def test_new_keys_have_defaults_and_are_checked():
    cfg = merge_config({"taxonomy": "x"})
    assert cfg.data.loader == "auto" and cfg.model.stem == "patch"
    assert cfg.precision == "auto" and cfg.optim.ema_weights is None
    with pytest.raises(ConfigError) as e:
        merge_config(
            {
                "taxonomy": "x",
                "data": {"loader": "fast"},
                "model": {"stem": "cnn"},
                "precision": "fp16",
                "optim": {"ema_weights": 1.0},
            }
        )
    for key in ("data.loader", "model.stem", "precision", "optim.ema_weights"):
        assert key in str(e.value)
    for method in ("linear", "knn"):
        assert merge_config({"taxonomy": "x", "method": method}).method == method


# ------------------------------------------------------------------------------ memory path
def test_memory_loader_shares_the_global_batches(tmp_path):
    from taxovit.training.data.memory import MemoryLoader

    cfg, samples, space = _space_and_set(tmp_path)
    cpu = torch.device("cpu")
    one = MemoryLoader(cfg, samples, space, 1, 0, 1, cpu)
    two = [MemoryLoader(cfg, samples, space, 1, r, 2, cpu) for r in range(2)]
    assert len(one) == len(two[0]) == len(samples) // cfg.optim.batch_size
    for epoch in (0, 1):
        for ld in (one, *two):
            ld.set_epoch(epoch)
        whole = [b[3] for b in one]
        halves = [torch.cat([a[3], b[3]]) for a, b in zip(*two, strict=True)]
        for w, h in zip(whole, halves, strict=True):
            assert torch.equal(w, h)
    one.set_epoch(0)
    first = next(iter(one))[3]
    one.set_epoch(1)
    assert not torch.equal(first, next(iter(one))[3])  # a new permutation every epoch
    x, fine, coarse, idx = next(iter(one))
    assert x.shape == (cfg.optim.batch_size, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(coarse, torch.as_tensor(space.fine_to_train)[fine])
    assert torch.equal(fine, torch.as_tensor(samples.fine)[idx])


def test_memory_views_and_eval_transform_match_the_dataloader_path(tmp_path):
    from taxovit.training.data.memory import MemoryLoader, augment_batch, images_tensor, normalize
    from taxovit.training.data.splits import build_transform

    cfg, samples, space = _space_and_set(tmp_path)
    views = MemoryLoader(cfg, samples, space, 3, 0, 1, torch.device("cpu"))
    x = next(iter(views))[0]
    assert x.shape == (20, 3, 1, 28, 28) and not torch.equal(x[:, 0], x[:, 1])
    aug = dataclasses.replace(cfg.augment, mean=[0.3], std=[0.4])
    imgs = images_tensor(samples.images[:5], 1)
    tf = build_transform(aug, 28, 1, train=False)
    ref = torch.stack([tf(im) for im in samples.images[:5]])
    torch.testing.assert_close(normalize(imgs, aug, 28), ref)
    torch.testing.assert_close(
        augment_batch(imgs, dataclasses.replace(aug, enabled=False), 28), ref
    )
    out = augment_batch(imgs, dataclasses.replace(aug, erasing=1.0, crop_scale=[0.3, 1.0]), 32)
    assert out.shape == (5, 1, 32, 32) and torch.isfinite(out).all()
    assert (out == 0).any()  # an erased rectangle in every image
    rgb = images_tensor(samples.images[:2], 3)
    assert rgb.shape == (2, 3, 28, 28)
    rgb_aug = dataclasses.replace(aug, mean=None, std=None, color_jitter=0.4)
    assert augment_batch(rgb, rgb_aug, 28).shape[1] == 3


def test_memory_and_dataloader_paths_both_train(tmp_path):
    for loader in ("memory", "dataloader"):
        cfg = tiny_config(tmp_path, method="ce", data={"loader": loader}, optim={"epochs": 1})
        res = train(cfg, out=tmp_path / loader)
        assert np.isfinite(res["history"][0]["loss"])
        assert 0.0 <= res["history"][0]["knn_top1_fine"] <= 1.0


def test_memory_loader_refused_for_files(tmp_path):
    from taxovit.training.data.memory import use_memory
    from taxovit.training.data.splits import SampleSet

    files = SampleSet(["a"], np.zeros(1, dtype=np.int64), paths=["a.png"])
    cfg = merge_config({"taxonomy": "x", "data": {"loader": "memory"}})
    with pytest.raises(ConfigError, match="data.loader"):
        use_memory(cfg.data, files)
    assert not use_memory(merge_config({"taxonomy": "x"}).data, files)


# ------------------------------------------------------------------------------ model options
@pytest.mark.parametrize("arch", ["vit", "transfg"])
def test_conv_stem_keeps_the_token_grid(arch, torch_one_thread):
    from taxovit.models import build_model

    for patch, stride in ((4, None), (7, None), (8, 6)):
        kw = dict(img_size=28, patch_size=patch, stride=stride, in_chans=1, depth=2)
        a = build_model(arch, "vit_nano", 3, **kw)
        b = build_model(arch, "vit_nano", 3, stem="conv", **kw)
        assert a.patch_embed.grid_size == b.patch_embed.grid_size
        assert b(torch.randn(2, 1, 28, 28)).shape == (2, 3)
    with pytest.raises(ValueError, match="stem"):
        build_model(arch, "vit_nano", 3, img_size=28, patch_size=4, in_chans=1, stem="x")


def test_conv_stem_ema_and_bf16_train_and_predict(tmp_path):
    cfg = tiny_config(
        tmp_path,
        method="ce",
        train_rank="class",
        precision="bf16",
        model={"stem": "conv"},
        optim={"epochs": 2, "ema_weights": 0.9},
    )
    res = train(cfg, out=tmp_path / "run")
    ck = torch.load(res["checkpoint"], map_location="cpu", weights_only=True)
    assert any("patch_embed.stem" in k for k in ck["model"])
    diff = [k for k in ck["model"] if not torch.equal(ck["model"][k], ck["model_ema"][k])]
    assert diff  # the evaluated weights are the average, not the last ones
    out = predict(res["checkpoint"], tmp_path / "p.csv")
    assert out["classifier"] == "head" and out["rows"] == 20


def test_bf16_autocast_on_cpu_is_the_cuda_code_path():
    from taxovit.training.run.runtime import autocast

    lin = torch.nn.Linear(4, 4)
    cpu = torch.device("cpu")
    with autocast(cpu, "bf16"):
        assert lin(torch.randn(2, 4)).dtype == torch.bfloat16
    for precision in ("auto", "fp32"):
        with autocast(cpu, precision):
            assert lin(torch.randn(2, 4)).dtype == torch.float32


def test_shipped_gpu_config_runs_on_the_cpu_through_the_same_paths(tmp_path):
    """configs/fashion_mnist_gpu.yaml as shipped, but for the data (the mini set), the length
    (one epoch of 40 images), the widths and compile (tested apart, slow): Grafit on the groups,
    the memory loader, random erasing and bf16 autocast (precision auto is bf16 on CUDA; forced
    here so that the CPU takes the same code path); then predict and evaluate its output."""
    cfg = gpu_recipe_on_the_cpu(
        Path(__file__).resolve().parents[2] / "configs" / "fashion_mnist_gpu.yaml",
        tmp_path,
        grafit={"bank_size": 64, "proj_hidden": 32, "proj_dim": 16},
    )
    res = train(cfg, out=tmp_path / "gpu_recipe")
    row = res["history"][0]
    assert row["step"] == 2 and np.isfinite(row["loss"]) and 0 <= row["knn_top1_fine"] <= 1
    out = predict(res["checkpoint"], tmp_path / "p.csv", knn=5)
    assert out["classifier"] == "knn" and out["rows"] == 20


# ------------------------------------------------------------------------------ read-outs
def _pretrained(tmp_path):
    """A trained run's backbone saved as a local pretrained file."""
    res = train(
        tiny_config(tmp_path, method="ce", optim={"epochs": 1}, eval={"every": 0}),
        out=tmp_path / "pre",
    )
    ck = torch.load(res["checkpoint"], map_location="cpu", weights_only=True)
    sd = {k[len("backbone.") :]: v for k, v in ck["model"].items() if k.startswith("backbone.")}
    torch.save(sd, tmp_path / "backbone.pt")
    return tmp_path / "backbone.pt", sd


def test_linear_probe_trains_only_the_head(tmp_path):
    path, sd = _pretrained(tmp_path)
    cfg = tiny_config(
        tmp_path,
        method="linear",
        train_rank="class",
        optim={"epochs": 2},
        model={"pretrained": str(path)},
    )
    res = train(cfg, out=tmp_path / "lin")
    ck = torch.load(res["checkpoint"], map_location="cpu", weights_only=True)
    for k, v in sd.items():
        assert torch.equal(ck["model"][f"backbone.{k}"], v), k
    assert ck["model"]["head.weight"].abs().sum() > 0
    assert predict(res["checkpoint"], tmp_path / "p.csv")["classifier"] == "head"


@pytest.mark.parametrize("loader", ["memory", "dataloader"])
def test_linear_probe_runs_the_backbone_once_with_augmentation_off(tmp_path, monkeypatch, loader):
    """Augmentation off: the first epoch stores the frozen features, later epochs train the
    head on them without a backbone pass; the weights equal those of the uncached run."""
    from taxovit.training.methods import linear as objectives
    from taxovit.training.parts import network

    path, _ = _pretrained(tmp_path)
    cfg = tiny_config(
        tmp_path,
        method="linear",
        train_rank="class",
        optim={"epochs": 3},
        model={"pretrained": str(path)},
        augment={"enabled": False},
        data={"loader": loader},
        eval={"every": 0},
    )
    calls = []
    forward = network.Network.forward
    monkeypatch.setattr(
        network.Network, "forward", lambda self, x: calls.append(len(x)) or forward(self, x)
    )
    cached = train(cfg, out=tmp_path / "cached")
    assert sum(calls) == 40  # 40 training images, each through the backbone once
    monkeypatch.setattr(objectives.LinearProbe, "caches_features", False)
    calls.clear()
    plain = train(cfg, out=tmp_path / "plain")
    assert sum(calls) == 3 * 40
    a, b = (
        torch.load(r["checkpoint"], map_location="cpu", weights_only=True)["model"]
        for r in (cached, plain)
    )
    for key in ("head.weight", "head.bias"):
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0)
    cfg["augment"]["enabled"] = True  # random crops: every epoch needs the backbone
    monkeypatch.setattr(objectives.LinearProbe, "caches_features", True)
    calls.clear()
    train(cfg, out=tmp_path / "augmented")
    assert sum(calls) == 3 * 40


def test_knn_readout_takes_no_step_and_predicts(tmp_path):
    path, sd = _pretrained(tmp_path)
    cfg = tiny_config(tmp_path, method="knn", optim={"epochs": 1}, model={"pretrained": str(path)})
    res = train(cfg, out=tmp_path / "knn")
    assert res["history"][0]["step"] == 0 and 0 <= res["history"][0]["knn_top1_fine"] <= 1
    ck = torch.load(res["checkpoint"], map_location="cpu", weights_only=True)
    for k, v in sd.items():
        assert torch.equal(ck["model"][f"backbone.{k}"], v), k
    assert not any(k.startswith("head") for k in ck["model"])
    out = predict(res["checkpoint"], tmp_path / "p.csv", knn=5)
    assert out["classifier"] == "knn" and out["rows"] == 20


# ------------------------------------------------------------------------------ compile
@pytest.mark.slow
def test_compiled_tiny_model_trains(tmp_path):
    cfg = tiny_config(
        tmp_path, method="ce", model={"compile": True}, optim={"epochs": 1}, eval={"every": 0}
    )
    res = train(cfg, out=tmp_path / "run")
    assert np.isfinite(res["history"][0]["loss"])


@pytest.mark.slow
@pytest.mark.skipif(
    not (FULL / "train-images-idx3-ubyte.gz").is_file(),
    reason="full Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_full_data_memory_epoch(tmp_path):
    """One short epoch on the full 60k images through the in-memory path."""
    cfg = tiny_config(
        tmp_path,
        method="ce",
        data={"root": str(FULL), "train_per_class": None, "test_per_class": 100},
        optim={"epochs": 1, "batch_size": 1000},
        eval={"train_max": 2000},
    )
    res = train(cfg, out=tmp_path / "run")
    assert res["history"][0]["step"] == 60 and res["history"][0]["knn_top1_fine"] > 0.5
