"""Checkpoint layouts (timm, DeiT, DINOv2, Google .npz, safetensors) read by ``load_model``
and compared with the reference implementation (timm) on small random models."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from timm.models import vision_transformer as timm_vit  # noqa: E402

from taxovit.models import (  # noqa: E402
    VisionTransformer,
    build_vit,
    load_model,
    load_pretrained,
    read_safetensors,
    save_safetensors,
)
from taxovit.training.parts.network import build_online  # noqa: E402
from taxovit.training.run.config import ConfigError, merge_config  # noqa: E402

SMALL = {"embed_dim": 128, "depth": 2, "num_heads": 2}  # head width 64: the inference rule


def _randomise(model, seed=0):
    """Every parameter random (zero-initialised heads and 1e-5 LayerScale would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model.eval()


def _timm(name, **kw):
    return _randomise(timm.create_model(name, pretrained=False, **{**SMALL, **kw}))


def _images(size, chans=3, n=2):
    return torch.randn(n, chans, size, size, generator=torch.Generator().manual_seed(1))


def _same(ours, ref, x):
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref.eval()(x), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------- timm / DeiT
def test_plain_timm_vit_logits_and_features(tmp_path):
    ref = _timm("vit_base_patch16_224", img_size=32, patch_size=8, num_classes=7)
    torch.save({"model": ref.state_dict()}, tmp_path / "vit.pth")
    ours = load_model(tmp_path / "vit.pth", num_classes=7)
    assert (ours.patch_embed.patch_size, ours.grid_size, ours.num_heads) == (8, (4, 4), 2)
    x = _images(32)
    _same(ours, ref, x)
    with torch.no_grad():
        feats = ref.forward_head(ref.forward_features(x), pre_logits=True)
        torch.testing.assert_close(ours.forward_features(x), feats, atol=1e-5, rtol=0)
        torch.testing.assert_close(
            ours.forward_tokens(x), ref.forward_features(x), atol=1e-5, rtol=0
        )
    bare = load_model(tmp_path / "vit.pth")  # num_classes=0: the CLS feature
    torch.testing.assert_close(bare(x), ours.forward_features(x), atol=0, rtol=0)


def test_deit_distilled_averages_the_two_heads(tmp_path):
    ref = _timm("deit_tiny_distilled_patch16_224", img_size=32, patch_size=8, num_classes=5)
    torch.save(ref.state_dict(), tmp_path / "deit.pth")
    ours = load_model(tmp_path / "deit.pth", num_classes=5)
    assert ours.distilled and ours.num_prefix_tokens == 2
    assert {"dist_token", "cls_token", "pos_embed"} <= ours.no_weight_decay()
    x = _images(32)
    _same(ours, ref, x)
    ours.train()  # DeiT's inference average in train mode too (no dropout here)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref.eval()(x), atol=1e-5, rtol=0)
        cls, dist = ours.forward_features_pair(x)
        tokens = ref.forward_features(x)
        torch.testing.assert_close(torch.stack([cls, dist], 1), tokens[:, :2], atol=1e-5, rtol=0)
    plain = build_vit("vit_nano", 5, img_size=32, patch_size=8, **SMALL)
    report = load_pretrained(plain, tmp_path / "deit.pth")  # distillation token dropped
    assert {"dist_token", "head_dist.weight"} <= set(report.dropped)


def test_torchvision_layout_and_transfg_arch(tmp_path):
    tv_vit = pytest.importorskip("torchvision.models.vision_transformer")
    torch.manual_seed(0)
    ref = _randomise(
        tv_vit.VisionTransformer(
            image_size=32,
            patch_size=8,
            num_layers=2,
            num_heads=2,
            hidden_dim=128,
            mlp_dim=256,
            num_classes=4,
        )
    )
    torch.save(ref.state_dict(), tmp_path / "tv.pth")
    _same(load_model(tmp_path / "tv.pth", num_classes=4), ref, _images(32))
    transfg = load_model(tmp_path / "tv.pth", arch="transfg", img_size=40, stride=6)
    assert type(transfg).__name__ == "TransFG" and transfg.grid_size == (6, 6)
    assert transfg.forward_features(_images(40)).shape == (2, 128)


def test_layer_scale_checkpoint_refused_by_a_plain_model(tmp_path):
    ref = _timm("vit_small_patch14_dinov2", img_size=56, num_classes=0)
    torch.save(ref.state_dict(), tmp_path / "ls.pth")
    plain = build_vit("vit_nano", 0, img_size=56, patch_size=14, **SMALL)
    before = plain.pos_embed.detach().clone()
    with pytest.raises(ValueError, match="LayerScale"):
        load_pretrained(plain, tmp_path / "ls.pth", strict=False)
    assert torch.equal(plain.pos_embed, before)


# ------------------------------------------------------------------------------ DINOv2
def _dinov2_original(ref):
    """timm's DINOv2 state dict back in facebookresearch/dinov2's layout (the inverse of
    timm's _convert_dinov2): ``mask_token``, ``register_tokens``, CLS position in pos_embed."""
    sd = dict(ref.state_dict())
    sd["mask_token"] = torch.randn(1, sd["cls_token"].shape[-1])
    if "reg_token" in sd:
        cls_pos = torch.randn_like(sd["cls_token"])
        sd["register_tokens"] = sd.pop("reg_token")
        sd["pos_embed"] = torch.cat([cls_pos, sd["pos_embed"]], dim=1)
        sd["cls_token"] = sd["cls_token"] - cls_pos
    return sd


@pytest.mark.parametrize("name", ["vit_small_patch14_dinov2", "vit_small_patch14_reg4_dinov2"])
def test_dinov2_original_layout(tmp_path, name):
    ref = _timm(name, img_size=56, num_classes=0)
    torch.save(_dinov2_original(ref), tmp_path / "dinov2.pth")
    ours = load_model(tmp_path / "dinov2.pth")
    regs = 4 if "reg4" in name else 0
    assert (ours.patch_embed.patch_size, ours.grid_size, ours.reg_tokens) == (14, (4, 4), regs)
    assert ours.init_values is not None and ours.no_embed_class == bool(regs)
    assert ours.num_prefix_tokens == 1 + regs
    x = _images(56)
    _same(ours, ref, x)
    with torch.no_grad():
        torch.testing.assert_close(
            ours.forward_tokens(x), ref.forward_features(x), atol=1e-5, rtol=0
        )


def test_dinov2_chunked_blocks_and_timm_layout(tmp_path):
    ref = _timm("vit_small_patch14_reg4_dinov2", img_size=56, num_classes=0)
    sd = {k.replace("blocks.", "blocks.0.", 1): v for k, v in _dinov2_original(ref).items()}
    torch.save(sd, tmp_path / "chunked.pth")
    _same(load_model(tmp_path / "chunked.pth"), ref, _images(56))
    torch.save(ref.state_dict(), tmp_path / "timm.pth")  # timm's own reg4 layout
    _same(load_model(tmp_path / "timm.pth"), ref, _images(56))


def test_dinov2_position_embedding_interpolated_like_timm(tmp_path):
    ref = _timm("vit_small_patch14_dinov2", img_size=56, num_classes=0)
    torch.save(_dinov2_original(ref), tmp_path / "dinov2.pth")
    big = timm.create_model(
        "vit_small_patch14_dinov2", pretrained=False, img_size=84, num_classes=0, **SMALL
    ).eval()
    sd = timm_vit.checkpoint_filter_fn(_dinov2_original(ref), big, antialias=False)
    big.load_state_dict(sd)
    ours = load_model(tmp_path / "dinov2.pth", img_size=84)
    assert ours.grid_size == (6, 6)
    _same(ours, big, _images(84))


def test_dinov2_preset_takes_the_weights():
    model = build_vit("dinov2_s_reg4", 0, img_size=56, patch_size=14, **SMALL)
    ref = _timm("vit_small_patch14_reg4_dinov2", img_size=56, num_classes=0)
    model.load_state_dict(ref.state_dict())
    _same(model, ref, _images(56))


# ---------------------------------------------------------------------------- Google .npz
def _to_google_npz(ref, path, big_vision=False):
    """A timm ViT's weights in Google's .npz layout (classic, or big_vision stacked)."""
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    d, heads = sd["cls_token"].shape[-1], ref.blocks[0].attn.num_heads
    out = {
        "embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
        "embedding/bias": sd["patch_embed.proj.bias"],
        "cls": sd["cls_token"],
        "Transformer/encoder_norm/scale": sd["norm.weight"],
        "Transformer/encoder_norm/bias": sd["norm.bias"],
        "head/kernel": sd["head.weight"].T,
        "head/bias": sd["head.bias"],
        "pre_logits/kernel": np.zeros((d, d), np.float32),
    }
    out["pos_embedding" if big_vision else "Transformer/posembed_input/pos_embedding"] = sd[
        "pos_embed"
    ]
    ln2, mha, mlp = (
        ("LayerNorm_1", "MultiHeadDotProductAttention_0", "MlpBlock_0")
        if big_vision
        else ("LayerNorm_2", "MultiHeadDotProductAttention_1", "MlpBlock_3")
    )
    blocks = []
    for i in range(len(ref.blocks)):
        b = lambda n, i=i: sd[f"blocks.{i}.{n}"]  # noqa: E731
        wq, wk, wv = np.split(b("attn.qkv.weight"), 3)
        bq, bk, bv = np.split(b("attn.qkv.bias"), 3)
        blk = {
            "LayerNorm_0/scale": b("norm1.weight"),
            "LayerNorm_0/bias": b("norm1.bias"),
            f"{ln2}/scale": b("norm2.weight"),
            f"{ln2}/bias": b("norm2.bias"),
            f"{mha}/out/kernel": b("attn.proj.weight").T.reshape(heads, -1, d),
            f"{mha}/out/bias": b("attn.proj.bias"),
        }
        for n, w_, b_ in (("query", wq, bq), ("key", wk, bk), ("value", wv, bv)):
            blk[f"{mha}/{n}/kernel"] = w_.T.reshape(d, heads, -1)
            blk[f"{mha}/{n}/bias"] = b_.reshape(heads, -1)
        for r in (0, 1):
            blk[f"{mlp}/Dense_{r}/kernel"] = b(f"mlp.fc{r + 1}.weight").T
            blk[f"{mlp}/Dense_{r}/bias"] = b(f"mlp.fc{r + 1}.bias")
        blocks.append(blk)
    for k in blocks[0]:
        if big_vision:
            out[f"Transformer/encoderblock/{k}"] = np.stack([blk[k] for blk in blocks])
        else:
            out.update(
                {f"Transformer/encoderblock_{i}/{k}": blk[k] for i, blk in enumerate(blocks)}
            )
    np.savez(path, **out)
    return out


@pytest.mark.parametrize("big_vision", [False, True])
def test_google_npz_matches_timm_loader(tmp_path, big_vision):
    src = _timm(
        "vit_base_patch16_224", img_size=32, patch_size=8, num_classes=6, embed_dim=96, num_heads=3
    )  # 96 / 3 heads: only the npz knows the heads
    path = tmp_path / "ViT.npz"
    _to_google_npz(src, path, big_vision)
    ref = timm.create_model(
        "vit_base_patch16_224",
        pretrained=False,
        img_size=32,
        patch_size=8,
        num_classes=6,
        embed_dim=96,
        depth=2,
        num_heads=3,
    ).eval()
    timm_vit._load_weights(ref, str(path))
    ours = load_model(path, num_classes=6)
    assert ours.num_heads == 3
    x = _images(32)
    _same(ours, ref, x)
    _same(ours, src, x)


def test_google_npz_into_a_preset_model(tmp_path):
    src = _timm("vit_base_patch16_224", img_size=32, patch_size=8, num_classes=6)
    _to_google_npz(src, tmp_path / "ViT.npz")
    model = build_vit("vit_nano", 6, img_size=32, patch_size=8, **SMALL)
    report = load_pretrained(model, tmp_path / "ViT.npz")
    assert report.source == "google_npz" and report.dropped == ["pre_logits/kernel"]
    _same(model, src, _images(32))


def test_npz_without_the_expected_arrays(tmp_path):
    src = _timm("vit_base_patch16_224", img_size=32, patch_size=8, num_classes=6)
    arrays = _to_google_npz(src, tmp_path / "ok.npz")
    del arrays["Transformer/encoderblock_1/MlpBlock_3/Dense_0/kernel"]
    np.savez(tmp_path / "holed.npz", **arrays)
    with pytest.raises(ValueError, match=r"holed\.npz.*MlpBlock_3/Dense_0/kernel"):
        load_model(tmp_path / "holed.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match=r"other\.npz: cannot tell the checkpoint format"):
        load_model(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz"):
        load_model(tmp_path / "junk.npz")


# --------------------------------------------------------------------------- safetensors
def test_safetensors_round_trip_with_the_reference_package(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    g = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "f64": torch.randn(2, generator=g).double(),
        "i64": torch.arange(-3, 3),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    st.save_file(tensors, tmp_path / "ref.safetensors", metadata={"format": "pt"})
    ours = read_safetensors(tmp_path / "ref.safetensors")
    assert set(ours) == set(tensors)
    for k, v in tensors.items():
        assert ours[k].dtype == v.dtype and torch.equal(ours[k], v), k
    save_safetensors(tensors, tmp_path / "ours.safetensors", metadata={"by": "taxovit"})
    theirs = st.load_file(tmp_path / "ours.safetensors")
    assert all(torch.equal(theirs[k], v) and theirs[k].dtype == v.dtype for k, v in tensors.items())


def test_safetensors_checkpoint_loads(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    ref = _timm("vit_small_patch14_reg4_dinov2", img_size=56, num_classes=3)
    st.save_file(ref.state_dict(), tmp_path / "model.safetensors")
    _same(load_model(tmp_path / "model.safetensors", num_classes=3), ref, _images(56))


def test_bad_safetensors_files_name_the_file(tmp_path):
    ok = tmp_path / "ok.safetensors"
    save_safetensors({"a": torch.randn(64, 64)}, ok)
    data = ok.read_bytes()
    cases = {
        "truncated": (data[:-100], "do not hold shape"),
        "tiny": (data[:5], "shorter than the 8-byte header length"),
        "header": (data[:8] + b"{not json" + data[17:], "header is not JSON"),
        "length": ((10**12).to_bytes(8, "little") + data[8:], "header length"),
    }
    for name, (blob, why) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(blob)
        with pytest.raises(
            ValueError, match=rf"{name}\.safetensors: not a valid safetensors.*{why}"
        ):
            read_safetensors(path)
        with pytest.raises(ValueError, match=rf"{name}\.safetensors"):
            load_model(path)


# ------------------------------------------------------------------- model options / config
def test_hook_sees_each_block_and_may_insert_tokens():
    model = _randomise(
        VisionTransformer(
            img_size=16,
            patch_size=8,
            num_classes=0,
            depth=3,
            embed_dim=32,
            num_heads=2,
            distilled=True,
            reg_tokens=2,
        )
    )
    seen = []

    def hook(i, x):
        seen.append((i, x.shape[1]))
        if i == 1:  # two prompt tokens after the prefix tokens
            p = model.num_prefix_tokens
            x = torch.cat([x[:, :p], torch.zeros(x.shape[0], 2, x.shape[2]), x[:, p:]], dim=1)
        return x

    x = _images(16)
    out = model.forward_tokens(x, hook)
    assert seen == [(0, 8), (1, 8), (2, 10)] and out.shape == (2, 10, 32)
    torch.testing.assert_close(model.forward_features(x), model.forward_tokens(x)[:, 0])
    assert model.no_weight_decay() == {"pos_embed", "cls_token", "dist_token", "reg_token"}


def test_layer_options_change_parameters_only_when_asked():
    plain = VisionTransformer(img_size=16, patch_size=8, depth=1, embed_dim=32, num_heads=2)
    assert not any(
        k.startswith(("dist", "reg", "head_dist")) or "ls1" in k for k in plain.state_dict()
    )
    scaled = VisionTransformer(
        img_size=16,
        patch_size=8,
        depth=1,
        embed_dim=32,
        num_heads=2,
        init_values=0.5,
        no_embed_class=True,
    )
    assert torch.equal(scaled.blocks[0].ls2.gamma, torch.full((32,), 0.5))
    assert scaled.pos_embed.shape == (1, 4, 32)


def test_head_count_rule_and_override(tmp_path):
    ref = _timm(
        "vit_base_patch16_224", img_size=32, patch_size=8, num_classes=0, embed_dim=96, num_heads=3
    )
    torch.save(ref.state_dict(), tmp_path / "w96.pth")
    with pytest.raises(ValueError, match=r"w96\.pth: embed_dim 96 .* pass num_heads"):
        load_model(tmp_path / "w96.pth")
    _same(load_model(tmp_path / "w96.pth", num_heads=3), ref, _images(32))


def test_config_preset_auto(tmp_path):
    ref = _timm("vit_small_patch14_reg4_dinov2", img_size=56, num_classes=0)
    torch.save(_dinov2_original(ref), tmp_path / "dinov2.pth")
    cfg = merge_config(
        {
            "taxonomy": "t",
            "method": "ce",
            "data": {"img_size": 56, "in_chans": 3},
            "model": {"preset": "auto", "pretrained": str(tmp_path / "dinov2.pth")},
        }
    )
    net = build_online(cfg, 4)
    with torch.no_grad():
        torch.testing.assert_close(
            net.eval()(_images(56))["features"], ref(_images(56)), atol=1e-5, rtol=0
        )
    with pytest.raises(ConfigError, match="model.pretrained: required with model.preset auto"):
        merge_config({"taxonomy": "t", "model": {"preset": "auto"}})
    torch.save(
        {
            "config": cfg.to_dict(),
            "model_description": net.backbone.describe(),
            "model": net.state_dict(),
        },
        tmp_path / "run.pt",
    )  # a taxovit run
    again = load_model(tmp_path / "run.pt", num_classes=4)
    x = _images(56)
    torch.testing.assert_close(again(x), net(x)["logits"], atol=1e-5, rtol=0)
    (tmp_path / "bad.safetensors").write_bytes(b"\x01")
    cfg.model.pretrained = str(tmp_path / "bad.safetensors")
    with pytest.raises(ConfigError, match=r"model.pretrained .*bad\.safetensors: cannot load it"):
        build_online(cfg, 4)


def test_conv_stem_checkpoint_round_trip_and_grey_adaptation(tmp_path):
    """A conv-stem backbone (``model.stem: conv``) loads back unchanged; into a grey model the
    stem's first convolution, not the patch projection, takes the channel average."""
    kw = {"img_size": 28, "patch_size": 4, "stem": "conv", "num_classes": 0, **SMALL}
    src = _randomise(VisionTransformer(in_chans=1, **kw))
    torch.save(src.state_dict(), tmp_path / "grey.pt")
    with pytest.raises(ValueError, match=r"grey\.pt: checkpoints with a convolutional stem"):
        load_model(tmp_path / "grey.pt")  # the patch size is not in a bare conv stem's weights
    ours = VisionTransformer(in_chans=1, **kw)
    report = load_pretrained(ours, tmp_path / "grey.pt")
    assert not report.patch_embed_channels_adapted
    _same(ours, src, _images(28, chans=1))
    rgb = _randomise(VisionTransformer(in_chans=3, **kw))
    torch.save(rgb.state_dict(), tmp_path / "rgb.pt")
    grey = VisionTransformer(in_chans=1, **kw)
    assert load_pretrained(grey, tmp_path / "rgb.pt").patch_embed_channels_adapted
    x = _images(28, chans=1)
    with torch.no_grad():  # a grey image is the RGB image with three equal channels
        torch.testing.assert_close(grey.eval()(x), rgb(x.repeat(1, 3, 1, 1)), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "model",
    [
        {"patch_size": 4},
        {"patch_size": 4, "stem": "conv"},
        {"patch_size": 7, "stem": "conv"},
        {"patch_size": 4, "stride": 2},
    ],
)
def test_run_checkpoint_gives_the_ema_weights_as_predict_does(tmp_path, model):
    """``load_model`` on a ``taxovit train`` checkpoint takes ``model_ema`` (what predict and
    the kNN evaluation use), not the online weights; a checkpoint without an EMA gives ``model``.
    The run's config gives what the weights leave open: a conv stem's patch size, the stride."""
    from types import SimpleNamespace

    from taxovit.training.run.predict import _network

    cfg = merge_config(
        {
            "taxonomy": "t",
            "method": "ce",
            "data": {"img_size": 28, "in_chans": 1},
            "model": {"preset": "vit_micro", **model},
        }
    )
    online, ema = (_randomise(build_online(cfg, 4), seed) for seed in (0, 1))
    space = SimpleNamespace(train_names=["a", "b", "c", "d"])
    ck = {
        "config": cfg.to_dict(),
        "model_description": online.backbone.describe(),
        "label_space": {"train_names": space.train_names},
        "model": online.state_dict(),
        "model_ema": ema.state_dict(),
    }
    torch.save(ck, tmp_path / "run.pt")
    x = _images(28, chans=1)
    with torch.no_grad():
        loaded = load_model(tmp_path / "run.pt", num_classes=4).eval()(x)
        torch.testing.assert_close(loaded, ema.eval()(x)["logits"], atol=1e-5, rtol=0)
        predicted = _network(ck, cfg, space, tmp_path / "run.pt").eval()(x)["logits"]
        torch.testing.assert_close(loaded, predicted, atol=1e-5, rtol=0)
        torch.save({**ck, "model_ema": None}, tmp_path / "no_ema.pt")
        plain = load_model(tmp_path / "no_ema.pt", num_classes=4).eval()(x)
        torch.testing.assert_close(plain, online.eval()(x)["logits"], atol=1e-5, rtol=0)
