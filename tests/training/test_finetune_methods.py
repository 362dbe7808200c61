"""Fine-tuning methods (issue 14): layer-wise LR decay, the freeze schedule, LoRA, VPT and
DeiT distillation, and what the training log reports for each. Tiny ViTs, a few CPU steps."""

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from taxovit.training.parts.network import build_online, param_groups  # noqa: E402
from taxovit.training.run import runtime  # noqa: E402
from taxovit.training.run.config import ConfigError, merge_config  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import predict  # noqa: E402

pytestmark = pytest.mark.torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_train import tiny_config  # noqa: E402

N_GROUPS = 5  # the training classes of tiny_config (Fashion-MNIST's groups)


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Tiny models: one thread beats fighting over a shared machine's cores."""


def _cfg(tmp_path, method="ce", epochs=1, **over):
    over.setdefault("eval", {"every": 0})
    optim = {"epochs": epochs, **over.pop("optim", {})}
    return tiny_config(tmp_path, method=method, optim=optim, **over)


def _rows(res):
    return [json.loads(line) for line in Path(res["log"]).read_text().splitlines()]


def _model(path):
    return torch.load(path, weights_only=True)["model"]


def _initial(cfg):
    """The online network exactly as ``setup`` initialises it (same seed, same draws)."""
    full = merge_config(cfg)
    runtime.seed_all(int(full.seed))
    return build_online(full, N_GROUPS)


# ------------------------------------------------------------------- layer-wise LR decay
def test_layer_decay_scales_each_layer_and_keeps_no_weight_decay():
    net = build_online(
        merge_config(
            {"taxonomy": "t", "method": "ce", "model": {"preset": "vit_nano", "patch_size": 7}}
        ),
        N_GROUPS,
    )
    depth = len(net.backbone.blocks)  # 3
    groups = param_groups(net, 0.05, layer_decay=0.5)
    scale = {id(p): (g["lr_scale"], g["weight_decay"]) for g in groups for p in g["params"]}
    named = dict(net.named_parameters())
    assert len(scale) == len(named)
    expected = {
        "backbone.patch_embed.proj.weight": (0.5 ** (depth + 1), 0.05),
        "backbone.pos_embed": (0.5 ** (depth + 1), 0.0),  # no_weight_decay() still honoured
        "backbone.cls_token": (0.5 ** (depth + 1), 0.0),
        "backbone.blocks.0.attn.qkv.weight": (0.5**depth, 0.05),
        "backbone.blocks.0.norm1.weight": (0.5**depth, 0.0),
        "backbone.blocks.2.mlp.fc2.weight": (0.5, 0.05),
        "backbone.norm.weight": (1.0, 0.0),
        "head.weight": (1.0, 0.05),
        "head.bias": (1.0, 0.0),
    }
    for name, want in expected.items():
        assert scale[id(named[name])] == pytest.approx(want), name
    # off: the two groups of old, all at scale 1
    plain = param_groups(net, 0.05)
    assert [(g["weight_decay"], g["lr_scale"]) for g in plain] == [(0.05, 1.0), (0.0, 1.0)]
    assert sum(len(g["params"]) for g in plain) == len(named)


def test_layer_decay_reaches_the_optimiser(tmp_path):
    from taxovit.training.run.prepare import build_optimizer

    cfg = merge_config(_cfg(tmp_path, optim={"layer_decay": 0.5, "warmup_epochs": 0}))
    net = build_online(cfg, N_GROUPS)
    opt, _ = build_optimizer(cfg.optim, net, steps_per_epoch=2)
    lrs = sorted({round(g["lr"] / cfg.optim.lr, 6) for g in opt.param_groups})
    assert lrs == [0.0625, 0.125, 0.25, 0.5, 1.0]


# ------------------------------------------------------------------- freeze schedule
def test_freeze_schedule_trains_the_head_first_then_everything_and_resumes(tmp_path):
    cfg = _cfg(tmp_path, epochs=2, optim={"freeze_epochs": 1, "layer_decay": 0.75})
    full = train(cfg, out=tmp_path / "full")
    train(cfg, out=tmp_path / "half", stop_after_epoch=1)
    first = _model(tmp_path / "half" / "checkpoint.pt")
    start = _initial(cfg).state_dict()
    for name, value in first.items():
        same = torch.equal(value, start[name])
        assert same == name.startswith("backbone."), name  # frozen backbone, trained head
    resumed = train(cfg, out=tmp_path / "half", resume=True)
    a, b = (torch.load(r["checkpoint"], weights_only=True) for r in (full, resumed))
    for name, value in a["model"].items():
        assert torch.allclose(value, b["model"][name], atol=1e-6), name
        if name.startswith("backbone."):
            assert not torch.equal(value, first[name]), name  # thawed in epoch 2
    rows = _rows(full)
    head = N_GROUPS * 32 + N_GROUPS
    assert [r["trainable_params"] for r in rows][0] == head
    assert rows[1]["trainable_params"] == sum(v.numel() for v in start.values())
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in _rows(resumed)])


def test_freeze_and_decay_keys_are_checked():
    cfg = merge_config({"taxonomy": "t"})
    assert cfg.optim.layer_decay is None and cfg.optim.freeze_epochs == 0
    for optim, fragment in [
        ({"layer_decay": 0}, "optim.layer_decay: expected null or a number in (0, 1], got 0"),
        ({"layer_decay": 1.5}, "optim.layer_decay: expected null or a number in (0, 1]"),
        ({"freeze_epochs": -1}, "optim.freeze_epochs: expected an integer >= 0, got -1"),
        ({"freeze_epochs": 3, "epochs": 3}, "optim.freeze_epochs: 3 leaves no epoch"),
    ]:
        with pytest.raises(ConfigError) as e:
            merge_config({"taxonomy": "t", "optim": optim})
        assert fragment in str(e.value)


# ------------------------------------------------------------------- reporting
def test_every_epoch_reports_parameters_memory_and_speed(tmp_path):
    from taxovit.training.run.progress import epoch_line

    res = train(_cfg(tmp_path, method="linear"), out=tmp_path / "lin")
    (row,) = _rows(res)
    assert row["trainable_params"] == N_GROUPS * 32 + N_GROUPS  # the head only
    assert row["peak_mem_kind"] == "cpu_peak_rss" and row["peak_mem_mb"] > 10
    assert row["images_per_s"] > 0
    line = epoch_line(row, 1)
    assert "img/s" in line and f"{row['trainable_params']:,} trainable" in line
    assert "peak RSS" in line


# ------------------------------------------------------------------- LoRA
def test_lora_linear_is_the_base_at_init_and_merges_exactly():
    from taxovit.training.parts.lora import LoRALinear, merge_lora

    torch.manual_seed(0)
    base = torch.nn.Linear(6, 9)
    x = torch.randn(4, 6)
    lora = LoRALinear(base, rank=2, alpha=4.0, dropout=0.0)
    assert torch.equal(lora(x), base(x))  # B = 0: the adapted layer starts as the base
    assert lora.weight is base.weight and lora.scaling == 2.0
    with torch.no_grad():
        lora.lora_B.normal_()
    want = base(x) + 2.0 * (x @ lora.lora_A.T @ lora.lora_B.T)
    assert torch.allclose(lora(x), want, atol=1e-6)
    holder = torch.nn.Sequential(lora)
    assert merge_lora(holder) == 1 and type(holder[0]) is torch.nn.Linear
    assert torch.allclose(holder[0](x), want, atol=1e-5)


def test_lora_targets_attention_and_optionally_the_mlp():
    from taxovit.training.parts.lora import LoRALinear

    cfg = merge_config(
        {
            "taxonomy": "t",
            "method": "lora",
            "model": {"preset": "vit_nano", "patch_size": 7},
            "lora": {"rank": 2, "targets": ["qkv", "proj", "fc1"]},
        }
    )
    net = build_online(cfg, N_GROUPS)
    wrapped = {n for n, m in net.named_modules() if isinstance(m, LoRALinear)}
    assert wrapped == {
        f"backbone.blocks.{i}.{t}" for i in range(3) for t in ("attn.qkv", "attn.proj", "mlp.fc1")
    }
    assert net.backbone.blocks[0].attn.qkv.lora_B.shape == (96, 2)  # the fused q, k, v


def test_lora_trains_adapters_and_head_only_ships_them_and_predicts_merged(tmp_path):
    from taxovit.training.parts.lora import merge_lora
    from taxovit.training.run.adapters import load_adapters

    cfg = _cfg(
        tmp_path,
        method="lora",
        train_rank="class",
        epochs=2,
        lora={"rank": 2, "alpha": 4.0, "dropout": 0.1, "targets": ["qkv", "proj", "fc2"]},
        optim={"lr": 1e-2},
    )
    res = train(cfg, out=tmp_path / "run")
    trained = _model(res["checkpoint"])
    start = _initial(cfg).state_dict()
    for name, value in trained.items():
        adapter = name.endswith(("lora_A", "lora_B")) or name.startswith("head.")
        assert torch.equal(value, start[name]) != adapter, name
    rows = _rows(res)
    n_adapter = sum(v.numel() for k, v in trained.items() if "lora_" in k or k.startswith("head."))
    assert rows[0]["trainable_params"] == n_adapter < sum(v.numel() for v in start.values()) / 3
    # the adapters file holds just those tensors, and puts them back on a base model
    shipped = torch.load(tmp_path / "run" / "adapters.pt", weights_only=True)
    assert set(shipped["tensors"]) == {k for k in trained if "lora_" in k or k.startswith("head.")}
    plain = merge_config({**cfg, "method": "ce"})
    runtime.seed_all(int(plain.seed))
    base = build_online(plain, 10)  # the same base backbone: the seed's initialisation
    load_adapters(base, tmp_path / "run" / "adapters.pt")
    full = build_online(merge_config(cfg), 10)
    full.load_state_dict(trained)
    x = torch.randn(3, 1, 28, 28)
    base.eval(), full.eval()
    with torch.no_grad():
        ref = full(x)["logits"]
        assert torch.allclose(base(x)["logits"], ref, atol=1e-6)
        merge_lora(full)
        assert not any("lora_" in k for k in full.state_dict())
        assert torch.allclose(full(x)["logits"], ref, atol=1e-5)
    from taxovit.errors import TaxovitError

    with pytest.raises(TaxovitError, match="the adapters do not fit this model"):
        load_adapters(build_online(plain, 7), tmp_path / "run" / "adapters.pt")  # 7 classes
    with pytest.raises(TaxovitError, match="not an adapters file"):
        load_adapters(build_online(plain, 10), res["checkpoint"])
    # predict folds the adapters into the weights: the same scores as the unmerged model
    r = predict(res["checkpoint"], tmp_path / "p.csv")
    assert r["classifier"] == "head" and r["rows"] == 20
    assert _scores(tmp_path / "p.csv") == pytest.approx(_unmerged_scores(cfg, trained), abs=1e-5)


def _scores(path):
    import csv

    with open(path, newline="") as fh:
        return [float(v) for row in list(csv.reader(fh))[1:] for v in row[3:]]


def _unmerged_scores(cfg, state):
    """Softmax of the unmerged network on the test split, through the eval transform."""
    from taxovit.taxonomy import load_taxonomy
    from taxovit.training.data.splits import load_split
    from taxovit.training.run.embed import embed_samples

    full = merge_config(cfg)
    samples, space = load_split(full.data, "test", load_taxonomy(full.taxonomy), "class")
    net = build_online(full, 10)
    net.load_state_dict(state)
    _, logits = embed_samples(net, samples, space, full, torch.device("cpu"), with_logits=True)
    return logits.softmax(1).flatten().tolist()


# ------------------------------------------------------------------- VPT
@pytest.mark.parametrize("depth", ["shallow", "deep"])
def test_prompts_enter_after_the_prefix_tokens(depth):
    from taxovit.training.parts.prompts import VisualPrompts

    vp = VisualPrompts(tokens=3, dim=4, depth=2, kind=depth, prefix=2, patch=7, in_chans=1)
    x = torch.arange(2 * 6 * 4, dtype=torch.float32).reshape(2, 6, 4)
    y = vp(0, x)
    assert y.shape == (2, 9, 4)
    assert torch.equal(y[:, :2], x[:, :2]) and torch.equal(y[:, 5:], x[:, 2:])
    assert torch.equal(y[0, 2:5], vp.tokens[0])
    z = vp(1, y + 1)
    if depth == "shallow":
        assert torch.equal(z, y + 1)  # the blocks carry the prompts on
    else:  # replaced by the block's own set, the rest untouched
        assert z.shape == y.shape and torch.equal(z[1, 2:5], vp.tokens[1])
        assert torch.equal(z[:, :2], y[:, :2] + 1) and torch.equal(z[:, 5:], y[:, 5:] + 1)


@pytest.mark.parametrize("depth", ["shallow", "deep"])
def test_vpt_trains_prompts_and_head_only(tmp_path, depth):
    cfg = _cfg(
        tmp_path,
        method="vpt",
        train_rank="class",
        vpt={"tokens": 2, "depth": depth},
        optim={"lr": 1e-2},
    )
    res = train(cfg, out=tmp_path / "run")
    trained = _model(res["checkpoint"])
    start = _initial(cfg).state_dict()
    assert trained["prompts.tokens"].shape == ((3 if depth == "deep" else 1), 2, 32)
    for name, value in trained.items():
        assert torch.equal(value, start[name]) == name.startswith("backbone."), name
    assert _rows(res)[0]["trainable_params"] == trained["prompts.tokens"].numel() + 10 * 33
    shipped = torch.load(tmp_path / "run" / "adapters.pt", weights_only=True)
    assert set(shipped["tensors"]) == {"prompts.tokens", "head.weight", "head.bias"}
    assert predict(res["checkpoint"], tmp_path / "p.csv")["classifier"] == "head"
    # the shipped prompts and head on the base model give the run's outputs
    from taxovit.training.run.adapters import load_adapters

    plain = merge_config({**cfg, "method": "ce"})
    runtime.seed_all(int(plain.seed))
    base = build_online(plain, 10)
    assert base.prompts is None
    load_adapters(base, tmp_path / "run" / "adapters.pt")
    full = build_online(merge_config(cfg), 10)
    full.load_state_dict(trained)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(base.eval()(x)["logits"], full.eval()(x)["logits"], atol=1e-6)


def test_vpt_changes_the_cls_feature_and_zero_prompts_do_not_vanish():
    cfg = merge_config(
        {
            "taxonomy": "t",
            "method": "vpt",
            "model": {"preset": "vit_nano", "patch_size": 7},
            "vpt": {"tokens": 2, "depth": "shallow"},
        }
    )
    net = build_online(cfg, N_GROUPS).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        plain = net.backbone.forward_features(x)
        prompted = net(x)["features"]
    assert prompted.shape == plain.shape and not torch.allclose(prompted, plain)


# ------------------------------------------------------------------- DeiT distillation
def test_distillation_losses_follow_the_paper():
    from taxovit.training.parts.distill import distillation_loss

    torch.manual_seed(0)
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    hard = distillation_loss(s, t, "hard", 3.0)
    assert hard == pytest.approx(float(torch.nn.functional.cross_entropy(s, t.argmax(1))))
    tau = 3.0
    p_t, p_s = (t / tau).softmax(1), (s / tau).softmax(1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean() * tau**2
    assert distillation_loss(s, t, "soft", tau) == pytest.approx(float(kl), rel=1e-5)
    assert distillation_loss(t, t, "soft", tau) == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A small CE run on the fine classes: the teacher checkpoint."""
    tmp = tmp_path_factory.mktemp("teacher")
    cfg = _cfg(tmp, method="ce", train_rank="class", optim={"lr": 1e-2})
    return train(cfg, out=tmp / "run")["checkpoint"]


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_deit_distils_from_a_run_and_predicts_with_both_heads(tmp_path, teacher_run, kind):
    cfg = _cfg(
        tmp_path,
        method="deit",
        train_rank="class",
        distill={"teacher": teacher_run, "kind": kind, "alpha": 0.5},
    )
    res = train(cfg, out=tmp_path / "run")
    (row,) = _rows(res)
    assert {"ce", "kd", "trainable_params", "peak_mem_mb"} <= set(row)
    assert row["loss"] == pytest.approx(0.5 * row["ce"] + 0.5 * row["kd"], rel=1e-5)
    trained = _model(res["checkpoint"])
    assert {"backbone.dist_token", "head_dist.weight"} <= set(trained)
    ck = torch.load(res["checkpoint"], weights_only=True)
    assert not any(k.startswith("teacher") for k in ck)  # the teacher is not stored
    # predict averages the two heads; the teacher file is not needed any more
    Path(teacher_run).rename(Path(teacher_run).with_suffix(".moved"))
    try:
        r = predict(res["checkpoint"], tmp_path / "p.csv")
    finally:
        Path(teacher_run).with_suffix(".moved").rename(teacher_run)
    assert r["classifier"] == "head" and r["rows"] == 20
    _predict_cli(res["checkpoint"], tmp_path / "cli.csv")
    net = build_online(merge_config(cfg), 10)
    net.load_state_dict(trained)
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 28, 28))
    assert torch.allclose(out["logits"], (out["logits_cls"] + out["logits_dist"]) / 2)


def _predict_cli(checkpoint, out):
    """``taxovit predict`` as a user runs it: exit 0, the CSV written."""
    from typer.testing import CliRunner

    from taxovit.cli import app

    r = CliRunner().invoke(app, ["predict", "--checkpoint", str(checkpoint), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert len(Path(out).read_text().splitlines()) == 21


def test_deit_teacher_runs_frozen_in_eval_mode(tmp_path, teacher_run):
    from taxovit.training.parts.distill import load_teacher

    cfg = merge_config(
        _cfg(tmp_path, method="deit", train_rank="class", distill={"teacher": teacher_run})
    )
    from taxovit.taxonomy import load_taxonomy
    from taxovit.training.data.splits import load_split

    _, space = load_split(cfg.data, "train", load_taxonomy(cfg.taxonomy), "class")
    teacher = load_teacher(cfg, space, torch.device("cpu"))
    teacher.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    x = torch.randn(2, 1, 28, 28, requires_grad=True)
    out = teacher(x)
    assert out.shape == (2, 10) and not out.requires_grad
    assert torch.equal(out, teacher(x))  # eval mode: deterministic


def test_deit_teacher_problems_name_the_key(tmp_path, teacher_run):
    with pytest.raises(ConfigError, match="distill.teacher: required for method deit"):
        merge_config({"taxonomy": "t", "method": "deit"})
    with pytest.raises(ConfigError, match="distill.teacher: file not found"):
        train(
            _cfg(tmp_path, method="deit", distill={"teacher": str(tmp_path / "no.pt")}),
            out=tmp_path / "a",
        )
    # a teacher trained on other classes (fine) than the run's (group)
    with pytest.raises(ConfigError, match="distill.teacher .* trained on other classes"):
        train(_cfg(tmp_path, method="deit", distill={"teacher": teacher_run}), out=tmp_path / "b")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="distill.teacher .*cannot load it"):
        train(_cfg(tmp_path, method="deit", distill={"teacher": str(junk)}), out=tmp_path / "c")
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
    # the command line: exit 2, one message naming the key, no traceback
    import yaml
    from typer.testing import CliRunner

    from taxovit.cli import app

    cfg = _cfg(tmp_path, method="deit", distill={"teacher": str(junk)})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            str(tmp_path / "c.yaml"),
            "--out",
            str(tmp_path / "d"),
            "--no-progress",
        ],
    )
    assert r.exit_code == 2 and "distill.teacher" in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "d").exists()


def test_method_keys_are_checked():
    for user, fragment in [
        ({"lora": {"rank": 0}}, "lora.rank: expected an integer >= 1, got 0"),
        (
            {"lora": {"targets": ["qkv", "mlp"]}},
            "lora.targets: expected a non-empty list of distinct items of qkv, proj, fc1, fc2",
        ),
        ({"lora": {"targets": []}}, "lora.targets: expected a non-empty list"),
        ({"lora": {"dropout": 1.0}}, "lora.dropout: expected a number in [0, 1)"),
        ({"vpt": {"depth": "middle"}}, "vpt.depth: expected one of shallow, deep"),
        ({"vpt": {"tokens": 0}}, "vpt.tokens: expected an integer >= 1"),
        ({"distill": {"kind": "medium"}}, "distill.kind: expected one of hard, soft"),
        ({"distill": {"tau": 0}}, "distill.tau: expected a number > 0"),
        ({"distill": {"alpha": 2}}, "distill.alpha: expected a number in [0, 1]"),
    ]:
        with pytest.raises(ConfigError) as e:
            merge_config({"taxonomy": "t", **user})
        assert fragment in str(e.value)
    cfg = merge_config({"taxonomy": "t"})
    assert cfg.lora.to_dict() == {
        "rank": 8,
        "alpha": 16.0,
        "dropout": 0.0,
        "targets": ["qkv", "proj"],
    }
    assert cfg.vpt.to_dict() == {"tokens": 10, "depth": "deep"}
    assert cfg.distill.to_dict() == {"teacher": None, "kind": "hard", "tau": 3.0, "alpha": 0.5}


def test_deit_teacher_from_a_model_file(tmp_path):
    """A plain state dict of a ViT with a head on the run's classes is a teacher; one
    without such a head is refused, naming the key."""
    from taxovit.models import build_vit

    torch.manual_seed(0)
    vit = build_vit("vit_nano", num_classes=N_GROUPS, img_size=28, patch_size=7, in_chans=1)
    torch.nn.init.normal_(vit.head.weight)
    torch.save(vit.state_dict(), tmp_path / "teacher.pt")
    cfg = _cfg(
        tmp_path, method="deit", distill={"teacher": str(tmp_path / "teacher.pt"), "kind": "soft"}
    )
    (row,) = _rows(train(cfg, out=tmp_path / "run"))
    assert row["kd"] > 0
    torch.save(
        build_vit("vit_nano", num_classes=3, img_size=28, patch_size=7, in_chans=1).state_dict(),
        tmp_path / "other.pt",
    )
    cfg["distill"]["teacher"] = str(tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="distill.teacher .*no classifier head with this run's 5"):
        train(cfg, out=tmp_path / "run2")


def _ddp_worker(rank, port, cfg, out):
    import os

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE="2",
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    train(cfg, out=out)


@pytest.mark.slow
def test_freeze_schedule_under_two_gloo_processes(tmp_path):
    """DDP with a backbone frozen, then thawed (``find_unused_parameters``): two processes on
    halves of each global batch end where one process ends."""
    import torch.multiprocessing as mp
    from test_train import _free_port

    cfg = _cfg(
        tmp_path,
        epochs=3,
        optim={"freeze_epochs": 1, "layer_decay": 0.8},
        augment={"enabled": False},
        deterministic=False,
    )
    one = train(cfg, out=tmp_path / "one")
    mp.spawn(_ddp_worker, args=(_free_port(), cfg, str(tmp_path / "two")), nprocs=2)
    a, b = _model(one["checkpoint"]), _model(tmp_path / "two" / "checkpoint.pt")
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-3  # float32 reduction order through AdamW; seen 2.5e-5
    rows_two = [json.loads(x) for x in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in _rows(one)] == pytest.approx([r["loss"] for r in rows_two], abs=1e-5)
    assert rows_two[0]["trainable_params"] < rows_two[1]["trainable_params"]
