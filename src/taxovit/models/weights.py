"""Load local torchvision / timm / DeiT ViT checkpoints into our models.

Nothing is downloaded: ``path`` must be a local file (``torch.save`` output, or
``.safetensors`` when the ``safetensors`` package is installed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import torch
from torch import Tensor

from taxovit.models.vit import VisionTransformer, resample_pos_embed

__all__ = ["LoadReport", "convert_state_dict", "detect_format", "load_pretrained"]

_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "module")
_STRIP_PREFIXES = ("module.", "_orig_mod.")

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


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did."""

    source: str  # "torchvision" or "timm"
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ours, left as initialised
    unexpected: list[str] = field(default_factory=list)  # theirs, not used
    dropped: list[str] = field(default_factory=list)  # theirs, deliberately not used
    pos_embed_resampled: tuple[tuple[int, int], tuple[int, int]] | None = None
    patch_embed_channels_adapted: bool = False


def _read(path: str | os.PathLike) -> dict:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    if path.endswith(".safetensors"):
        try:
            from safetensors.torch import load_file
        except ImportError as e:  # pragma: no cover - optional dependency
            raise ImportError("reading .safetensors needs the 'safetensors' package") from e
        return load_file(path, device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def _unwrap(obj) -> dict[str, Tensor]:
    """Find the state dict inside a checkpoint and strip DDP / torch.compile prefixes."""
    while isinstance(obj, dict) and not any(isinstance(v, Tensor) for v in obj.values()):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        else:
            raise ValueError(
                "checkpoint holds no tensors at top level and no "
                f"{'/'.join(_WRAPPER_KEYS)} entry; keys: {sorted(obj)[:10]}"
            )
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint is a {type(obj).__name__}, not a state dict")
    sd = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    changed = True
    while changed:
        changed = False
        for p in _STRIP_PREFIXES:
            if sd and all(k.startswith(p) for k in sd):
                sd = {k[len(p) :]: v for k, v in sd.items()}
                changed = True
    return sd


def detect_format(sd: dict[str, Tensor]) -> str:
    """``"torchvision"`` or ``"timm"`` (timm, DeiT and our own checkpoints share names)."""
    if "conv_proj.weight" in sd or any(k.startswith("encoder.layers.") for k in sd):
        return "torchvision"
    if "patch_embed.proj.weight" in sd or any(k.startswith("blocks.0.") for k in sd):
        return "timm"
    raise ValueError(
        "cannot tell the checkpoint format: expected torchvision (conv_proj, encoder.layers.*) "
        f"or timm/DeiT (patch_embed.proj, blocks.*) keys; got e.g. {sorted(sd)[:8]}"
    )


def convert_state_dict(sd: dict[str, Tensor], source: str) -> dict[str, Tensor]:
    """Rename keys to our (timm) layout. Keys we do not know keep their names."""
    if source == "timm":
        return dict(sd)
    if source != "torchvision":
        raise ValueError(f"unknown source format {source!r}")
    out: dict[str, Tensor] = {}
    for k, v in sd.items():
        if k in _TV_TOP:
            out[_TV_TOP[k]] = v
            continue
        m = _TV_LAYER.match(k)
        if m:
            i, rest = m.groups()
            for old, new in _TV_BLOCK.items():
                if rest == old or rest.startswith(old + "."):
                    out[f"blocks.{i}.{new}{rest[len(old) :]}"] = v
                    break
            else:
                out[k] = v
            continue
        out[k] = v
    return out


def _adapt_in_chans(w: Tensor, in_chans: int) -> Tensor:
    src = w.shape[1]
    if src == in_chans:
        return w
    if in_chans == 1:
        return w.sum(dim=1, keepdim=True)
    if src == 1:
        return w.repeat(1, in_chans, 1, 1) / in_chans
    raise ValueError(f"cannot adapt a {src}-channel patch embedding to {in_chans} channels")


def load_pretrained(
    model: VisionTransformer, path: str | os.PathLike, strict: bool = True
) -> LoadReport:
    """Load a local torchvision ``vit_*`` or timm ``vit_*`` / DeiT checkpoint into ``model``.

    * the format is detected from the keys; a full checkpoint with a ``"model"`` or
      ``"state_dict"`` entry is accepted, ``module.`` / ``_orig_mod.`` prefixes are stripped;
    * the grid part of the position embedding is resampled (bicubic) to the model's grid
      (another resolution, another patch stride such as TransFG's overlapping split);
    * the head is dropped (left as initialised) when the class count differs;
    * a DeiT distillation token (and its head) is dropped;
    * a 3-channel patch embedding is summed over channels for a 1-channel model.

    With ``strict=True`` any other missing or unexpected key raises ``KeyError``; shape
    mismatches always raise ``ValueError``. Nothing is modified when an error is raised.
    """
    sd = _unwrap(_read(path))
    source = detect_format(sd)
    sd = convert_state_dict(sd, source)
    report = LoadReport(source=source)
    ours = model.state_dict()
    src_prefix = _drop_distillation(sd, report)
    if "pos_embed" in sd:
        sd["pos_embed"] = _fit_pos_embed(sd["pos_embed"], model, src_prefix, report)
    w = sd.get("patch_embed.proj.weight")
    if w is not None and w.ndim == 4 and w.shape[1] != model.in_chans:
        sd["patch_embed.proj.weight"] = _adapt_in_chans(w, model.in_chans)
        report.patch_embed_channels_adapted = True
    for key in ("head.weight", "head.bias"):
        if key in sd and (key not in ours or sd[key].shape != ours[key].shape):
            sd.pop(key)
            report.dropped.append(key)
    _check_keys(sd, ours, report, strict, os.fspath(path))
    to_load = {k: v for k, v in sd.items() if k in ours}
    model.load_state_dict(to_load, strict=False)
    report.loaded = sorted(to_load)
    return report


def _drop_distillation(sd: dict[str, Tensor], report: LoadReport) -> int:
    """Drop a DeiT distillation token and head (keep CLS); the checkpoint's prefix count."""
    src_prefix = 1
    for key in ("dist_token", "head_dist.weight", "head_dist.bias"):
        if key in sd:
            sd.pop(key)
            report.dropped.append(key)
            if key == "dist_token":
                src_prefix = 2
    if "reg_token" in sd:
        raise ValueError("checkpoints with register tokens are not supported")
    return src_prefix


def _fit_pos_embed(
    pe: Tensor, model: VisionTransformer, src_prefix: int, report: LoadReport
) -> Tensor:
    """The checkpoint's position embedding on the model's prefix tokens and patch grid."""
    n_prefix = model.num_prefix_tokens
    width = model.pos_embed.shape[-1]
    if pe.ndim == 2:
        pe = pe.unsqueeze(0)
    if pe.shape[-1] != width:
        raise ValueError(f"embedding width differs: checkpoint {pe.shape[-1]}, model {width}")
    pe = torch.cat([pe[:, :n_prefix], pe[:, src_prefix:]], dim=1)
    n_grid = pe.shape[1] - n_prefix
    side = int(round(n_grid**0.5))
    if side * side != n_grid:
        raise ValueError(
            f"checkpoint position embedding has {n_grid} grid tokens, not a square grid"
        )
    new_grid = model.patch_embed.grid_size
    if (side, side) != tuple(new_grid):
        pe = resample_pos_embed(pe, new_grid, (side, side), n_prefix)
        report.pos_embed_resampled = ((side, side), tuple(new_grid))
    return pe


def _check_keys(
    sd: dict[str, Tensor], ours: dict[str, Tensor], report: LoadReport, strict: bool, path: str
) -> None:
    """Fill ``report.missing``/``unexpected``; raise on shape mismatches (and, with
    ``strict``, on missing keys other than the head's or on unexpected keys)."""
    report.missing = sorted(k for k in ours if k not in sd)
    report.unexpected = sorted(k for k in sd if k not in ours)
    bad_shapes = [
        f"{k}: checkpoint {tuple(sd[k].shape)}, model {tuple(ours[k].shape)}"
        for k in sd
        if k in ours and sd[k].shape != ours[k].shape
    ]
    if bad_shapes:
        raise ValueError("shape mismatch in checkpoint " + path + ":\n  " + "\n  ".join(bad_shapes))
    if strict:
        head_keys = {k for k in ours if k.startswith("head.")}
        missing = [k for k in report.missing if k not in head_keys]
        if missing or report.unexpected:
            raise KeyError(
                f"checkpoint {path} ({report.source}) does not match the model: "
                f"missing {missing}, unexpected {report.unexpected}"
            )
