"""Self-supervised methods (issue 25): mae, mocov3, dino. Each loss against a naive loop of
its formula, MAE's masking, DINO's schedules and non-collapse, a few steps lowering the
losses, and the read-outs taking an SSL checkpoint unchanged. Tiny ViTs, one thread."""

import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from taxovit.training.methods.dino import center_update, teacher_temperature  # noqa: E402
from taxovit.training.parts import ssl  # noqa: E402
from taxovit.training.parts.network import build_online  # noqa: E402
from taxovit.training.run.config import ConfigError, load_config, merge_config  # noqa: E402
from taxovit.training.run.distributed import Dist  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import predict  # noqa: E402
from taxovit.training.run.schedule import ema_momentum  # noqa: E402

pytestmark = pytest.mark.torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_train import tiny_config  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SMALL = {
    "mae": {"mae": {"decoder_dim": 16, "decoder_heads": 2, "decoder_depth": 1}},
    "mocov3": {"mocov3": {"proj_hidden": 32, "proj_dim": 16}},
    "dino": {
        "dino": {
            "proj_hidden": 32,
            "bottleneck": 16,
            "out_dim": 64,
            "local_crops": 2,
            "local_size": 14,
            "teacher_temp_epochs": 1.0,
        }
    },
}


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Tiny models: one thread beats fighting over a shared machine's cores."""


def _cfg(tmp_path, method, epochs=1, **over):
    over.setdefault("eval", {"every": 0})
    return tiny_config(tmp_path, method=method, optim={"epochs": epochs}, **SMALL[method], **over)


# ------------------------------------------------------------------------- losses = loops
def test_info_nce_is_the_loop_of_its_formula():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(4, 5, generator=g), torch.randn(6, 5, generator=g)
    tau, off = 0.2, 2
    total = 0.0
    for i in range(4):
        qi = q[i] / q[i].norm()
        logits = [float(qi @ (k[j] / k[j].norm())) / tau for j in range(6)]
        lse = math.log(sum(math.exp(v) for v in logits))
        total += lse - logits[off + i]
    assert float(ssl.info_nce(q, k, tau, off)) == pytest.approx(2 * tau * total / 4, rel=1e-5)


def test_dino_loss_is_the_loop_of_its_formula():
    g = torch.Generator().manual_seed(1)
    student = [torch.randn(3, 7, generator=g) for _ in range(4)]
    teacher = [torch.randn(3, 7, generator=g) for _ in range(2)]
    center = torch.randn(1, 7, generator=g)
    ts, tt = 0.1, 0.04
    total, pairs = 0.0, 0
    for i, t in enumerate(teacher):
        for v, s in enumerate(student):
            if v == i:
                continue
            for b in range(3):
                p_t = [math.exp((float(t[b, d]) - float(center[0, d])) / tt) for d in range(7)]
                p_t = [x / sum(p_t) for x in p_t]
                lse = math.log(sum(math.exp(float(s[b, d]) / ts) for d in range(7)))
                total += -sum(p_t[d] * (float(s[b, d]) / ts - lse) for d in range(7)) / 3
            pairs += 1
    got = float(ssl.dino_loss(student, teacher, center, ts, tt))
    assert pairs == 2 * 3 and got == pytest.approx(total / pairs, rel=1e-5)


@pytest.mark.parametrize("norm_pix", [False, True])
def test_mae_loss_is_the_loop_over_masked_patches_only(norm_pix):
    g = torch.Generator().manual_seed(2)
    pred, target = torch.randn(2, 5, 4, generator=g), torch.randn(2, 5, 4, generator=g)
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 1, 1, 0]], dtype=torch.float)
    total, count = 0.0, 0
    for b in range(2):
        for n in range(5):
            if mask[b, n]:
                t = [float(v) for v in target[b, n]]
                if norm_pix:
                    mu = sum(t) / 4
                    var = sum((v - mu) ** 2 for v in t) / 3  # unbiased, as torch.var
                    t = [(v - mu) / math.sqrt(var + 1e-6) for v in t]
                total += sum((float(pred[b, n, d]) - t[d]) ** 2 for d in range(4)) / 4
                count += 1
    loss = ssl.mae_loss(pred, target, mask, norm_pix)
    assert float(loss) == pytest.approx(total / count, rel=1e-5)
    changed = pred.clone()
    changed[mask == 0] += 100.0  # the kept patches: no effect
    assert float(ssl.mae_loss(changed, target, mask, norm_pix)) == pytest.approx(float(loss))


def test_patchify_puts_each_cell_in_its_row():
    x = torch.arange(2 * 1 * 4 * 6, dtype=torch.float).view(2, 1, 4, 6)
    p = ssl.patchify(x, (2, 3))
    assert p.shape == (2, 6, 4)
    torch.testing.assert_close(p[1, 4], x[1, 0, 2:4, 2:4].flatten())


# ------------------------------------------------------------------------- MAE masking
@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.9])
def test_masking_keeps_exactly_the_stated_share_per_sample(ratio):
    n = 16
    keep, mask, restore = ssl.random_masking(64, n, ratio, torch.device("cpu"))
    expect = int(n * (1 - ratio))
    assert keep.shape == (64, expect)
    assert (mask.sum(1) == n - expect).all()  # per sample
    assert (mask.gather(1, keep) == 0).all()  # the kept ones are the unmasked ones
    assert (keep.sort(1).values.diff(dim=1) > 0).all()  # no token twice
    assert len({tuple(r) for r in keep.sort(1).values.tolist()}) > 1  # each its own draw
    assert (restore.sort(1).values == torch.arange(n)).all()


def test_the_mae_encoder_sees_only_the_kept_tokens(tmp_path):
    cfg = merge_config(_cfg(tmp_path, "mae"))
    net = build_online(cfg, 5)
    seen = []
    net.backbone.blocks[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].shape))
    out = net(torch.randn(3, 1, 28, 28), via="mae")
    n = 16  # 28 px, patch 7
    assert seen == [(3, 1 + int(n * 0.25), net.backbone.embed_dim)]
    assert out["pred"].shape == (3, n, 49) and (out["mask"].sum(1) == n - 4).all()


# ------------------------------------------------------------------------- DINO schedules
def test_teacher_temperature_warms_up_linearly_then_stays():
    assert teacher_temperature(0, 0.04, 0.07, 30) == pytest.approx(0.04)
    assert teacher_temperature(15, 0.04, 0.07, 30) == pytest.approx(0.055)
    assert teacher_temperature(30, 0.04, 0.07, 30) == teacher_temperature(99, 0.04, 0.07, 30)
    assert teacher_temperature(5, 0.04, 0.07, 0) == 0.07


def test_dino_follows_its_centre_temperature_and_momentum_schedules(tmp_path):
    from taxovit.training.methods.dino import DINO

    cfg = merge_config(_cfg(tmp_path, "dino", epochs=4))
    torch.manual_seed(0)
    net = build_online(cfg, 5)
    dino = DINO(cfg, net, Dist(), torch.device("cpu"))
    x = [torch.randn(4, 1, 28, 28) for _ in range(2)] + [torch.randn(4, 1, 14, 14)] * 2
    c0 = dino.term.center.clone()
    with torch.no_grad():
        glob = torch.cat(x[:2])
        t = dino.teacher.dino_head(dino.teacher.backbone.forward_features(glob))
    dino.loss(net, x, None)
    torch.testing.assert_close(dino.term.center, 0.9 * c0 + 0.1 * t.mean(0, keepdim=True))
    torch.testing.assert_close(center_update(c0, t, 0.9), dino.term.center)
    teacher0 = {k: v.clone() for k, v in dino.teacher.named_parameters()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01)
    dino.after_step(net, 3, 8)  # 8 steps over 4 epochs: 2 per epoch, epoch 1.5 now
    m = ema_momentum(cfg.dino.momentum, 1.0, 3, 8)
    online = dict(net.named_parameters())
    for k, v in dino.teacher.named_parameters():
        torch.testing.assert_close(v, m * teacher0[k] + (1 - m) * online[k].detach())
    assert dino.term.temperature() == pytest.approx(0.07)  # warm-up of 1 epoch is over
    dino.term.step = 1
    assert dino.term.temperature() == pytest.approx(0.04 + 0.03 * 0.5)


def test_dino_teacher_entropy_stays_between_collapse_and_uniform(tmp_path):
    res = train(_cfg(tmp_path, "dino", epochs=3), out=tmp_path / "run")
    ck = torch.load(res["checkpoint"], weights_only=True)
    assert ck["dino_state"]["step"] == 6
    cfg = merge_config(ck["config"])
    net = build_online(cfg, 5)
    teacher = ssl.momentum_copy(net, ("backbone", "dino_head"))
    teacher.load_state_dict(ck["teacher"])
    from taxovit.training.data.readers import load_fashion_mnist

    imgs, _ = load_fashion_mnist(cfg.data.root, "test")
    x = (torch.from_numpy(imgs[:40]).float().unsqueeze(1) / 255 - 0.5) / 0.5
    with torch.no_grad():
        t = teacher.dino_head(teacher.backbone.forward_features(x))
    p = F.softmax((t - ck["dino_state"]["center"]) / 0.07, dim=-1)
    h = float(-(p * p.clamp_min(1e-12).log()).sum(-1).mean())
    # collapse to one prototype: entropy 0; the uniform: log K. Both are DINO's failure modes.
    assert 0.05 * math.log(64) < h < 0.98 * math.log(64)


# ------------------------------------------------------------------------- the losses fall
def _fit(tmp_path, method, steps=12):
    from taxovit.training.methods import METHODS

    cfg = merge_config(_cfg(tmp_path, method))
    torch.manual_seed(0)
    net = build_online(cfg, 5)
    m = METHODS[method](cfg, net, Dist(), torch.device("cpu"))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(16, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    views = m.make_views(x, lambda v, **kw: (v.float() / 255 - 0.5) / 0.5)  # fixed views
    losses = []
    for step in range(steps):
        torch.manual_seed(step % 2)  # MAE: the same two masks in turn
        loss = m.loss(net, views, None)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.after_step(net, step + 1, steps)
        losses.append(float(loss.detach()))
    return net, losses, x


@pytest.mark.parametrize("method", ["mae", "mocov3"])
def test_a_few_steps_lower_the_loss(tmp_path, method):
    _, losses, _ = _fit(tmp_path, method)
    assert sum(losses[-2:]) < 0.9 * sum(losses[:2])


@pytest.mark.parametrize("method", ["mocov3", "dino"])
def test_the_embeddings_do_not_collapse(tmp_path, method):
    """Per-dimension std of l2-normalised features: ~1/sqrt(d) when spread over the sphere,
    0 when collapsed; a quarter of the isotropic value is far from both (Chen & He 2021)."""
    net, _, x = _fit(tmp_path, method)
    with torch.no_grad():
        f = F.normalize(net.backbone.forward_features((x.float() / 255 - 0.5) / 0.5), dim=1)
    assert float(f.std(0).mean()) > 0.25 / math.sqrt(f.shape[1])


# ------------------------------------------------------------------------- views
def test_solarize_and_blur():
    x = torch.tensor([[[[0, 127, 128, 255]]]], dtype=torch.uint8)
    assert ssl.solarize(x, 1.0).flatten().tolist() == [0, 127, 127, 0]
    assert torch.equal(ssl.solarize(x, 0.0), x)
    img = torch.rand(3, 1, 12, 12)
    torch.testing.assert_close(ssl.gaussian_blur(img, 0.0, [0.5, 1.0]), img)
    blurred = ssl.gaussian_blur(img, 1.0, [1.0, 1.0])
    assert float(blurred.std()) < float(img.std())
    torch.testing.assert_close(blurred.mean(), img.mean(), atol=0.02, rtol=0)


def test_dino_views_are_multi_crop(tmp_path):
    from taxovit.training.methods.dino import DINO

    cfg = merge_config(_cfg(tmp_path, "dino"))
    d = DINO(cfg, build_online(cfg, 5), Dist(), torch.device("cpu"))
    seen = []

    def augment(x, img_size=None, crop_scale=None):
        seen.append((img_size, crop_scale))
        return torch.zeros(len(x), 1, img_size or 28, img_size or 28)

    views = d.make_views(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), augment)
    assert [v.shape[-1] for v in views] == [28, 28, 14, 14]
    assert seen[0] == (None, [0.4, 1.0]) and seen[-1] == (14, [0.1, 0.4])


# ------------------------------------------------------------------------- config
def test_config_checks():
    with pytest.raises(ConfigError, match="model.stem: method mae needs patch"):
        merge_config({"taxonomy": "t", "method": "mae", "model": {"stem": "conv"}})
    with pytest.raises(ConfigError, match="mae.decoder_heads: must divide"):
        merge_config({"taxonomy": "t", "method": "mae", "mae": {"decoder_heads": 5}})
    with pytest.raises(ConfigError, match="dino.local_size: at least model.patch_size"):
        merge_config(
            {
                "taxonomy": "t",
                "method": "dino",
                "model": {"patch_size": 7},
                "dino": {"local_size": 4},
            }
        )
    with pytest.raises(ConfigError, match="mocov3.blur"):
        merge_config({"taxonomy": "t", "method": "mocov3", "mocov3": {"blur": [0.5]}})


@pytest.mark.parametrize("name", ["mae", "mocov3", "dino"])
def test_shipped_configs_load(name):
    for kind in ("cpu", "gpu"):
        cfg = load_config(REPO / "configs" / f"ssl_{name}_{kind}.yaml")
        assert cfg.method == name


# ------------------------------------------------------------------------- read-outs
READOUT = {
    "mae": ("ce", {"optim": {"epochs": 1, "layer_decay": 0.75}}),
    "mocov3": ("linear", {}),
    "dino": ("lora", {"lora": {"rank": 2}}),
}


@pytest.mark.parametrize("method", ["mae", "mocov3", "dino"])
def test_an_ssl_checkpoint_feeds_every_read_out(tmp_path, method):
    from taxovit.models import load_model

    res = train(_cfg(tmp_path, method), out=tmp_path / "ssl")
    ck = res["checkpoint"]
    state = torch.load(ck, weights_only=True)["model"]
    backbone = load_model(ck)
    for k, v in backbone.state_dict().items():
        torch.testing.assert_close(v, state[f"backbone.{k}"])
    pre = {"model": {"preset": "auto", "pretrained": str(ck)}, "train_rank": "class"}
    knn = train(tiny_config(tmp_path, method="knn", eval={"every": 0}, **pre), out=tmp_path / "knn")
    got = predict(knn["checkpoint"], tmp_path / "knn.csv")
    assert got["classifier"] == "knn" and 0 <= got["accuracy"] <= 1
    name, extra = READOUT[method]
    over = {**pre, **extra, "eval": {"every": 0}}
    run = train(tiny_config(tmp_path, method=name, **over), out=tmp_path / name)
    tuned = torch.load(run["checkpoint"], weights_only=True)["model"]
    assert tuned["head.weight"].shape[0] == 10
    got = predict(run["checkpoint"], tmp_path / "p.csv")
    assert got["classifier"] == "head" and got["rows"] == 20


def test_dino_resumes_exactly(tmp_path):
    cfg = _cfg(tmp_path, "dino", epochs=2)
    full = torch.load(train(cfg, out=tmp_path / "full")["checkpoint"], weights_only=True)
    train(cfg, out=tmp_path / "half", stop_after_epoch=1)
    again = torch.load(
        train(cfg, out=tmp_path / "half", resume=True)["checkpoint"], weights_only=True
    )
    assert again["dino_state"]["step"] == full["dino_state"]["step"] == 4
    torch.testing.assert_close(again["dino_state"]["center"], full["dino_state"]["center"])
    for k, v in full["teacher"].items():
        torch.testing.assert_close(again["teacher"][k], v, atol=1e-6, rtol=0)


# ------------------------------------------------------------------------- Grafit on top
@pytest.mark.parametrize("instance", ["mocov3", "dino"])
def test_grafit_instance_terms_from_an_ssl_checkpoint(tmp_path, instance):
    ssl_run = train(_cfg(tmp_path, "mocov3"), out=tmp_path / "ssl")
    pretrained = torch.load(ssl_run["checkpoint"], weights_only=True)["model"]
    over = {
        "model": {"preset": "auto", "pretrained": str(ssl_run["checkpoint"])},
        "grafit": {"instance": instance, "out_dim": 32, "views": 3},
        "dino": {"teacher_temp_epochs": 1.0},
        "eval": {"every": 0},
        "optim": {"epochs": 2},
    }
    cfg = tiny_config(tmp_path, **over)
    assert cfg["method"] == "grafit" and cfg["train_rank"] == "group"  # kNN loss: coarse
    start = build_online(merge_config(cfg), 5)
    for k, v in start.backbone.state_dict().items():  # it starts from the SSL backbone
        torch.testing.assert_close(v, pretrained[f"backbone.{k}"])
    res = train(cfg, out=tmp_path / "g")
    rows = res["history"]
    assert all(math.isfinite(r["inst"]) and math.isfinite(r["knn"]) for r in rows)
    ck = torch.load(res["checkpoint"], weights_only=True)
    if instance == "dino":
        assert "dino_head.last" in ck["target"] and ck["grafit_dino"]["step"] == 4
        assert ck["model"]["dino_head.last"].shape == (32, 16)
    else:
        assert "predictor.0.weight" in ck["model"]
    train(cfg, out=tmp_path / "half", stop_after_epoch=1)
    again = torch.load(
        train(cfg, out=tmp_path / "half", resume=True)["checkpoint"], weights_only=True
    )
    for k, v in ck["model"].items():
        torch.testing.assert_close(again["model"][k], v, atol=1e-5, rtol=0)


def test_grafit_mocov3_term_is_the_symmetric_infonce(tmp_path):
    from taxovit.training.methods.grafit import Grafit

    cfg = merge_config(tiny_config(tmp_path, grafit={"instance": "mocov3", "lambda_knn": 0.0}))
    torch.manual_seed(0)
    net = build_online(cfg, 5)
    g = Grafit(cfg, net, Dist(), torch.device("cpu"))
    x = torch.randn(4, 2, 1, 28, 28)
    got = g.loss(net, x, torch.tensor([0, 1, 2, 3]))["inst"]
    xs = x.transpose(0, 1).reshape(8, 1, 28, 28)
    with torch.no_grad():
        p1, p2 = net(xs)["p"].split(4)
        k1, k2 = g.target(xs)["z"].split(4)
    want = ssl.info_nce(p1, k2, 0.2) + ssl.info_nce(p2, k1, 0.2)
    torch.testing.assert_close(got, want)
