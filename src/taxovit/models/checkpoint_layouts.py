"""Published ViT checkpoint layouts, converted to ours (timm's parameter names).

Each converter takes the file's tensors and returns a :class:`Converted` state dict in the
timm layout (``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.{i}.attn.qkv``...).

``timm``
    timm, DeiT (``dist_token``, ``head_dist``) and taxovit's own ViT state dicts: as they are.
``taxovit``
    a ``taxovit train`` network (``backbone.*`` + ``head``/``head_dist`` on the training
    classes, taken as the ViT's heads; projector, predictor and the like dropped).
``torchvision``
    ``torchvision.models.vit_*``: ``conv_proj``, ``class_token``, ``encoder.pos_embedding``,
    ``encoder.layers.encoder_layer_{i}.{ln_1, self_attention.in_proj_*, mlp.0, mlp.3}``.
``dinov2``
    facebookresearch/dinov2 (``torch.hub`` state dicts): timm names plus ``mask_token``
    (dropped: masked-image modelling only), ``register_tokens`` (1, R, D) and
    ``blocks.{chunk}.{i}`` for chunked blocks. Registers carry no position embedding while
    the CLS token's is ``pos_embed[:, 0]``; as timm's ``_convert_dinov2`` does, that entry
    is folded into ``cls_token`` (a constant) and the rest is a patch-only embedding
    (``no_embed_class``). SwiGLU feed-forwards (ViT-g's ``mlp.w12``) are not supported.
``google_npz``
    Google's JAX ``.npz`` files (google-research/vision_transformer, big_vision; read by timm's
    ``_load_weights``): ``embedding/kernel`` (kh, kw, in, out) -> OIHW conv weight, ``cls``,
    ``Transformer/posembed_input/pos_embedding``, ``Transformer/encoder_norm/{scale,bias}``,
    ``head/{kernel,bias}`` (kernels are (in, out): transposed), and per block
    ``Transformer/encoderblock_{i}/``: ``LayerNorm_0`` -> norm1, ``LayerNorm_2`` -> norm2,
    ``MultiHeadDotProductAttention_1/{query,key,value}/kernel`` (D, heads, head_dim) fused
    into ``attn.qkv.weight = [Wq; Wk; Wv]`` with ``Wq = kernel.reshape(D, D).T`` (biases
    (heads, head_dim) flattened), ``out/kernel`` (heads, head_dim, D) -> ``attn.proj``,
    ``MlpBlock_3/Dense_{0,1}`` -> ``mlp.fc{1,2}``. big_vision's variant (``pos_embedding``
    at the top, ``LayerNorm_1``, ``MultiHeadDotProductAttention_0``, ``MlpBlock_0``, blocks
    optionally stacked on a leading axis in ``Transformer/encoderblock/``) and the
    ``opt/target/`` / ``params/`` prefixes are read too. The number of heads is read from the
    query kernel. ``pre_logits`` (the 21k representation layer) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["FORMATS", "Converted", "convert", "detect_format"]

FORMATS = ("timm", "taxovit", "torchvision", "dinov2", "google_npz")


class Converted(NamedTuple):
    """A state dict in our layout, where it came from, what was dropped on purpose, the
    head count when the file states it (Google's per-head kernels), and a taxovit run's
    model description."""

    state_dict: dict[str, Tensor]
    source: str
    dropped: list[str]
    num_heads: int | None = None
    #: the model description a ``taxovit train`` checkpoint carries
    #: (:meth:`~taxovit.models.VisionTransformer.describe`): what its weights leave open
    run_model: dict[str, Any] | None = None


# torchvision -> ours (timm layout), for keys under encoder.layers.encoder_layer_{i}.
_TV_BLOCK = {
    "ln_1": "norm1",
    "ln_2": "norm2",
    "self_attention.in_proj_weight": "attn.qkv.weight",
    "self_attention.in_proj_bias": "attn.qkv.bias",
    "self_attention.out_proj": "attn.proj",
    "mlp.0": "mlp.fc1",
    "mlp.3": "mlp.fc2",
    "mlp.linear_1": "mlp.fc1",  # torchvision < 0.13 naming
    "mlp.linear_2": "mlp.fc2",
}
_TV_TOP = {
    "class_token": "cls_token",
    "conv_proj.weight": "patch_embed.proj.weight",
    "conv_proj.bias": "patch_embed.proj.bias",
    "encoder.pos_embedding": "pos_embed",
    "encoder.ln.weight": "norm.weight",
    "encoder.ln.bias": "norm.bias",
    "heads.head.weight": "head.weight",
    "heads.head.bias": "head.bias",
}
_TV_LAYER = re.compile(r"^encoder\.layers\.encoder_layer_(\d+)\.(.+)$")
_NPZ_PREFIXES = ("", "opt/target/", "params/", "params/img/")
_CHUNKED = re.compile(r"^blocks\.\d+\.(\d+)\.(.+)$")


def _npz_prefix(sd: Mapping[str, Tensor]) -> str | None:
    for p in _NPZ_PREFIXES:
        if f"{p}embedding/kernel" in sd:
            return p
    return None


def detect_format(sd: Mapping[str, Tensor]) -> str:
    """One of :data:`FORMATS`, from the key names."""
    if _npz_prefix(sd) is not None:
        return "google_npz"
    if "backbone.patch_embed.proj.weight" in sd:
        return "taxovit"
    if "conv_proj.weight" in sd or any(k.startswith("encoder.layers.") for k in sd):
        return "torchvision"
    if "mask_token" in sd or "register_tokens" in sd:
        return "dinov2"
    if "patch_embed.proj.weight" in sd or any(k.startswith("blocks.0.") for k in sd):
        return "timm"
    raise ValueError(
        "cannot tell the checkpoint format: expected timm/DeiT/DINOv2 (patch_embed.proj, "
        "blocks.*), torchvision (conv_proj, encoder.layers.*) or Google .npz "
        f"(embedding/kernel, Transformer/...) keys; got e.g. {sorted(sd)[:8]}"
    )


def convert(sd: Mapping[str, Tensor], source: str | None = None) -> Converted:
    """``sd`` in our layout (``source`` detected when None). Unknown keys keep their names."""
    source = detect_format(sd) if source is None else source
    if source == "timm":
        return Converted(dict(sd), "timm", [])
    if source == "taxovit":
        return _from_network(sd)
    if source == "torchvision":
        return Converted(_from_torchvision(sd), "torchvision", [])
    if source == "dinov2":
        return _from_dinov2(sd)
    if source == "google_npz":
        return _from_google(sd)
    raise ValueError(f"unknown checkpoint format {source!r}; known: {', '.join(FORMATS)}")


def _from_network(sd: Mapping[str, Tensor]) -> Converted:
    """``taxovit.training.parts.network.Network``: the backbone and its classifier heads."""
    out, dropped = {}, []
    for k, v in sd.items():
        if k.startswith("backbone."):
            out[k[len("backbone.") :]] = v
        elif k.startswith(("head.", "head_dist.")):
            out[k] = v
        else:
            dropped.append(k)
    return Converted(out, "taxovit", sorted(dropped))


def _from_torchvision(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for k, v in sd.items():
        m = _TV_LAYER.match(k)
        if k in _TV_TOP:
            out[_TV_TOP[k]] = v
        elif m:
            i, rest = m.groups()
            for old, new in _TV_BLOCK.items():
                if rest == old or rest.startswith(old + "."):
                    out[f"blocks.{i}.{new}{rest[len(old) :]}"] = v
                    break
            else:
                out[k] = v
        else:
            out[k] = v
    return out


def _from_dinov2(sd: Mapping[str, Tensor]) -> Converted:
    if any(".mlp.w12." in k or ".mlp.w3." in k for k in sd):
        raise ValueError(
            "DINOv2 checkpoint with a SwiGLU feed-forward (ViT-g, mlp.w12/w3): "
            "not supported, only the MLP ones (ViT-S/B/L)"
        )
    out: dict[str, Tensor] = {}
    dropped = []
    for k, v in sd.items():
        m = _CHUNKED.match(k)
        if k == "mask_token":
            dropped.append(k)
        elif m:  # BlockChunk: blocks.{chunk}.{global index}.*
            out[f"blocks.{m.group(1)}.{m.group(2)}"] = v
        else:
            out[k] = v
    if "register_tokens" in out:
        pos = out["pos_embed"]
        out["reg_token"] = out.pop("register_tokens")
        out["cls_token"] = out["cls_token"] + pos[:, :1]
        out["pos_embed"] = pos[:, 1:]
    return Converted(out, "dinov2", dropped)


class _Npz:
    """Google arrays under a prefix, per block or stacked on a leading block axis."""

    def __init__(self, sd: Mapping[str, Tensor], prefix: str) -> None:
        self.sd, self.p, self.used = sd, prefix, set()
        self.stacked = f"{prefix}Transformer/encoderblock/LayerNorm_0/scale" in sd
        self.big_vision = (
            prefix.startswith("params/") or self.stacked or f"{prefix}pos_embedding" in sd
        )

    def get(self, name: str, block: int | None = None) -> Tensor:
        if block is not None:
            stem = "encoderblock/" if self.stacked else f"encoderblock_{block}/"
            name = f"Transformer/{stem}{name}"
        key = self.p + name
        if key not in self.sd:
            raise ValueError(f"Google ViT .npz: no array {key!r}")
        self.used.add(key)
        v = self.sd[key]
        return v[block] if self.stacked and block is not None else v

    def depth(self) -> int:
        if self.stacked:
            return int(self.sd[f"{self.p}Transformer/encoderblock/LayerNorm_0/scale"].shape[0])
        pat = re.compile(re.escape(self.p) + r"Transformer/encoderblock_(\d+)/")
        idx = {int(m.group(1)) for k in self.sd if (m := pat.match(k))}
        if idx != set(range(len(idx))) or not idx:
            raise ValueError(f"Google ViT .npz: encoder blocks {sorted(idx)} are not 0..L-1")
        return len(idx)


def _from_google(sd: Mapping[str, Tensor]) -> Converted:
    prefix = _npz_prefix(sd)
    if prefix is None:
        raise ValueError("Google ViT .npz: no embedding/kernel array")
    w = _Npz(sd, prefix)
    if f"{prefix}cls" not in sd:
        raise ValueError(
            "Google ViT .npz without a class token 'cls' (global-average or MAP "
            "pooling): not supported"
        )
    kernel = w.get("embedding/kernel")
    if kernel.ndim != 4:
        raise ValueError(
            f"Google ViT .npz: embedding/kernel has shape {tuple(kernel.shape)}, "
            "expected (kh, kw, in, out)"
        )
    out = {
        "patch_embed.proj.weight": kernel.permute(3, 2, 0, 1),
        "patch_embed.proj.bias": w.get("embedding/bias"),
        "cls_token": w.get("cls").reshape(1, 1, -1),
        "pos_embed": w.get(
            "pos_embedding"
            if f"{prefix}pos_embedding" in sd
            else "Transformer/posembed_input/pos_embedding"
        ),
        "norm.weight": w.get("Transformer/encoder_norm/scale"),
        "norm.bias": w.get("Transformer/encoder_norm/bias"),
    }
    heads = None
    for i in range(w.depth()):
        block, heads = _google_block(w, i)
        out.update({f"blocks.{i}.{k}": v for k, v in block.items()})
    if f"{prefix}head/kernel" in sd:
        out["head.weight"] = w.get("head/kernel").t()
        out["head.bias"] = w.get("head/bias")
    dropped = sorted(k for k in sd if k.startswith(f"{prefix}pre_logits/"))
    rest = {
        k: v for k, v in sd.items() if k.startswith(prefix) and k not in w.used and k not in dropped
    }
    out.update(rest)  # left under their names: a strict load reports them
    return Converted({k: v.contiguous() for k, v in out.items()}, "google_npz", dropped, heads)


def _google_block(w: _Npz, i: int) -> tuple[dict[str, Tensor], int]:
    """One encoder block in our names, and its head count."""
    ln2, mha, mlp = (
        ("LayerNorm_1", "MultiHeadDotProductAttention_0", "MlpBlock_0")
        if w.big_vision
        else ("LayerNorm_2", "MultiHeadDotProductAttention_1", "MlpBlock_3")
    )
    q = w.get(f"{mha}/query/kernel", i)
    if q.ndim != 3:
        raise ValueError(
            f"Google ViT .npz: block {i} query kernel has shape {tuple(q.shape)}, "
            "expected (D, heads, head_dim)"
        )
    qkv = [w.get(f"{mha}/{n}/kernel", i) for n in ("query", "key", "value")]
    out_kernel = w.get(f"{mha}/out/kernel", i)
    block = {
        "norm1.weight": w.get("LayerNorm_0/scale", i),
        "norm1.bias": w.get("LayerNorm_0/bias", i),
        "attn.qkv.weight": torch.cat([k.flatten(1).t() for k in qkv]),
        "attn.qkv.bias": torch.cat(
            [w.get(f"{mha}/{n}/bias", i).reshape(-1) for n in ("query", "key", "value")]
        ),
        "attn.proj.weight": out_kernel.reshape(-1, out_kernel.shape[-1]).t(),
        "attn.proj.bias": w.get(f"{mha}/out/bias", i),
        "norm2.weight": w.get(f"{ln2}/scale", i),
        "norm2.bias": w.get(f"{ln2}/bias", i),
    }
    for r in (0, 1):
        block[f"mlp.fc{r + 1}.weight"] = w.get(f"{mlp}/Dense_{r}/kernel", i).t()
        block[f"mlp.fc{r + 1}.bias"] = w.get(f"{mlp}/Dense_{r}/bias", i)
    return block, int(q.shape[1])
