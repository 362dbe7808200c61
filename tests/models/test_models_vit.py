"""ViT backbone and local-checkpoint loading (torchvision, timm/DeiT)."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from taxovit.models import build_vit, load_pretrained, resample_pos_embed  # noqa: E402
from taxovit.models.vit import PRESETS, grid_size  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("torch_one_thread")]


def _randomize(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def test_import_taxovit_does_not_import_torch():
    code = "import sys, taxovit; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_presets_dimensions():
    assert PRESETS["vit_ti"] == (192, 3, 12)
    assert PRESETS["vit_s"] == (384, 6, 12)
    assert PRESETS["vit_b"] == (768, 12, 12)
    assert PRESETS["vit_l"] == (1024, 16, 24)
    assert PRESETS["vit_h"] == (1280, 16, 32)
    with pytest.raises(ValueError, match="unknown ViT preset"):
        build_vit("vit_xxl", 10)


def test_shapes_one_channel_and_identity_head():
    torch.manual_seed(0)
    m = build_vit("vit_micro", num_classes=10, img_size=28, patch_size=7, in_chans=1)
    assert m.embed_dim == 64 and m.num_classes == 10
    x = torch.randn(3, 1, 28, 28)
    assert m(x).shape == (3, 10)
    assert m.forward_features(x).shape == (3, 64)
    m.reset_classifier(0)
    assert m.num_classes == 0
    torch.testing.assert_close(m(x), m.forward_features(x))
    m.reset_classifier(5)
    assert m(x).shape == (3, 5)


def test_overlapping_split_grid():
    assert grid_size(448, 16, 12) == (37, 37)
    assert grid_size(224, 16) == (14, 14)
    assert grid_size(224, 14) == (16, 16)
    m = build_vit("vit_nano", 4, img_size=64, patch_size=16, stride=12)
    assert m.patch_embed.grid_size == (5, 5)
    assert m.pos_embed.shape == (1, 26, 32)
    assert m(torch.randn(2, 3, 64, 64)).shape == (2, 4)


def test_sdpa_matches_explicit_attention():
    torch.manual_seed(0)
    a = build_vit("vit_nano", 7, img_size=32, patch_size=8)
    b = build_vit("vit_nano", 7, img_size=32, patch_size=8, attention="explicit")
    _randomize(a)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-5)


def test_other_input_size_resamples_on_the_fly():
    torch.manual_seed(0)
    m = build_vit("vit_nano", 3, img_size=32, patch_size=8).eval()
    assert m(torch.randn(2, 3, 48, 48)).shape == (2, 3)


def _tv_model():
    from torchvision.models.vision_transformer import VisionTransformer as TV

    torch.manual_seed(0)
    tv = TV(
        image_size=32,
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=128,
        num_classes=10,
    ).eval()
    _randomize(tv, seed=1)
    return tv


def _ours(num_classes=10, img_size=32, in_chans=3, stride=None):
    return build_vit(
        "vit_nano",
        num_classes,
        img_size=img_size,
        patch_size=8,
        stride=stride,
        in_chans=in_chans,
        embed_dim=32,
        depth=2,
        num_heads=2,
    ).eval()


def test_load_torchvision_same_logits(tmp_path):
    tv = _tv_model()
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    ours = _ours()
    report = load_pretrained(ours, path)
    assert report.source == "torchvision"
    assert not report.missing and not report.unexpected and not report.dropped
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), atol=1e-5, rtol=0)


def test_load_wrapped_checkpoint_drops_head(tmp_path):
    tv = _tv_model()
    sd = {"module." + k: v for k, v in tv.state_dict().items()}
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model": sd}, path)
    ours = _ours(num_classes=5)
    head_before = ours.head.weight.clone()
    report = load_pretrained(ours, path)
    assert sorted(report.dropped) == ["head.bias", "head.weight"]
    assert report.missing == ["head.bias", "head.weight"]
    torch.testing.assert_close(ours.head.weight, head_before)
    x = torch.randn(2, 3, 32, 32)
    tv.heads = torch.nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_features(x), tv(x), atol=1e-5, rtol=0)


def test_load_strict_rejects_unknown_keys(tmp_path):
    sd = _tv_model().state_dict()
    sd["encoder.extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    ours = _ours()
    before = ours.pos_embed.detach().clone()
    with pytest.raises(KeyError, match="unexpected"):
        load_pretrained(ours, path)
    torch.testing.assert_close(ours.pos_embed, before)  # untouched
    report = load_pretrained(ours, path, strict=False)
    assert report.unexpected == ["encoder.extra.weight"]


def test_one_channel_model_from_rgb_weights(tmp_path):
    tv = _tv_model()
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    ours = _ours(in_chans=1)
    assert load_pretrained(ours, path).patch_embed_channels_adapted
    gray = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(gray), tv(gray.expand(-1, 3, -1, -1)), atol=1e-5, rtol=0)


def test_resample_to_other_resolution_and_overlap(tmp_path):
    tv = _tv_model()
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    ours = _ours(img_size=64, stride=6)  # grid (64-8)//6+1 = 10 instead of 4
    report = load_pretrained(ours, path)
    assert report.pos_embed_resampled == ((4, 4), (10, 10))
    assert ours.pos_embed.shape == (1, 101, 32)
    src = tv.encoder.pos_embedding.detach()
    torch.testing.assert_close(ours.pos_embed[:, 0], src[:, 0])  # CLS untouched
    grid = ours.pos_embed[0, 1:].detach()
    lo, hi = src[0, 1:].min(0).values, src[0, 1:].max(0).values
    span = hi - lo
    assert bool(((grid >= lo - 0.3 * span) & (grid <= hi + 0.3 * span)).all())
    with torch.no_grad():
        assert torch.isfinite(ours(torch.randn(2, 3, 64, 64))).all()


def test_resample_pos_embed_values():
    # Constant -> constant, identity on the same grid, smooth function approximated.
    const = torch.full((1, 1 + 16, 3), 0.7)
    torch.testing.assert_close(resample_pos_embed(const, (7, 7)), torch.full((1, 50, 3), 0.7))
    rnd = torch.randn(1, 17, 3)
    assert resample_pos_embed(rnd, (4, 4)) is rnd

    def smooth(g):
        c = (torch.arange(g) + 0.5) / g
        v = torch.sin(torch.pi * c)[:, None] * torch.cos(torch.pi * c)[None, :]
        return v.reshape(1, g * g, 1)

    src = torch.cat([torch.zeros(1, 1, 1), smooth(12)], dim=1)
    out = resample_pos_embed(src, (30, 30))
    err = (out[:, 1:] - smooth(30)).abs().reshape(30, 30)
    assert err[3:-3, 3:-3].max() < 0.03  # interior
    assert err.max() < 0.1  # borders (replicate padding)


def test_load_timm_same_logits(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    tm = timm.create_model(
        "vit_base_patch16_224",
        pretrained=False,
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        num_classes=10,
    ).eval()
    _randomize(tm, seed=2)
    path = tmp_path / "timm.pth"
    torch.save({"state_dict": tm.state_dict()}, path)
    ours = _ours()
    report = load_pretrained(ours, path)
    assert report.source == "timm" and not report.missing and not report.unexpected
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tm(x), atol=1e-5, rtol=0)


def test_load_deit_distilled_keeps_cls(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    tm = timm.create_model(
        "deit_tiny_distilled_patch16_224",
        pretrained=False,
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        num_classes=10,
    ).eval()
    _randomize(tm, seed=3)
    path = tmp_path / "deit.pth"
    torch.save({"model": tm.state_dict()}, path)
    ours = _ours()
    report = load_pretrained(ours, path)
    assert "dist_token" in report.dropped
    assert ours.pos_embed.shape == (1, 17, 32)
    torch.testing.assert_close(ours.pos_embed[:, 1:], tm.pos_embed[:, 2:])
    torch.testing.assert_close(ours.pos_embed[:, :1], tm.pos_embed[:, :1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stem": "conv", "stride": 2, "patch_size": 4},
        {
            "img_size": (32, 24),
            "distilled": True,
            "reg_tokens": 2,
            "init_values": 1e-5,
            "mlp_ratio": 3.0,
            "qkv_bias": False,
            "no_embed_class": True,
        },
    ],
)
def test_describe_rebuilds_the_same_layout_and_layer_ids_cover_every_parameter(kwargs):
    from taxovit.models import ARCHITECTURES, build_model

    for arch in ("vit", "transfg"):
        if arch == "transfg" and (kwargs.get("distilled") or kwargs.get("reg_tokens")):
            continue  # TransFG selects parts after the CLS token only
        kw = {"img_size": 28, "patch_size": 7, "in_chans": 1, **kwargs}
        model = build_model(arch, "vit_nano", num_classes=0, **kw)
        desc = model.describe()
        assert desc["arch"] == arch
        again = ARCHITECTURES[desc.pop("arch")](num_classes=0, **desc)
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        assert {k: v.shape for k, v in again.state_dict().items()} == shapes
        assert again.describe() == model.describe()
        layers = model.layer_ids()
        assert set(layers) == {n for n, _ in model.named_parameters()}
        assert layers["cls_token"] == layers["patch_embed.proj.weight"] == 0
        assert layers["blocks.0.attn.qkv.weight"] == 1
        assert layers["blocks.2.mlp.fc2.weight"] == 3 and layers["norm.weight"] == 4
