"""Build the ViT a checkpoint file holds, from the file alone: :func:`load_model`.

What the weights say (after conversion to our layout, :mod:`~taxovit.models.checkpoint_layouts`):

* ``embed_dim``, ``in_chans``, ``patch_size``: ``patch_embed.proj.weight`` is
  ``(embed_dim, in_chans, patch, patch)``; the stride is taken equal to the patch;
* ``depth``: the blocks ``blocks.{i}.*``; ``mlp_ratio``: ``mlp.fc1`` rows / ``embed_dim``;
  ``qkv_bias``: whether ``attn.qkv.bias`` exists;
* ``init_values`` (LayerScale): whether ``blocks.0.ls1.gamma`` exists (its value only sets
  the initial gamma, which the checkpoint then overwrites);
* ``distilled``: ``dist_token``; ``reg_tokens``: ``reg_token``'s length;
* ``img_size`` and ``no_embed_class``: ``pos_embed`` is a square grid of side ``g``, with or
  without one entry per prefix token (see :func:`~taxovit.models.weights.pos_embed_layout`);
  ``img_size = g * patch``.

A ``taxovit train`` checkpoint also carries its backbone's description
(``model_description``, :meth:`~taxovit.models.VisionTransformer.describe`): the
architecture is taken from there (a convolutional stem hides the patch size from the
weights, an overlapping stride the image size). A run checkpoint written before descriptions
is read from its weights like any other file.

The number of heads is not in the weights of fused-qkv layouts. Rule: Google ``.npz`` files
state it (per-head kernels); otherwise ``embed_dim // 64``, the head width of ViT, DeiT and
DINOv2 at every size (Ti 192/3, S 384/6, B 768/12, L 1024/16, g 1536/24), except where
``(embed_dim, depth)`` is a preset of :data:`~taxovit.models.vit.PRESETS` (ViT-H: 1280/16,
head width 80), which wins. ``num_heads=`` overrides the rule.
"""

from __future__ import annotations

import os
import re
from typing import Any

from torch import Tensor

from taxovit.errors import ModelFileError
from taxovit.models.checkpoint_layouts import Converted
from taxovit.models.registry import ARCHITECTURES
from taxovit.models.vit import PRESETS, VisionTransformer
from taxovit.models.weights import apply_checkpoint, pos_embed_layout, read_checkpoint

__all__ = ["HEAD_DIM", "infer_architecture", "infer_num_heads", "load_model"]

#: head width of the rule in the module docstring
HEAD_DIM = 64
_BLOCK = re.compile(r"^blocks\.(\d+)\.")
#: LayerScale's initial value when a checkpoint has one (overwritten by the load)
_LAYER_SCALE_INIT = 1e-5


def infer_num_heads(embed_dim: int, depth: int) -> int:
    """Heads by the module docstring's rule: a matching preset's, else ``embed_dim // 64``."""
    for p in PRESETS.values():
        if (p.embed_dim, p.depth) == (embed_dim, depth):
            return p.num_heads
    if embed_dim % HEAD_DIM:
        raise ValueError(
            f"embed_dim {embed_dim} is not a multiple of {HEAD_DIM}: the head "
            "count cannot be inferred, pass num_heads"
        )
    return embed_dim // HEAD_DIM


def _need(sd: dict[str, Tensor], key: str) -> Tensor:
    if key not in sd:
        raise ValueError(f"not a ViT checkpoint: no {key!r} (after conversion to timm names)")
    return sd[key]


def infer_architecture(ckpt: Converted, num_heads: int | None = None) -> dict[str, Any]:
    """Constructor arguments of :class:`VisionTransformer` that fit ``ckpt`` (module doc)."""
    sd = ckpt.state_dict
    w = _need(sd, "patch_embed.proj.weight")
    if w.ndim != 4 or w.shape[-1] != w.shape[-2]:
        raise ValueError(
            f"patch embedding weight of shape {tuple(w.shape)}: expected a square "
            "(D, C, p, p) kernel"
        )
    if ckpt.run_model:  # a taxovit run: its description
        desc = {k: v for k, v in ckpt.run_model.items() if k != "arch"}
        return {**desc, **({"num_heads": int(num_heads)} if num_heads else {})}
    if any(k.startswith("patch_embed.stem.") for k in sd):
        raise ValueError(
            "checkpoints with a convolutional stem (other than taxovit runs, "
            "whose model description states the patch size): build the model "
            "yourself (stem='conv') and use load_pretrained"
        )
    embed_dim, in_chans, patch = (int(v) for v in w.shape[:3])
    blocks = {int(m.group(1)) for k in sd if (m := _BLOCK.match(k))}
    if not blocks or blocks != set(range(len(blocks))):
        raise ValueError(f"blocks {sorted(blocks)[:8]}... are not numbered 0..depth-1")
    depth = len(blocks)
    _need(sd, "pos_embed")
    n_pos_prefix, side = pos_embed_layout(sd)
    hidden = _need(sd, "blocks.0.mlp.fc1.weight").shape[0]
    heads = num_heads or ckpt.num_heads or infer_num_heads(embed_dim, depth)
    return {
        "img_size": side * patch,
        "patch_size": patch,
        "in_chans": in_chans,
        "embed_dim": embed_dim,
        "depth": depth,
        "num_heads": int(heads),
        "mlp_ratio": hidden / embed_dim,
        "qkv_bias": "blocks.0.attn.qkv.bias" in sd,
        "init_values": _LAYER_SCALE_INIT if "blocks.0.ls1.gamma" in sd else None,
        "reg_tokens": int(sd["reg_token"].shape[1]) if "reg_token" in sd else 0,
        "distilled": "dist_token" in sd,
        "no_embed_class": n_pos_prefix == 0,
    }


def load_model(
    path: str | os.PathLike,
    num_classes: int = 0,
    *,
    num_heads: int | None = None,
    arch: str = "vit",
    **overrides: Any,
) -> VisionTransformer:
    """The model a local checkpoint file holds, built from the file alone and loaded.

    Any layout :func:`~taxovit.models.load_pretrained` reads (timm, DeiT, DINOv2,
    torchvision, Google ``.npz``; ``torch.save`` or ``.safetensors`` files).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    num_classes : int
        0 gives an identity head (``forward`` = the CLS feature); otherwise the checkpoint's
        head is loaded when it has that many classes, else a zero-initialised one is made.
    num_heads : int, optional
        Attention heads (default: see the module docstring).
    arch : str
        ``"vit"`` or ``"transfg"``.
    **overrides
        Further constructor arguments (``img_size`` (position embedding then resampled),
        ``in_chans`` (patch kernel adapted), ``drop_path_rate``, ``attention``, ``stride``...).

    Returns
    -------
    VisionTransformer
        The loaded model (a :class:`~taxovit.models.TransFG` for ``arch="transfg"``).

    Raises
    ------
    ModelFileError
        Naming the file on a bad or unsafe checkpoint (a subclass of the project's
        ``InputError`` and of ``ValueError``).
    FileNotFoundError
        When there is no such file.
    ValueError
        On an unknown ``arch``.

    References
    ----------
    .. [1] Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.
    .. [2] Touvron et al., "Training data-efficient image transformers & distillation
    through attention", ICML 2021.
    .. [3] The safetensors format, https://github.com/huggingface/safetensors.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from taxovit.models import build_vit, load_model, save_safetensors
    >>> model = build_vit("vit_nano", num_classes=5, img_size=32, patch_size=8)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "vit.safetensors")
    ...     save_safetensors(model.state_dict(), path)
    ...     loaded = load_model(path, num_classes=5)
    >>> loaded.pos_embed.shape
    torch.Size([1, 17, 32])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     bad = os.path.join(d, "bad.safetensors")
    ...     _ = open(bad, "wb").write(b"xx")
    ...     load_model(bad)
    Traceback (most recent call last):
    ...
    taxovit.errors.ModelFileError: ...bad.safetensors: not a valid safetensors file...
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    path = os.fspath(path)
    try:
        ckpt = read_checkpoint(path)
        cfg = infer_architecture(ckpt, num_heads)
        cfg.update(overrides)
        model = ARCHITECTURES[arch](num_classes=num_classes, **cfg)
        apply_checkpoint(model, ckpt, strict=True, path=path)
    except ModelFileError:
        raise
    except (ValueError, KeyError, RuntimeError) as e:  # the file does not describe a model
        text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        raise ModelFileError(text.removeprefix(f"{path}: "), file=path) from None
    return model
