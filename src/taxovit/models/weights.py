"""Load local ViT checkpoints into our models: timm / DeiT / DINOv2 / torchvision state dicts,
Google ``.npz`` files, and ``.safetensors`` files (read without the ``safetensors`` package).

Nothing is downloaded: ``path`` must be a local file. The reader is chosen by the file name:
``*.npz`` (NumPy archive, Google layout), ``*.safetensors``, anything else ``torch.load``
(``weights_only=True``). The key layouts are described in
:mod:`taxovit.models.checkpoint_layouts`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from taxovit.errors import ModelFileError
from taxovit.models.checkpoint_layouts import Converted, convert, detect_format
from taxovit.models.safetensors_io import read_safetensors
from taxovit.models.torch_files import load_torch_file
from taxovit.models.vit import VisionTransformer, resample_pos_embed

__all__ = [
    "LoadReport",
    "apply_checkpoint",
    "detect_format",
    "load_pretrained",
    "pos_embed_layout",
    "read_checkpoint",
]

_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "module")
_STRIP_PREFIXES = ("module.", "_orig_mod.")
_HEAD_PREFIXES = ("head.", "head_dist.")


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did (key names are the model's, timm's layout).

    Attributes
    ----------
    source : str
        The checkpoint's detected layout (``"timm"``, ``"torchvision"``, ``"google_npz"``...:
        :data:`taxovit.models.checkpoint_layouts.FORMATS`).
    loaded, missing, unexpected, dropped : list of str
        Keys loaded; the model's keys left as initialised; the checkpoint's keys the model
        lacks; the checkpoint's keys left out on purpose (a head of another size, a
        distillation token the model lacks).
    pos_embed_resampled : ((int, int), (int, int)) or None
        The position grid before and after a bicubic resampling; ``None`` when unchanged.
    patch_embed_channels_adapted : bool
        Whether the first convolution's input channels were adapted (3 -> 1 summed,
        1 -> C repeated).

    Examples
    --------
    >>> import os, tempfile
    >>> from taxovit.models import build_vit, load_pretrained, save_safetensors
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "vit.safetensors")
    ...     save_safetensors(build_vit("vit_nano", 5, img_size=32, patch_size=8).state_dict(), path)
    ...     report = load_pretrained(build_vit("vit_nano", 3, img_size=32, patch_size=8), path)
    >>> report.dropped, report.missing  # a 5-class head does not fit 3 classes
    (['head.bias', 'head.weight'], ['head.bias', 'head.weight'])
    """

    source: str  # one of checkpoint_layouts.FORMATS
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ours, left as initialised
    unexpected: list[str] = field(default_factory=list)  # theirs, not used
    dropped: list[str] = field(default_factory=list)  # theirs, deliberately not used
    pos_embed_resampled: tuple[tuple[int, int], tuple[int, int]] | None = None
    patch_embed_channels_adapted: bool = False


def _read_npz(path: str) -> dict[str, Tensor]:
    import numpy as np

    from taxovit._npy import ZIP_ERRORS, read_member

    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise ValueError("it holds one array, not an archive")
            return {
                k: torch.from_numpy(np.ascontiguousarray(read_member(f.zip, k))) for k in f.files
            }
    except (TypeError, ValueError, *ZIP_ERRORS) as e:
        raise ModelFileError(f"cannot read it as a NumPy .npz archive: {e}", file=path) from None


def _read_object(path: str | os.PathLike) -> Any:
    """What a checkpoint file holds: a dict of tensors, or ``torch.save``'s nested object."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    if path.endswith(".npz"):
        return _read_npz(path)
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return load_torch_file(path)


def read_checkpoint(path: str | os.PathLike) -> Converted:
    """A checkpoint file's state dict converted to our layout (format detected from keys).

    For a ``taxovit train`` checkpoint also the model description it carries
    (``model_description``, :meth:`~taxovit.models.VisionTransformer.describe`) as
    ``run_model``. A run checkpoint written before descriptions has none: its weights alone
    describe it.

    Parameters
    ----------
    path : str or os.PathLike
        A ``torch.save``, ``.safetensors`` or ``.npz`` file.

    Returns
    -------
    Converted
        ``state_dict`` (our key names), ``source`` (the detected layout), ``dropped`` keys
        and ``run_model``.

    Raises
    ------
    ModelFileError
        Naming the file when it is unreadable, unsafe or holds no state dict (a subclass
        of the project's ``InputError`` and of ``ValueError``).
    FileNotFoundError
        When there is no such file.

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
    >>> from taxovit.models import build_vit, read_checkpoint, save_safetensors
    >>> model = build_vit("vit_nano", num_classes=5, img_size=32, patch_size=8)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "vit.safetensors")
    ...     save_safetensors(model.state_dict(), path)
    ...     ckpt = read_checkpoint(path)
    >>> ckpt.source, len(ckpt.state_dict)
    ('timm', 44)
    """
    obj = _read_object(path)
    converted = convert(_unwrap(obj))
    if _is_run_checkpoint(obj) and isinstance(obj.get("model_description"), dict):
        converted = converted._replace(run_model=dict(obj["model_description"]))
    return converted


def _unwrap(obj) -> dict[str, Tensor]:
    """Find the state dict inside a checkpoint and strip DDP / torch.compile prefixes.

    A ``taxovit train`` checkpoint (top-level ``config`` and ``label_space``) gives the EMA of
    its weights (``model_ema``) when the run kept one, as ``taxovit predict`` does."""
    if _is_run_checkpoint(obj) and isinstance(obj.get("model_ema"), dict):
        obj = obj["model_ema"]
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


def _is_run_checkpoint(obj) -> bool:
    return isinstance(obj, dict) and "config" in obj and "label_space" in obj


def _adapt_in_chans(w: Tensor, in_chans: int) -> Tensor:
    src = w.shape[1]
    if src == in_chans:
        return w
    if in_chans == 1:
        return w.sum(dim=1, keepdim=True)
    if src == 1:
        return w.repeat(1, in_chans, 1, 1) / in_chans
    raise ValueError(f"cannot adapt a {src}-channel patch embedding to {in_chans} channels")


def pos_embed_layout(sd: dict[str, Tensor]) -> tuple[int, int]:
    """``(entries for prefix tokens, grid side)`` of a checkpoint's ``pos_embed``.

    The prefix tokens are CLS, ``dist_token`` and ``reg_token``'s; the embedding holds either
    one entry per prefix token and then a square grid (timm's default) or the grid alone
    (``no_embed_class``). When both readings are square grids, the grid alone is chosen for
    checkpoints with registers (the layout they are published in), else the prefix one."""
    n_pos = sd["pos_embed"].reshape(-1, sd["pos_embed"].shape[-1]).shape[0]
    n_reg = sd["reg_token"].shape[1] if "reg_token" in sd else 0
    n_prefix = 1 + int("dist_token" in sd) + n_reg
    for p in (0, n_prefix) if n_reg else (n_prefix, 0):
        side = math.isqrt(max(n_pos - p, 0))
        if n_pos > p and side * side == n_pos - p:
            return p, side
    raise ValueError(
        f"position embedding of {n_pos} tokens is neither {n_prefix} prefix "
        "tokens and a square grid nor a square grid"
    )


def _fit_pos_embed(
    sd: dict[str, Tensor],
    model: VisionTransformer,
    report: LoadReport,
    layout: tuple[int, int],
    had_dist: bool,
) -> None:
    """Put the checkpoint's position embedding (``layout``: :func:`pos_embed_layout`) on the
    model's prefix tokens and patch grid: a DeiT distillation entry (``had_dist``) is dropped
    (model without one) or copied from the CLS entry (model with one); the grid is resampled
    bicubically."""
    n_prefix, side = layout
    pe = sd["pos_embed"].reshape(1, -1, sd["pos_embed"].shape[-1])
    if pe.shape[-1] != model.embed_dim:
        raise ValueError(
            f"embedding width differs: checkpoint {pe.shape[-1]}, model {model.embed_dim}"
        )
    ours = model.pos_embed_prefix
    if (n_prefix == 0) != (ours == 0):
        raise ValueError(
            f"position embedding layouts differ: the checkpoint's covers "
            f"{n_prefix} prefix tokens, the model's {ours} (no_embed_class)"
        )
    prefix, grid = pe[:, :n_prefix], pe[:, n_prefix:]
    if ours and had_dist and not model.distilled:
        prefix = torch.cat([prefix[:, :1], prefix[:, 2:]], dim=1)
    elif ours and model.distilled and not had_dist:
        prefix = torch.cat([prefix[:, :1], prefix[:, :1], prefix[:, 1:]], dim=1)
    new_grid = model.patch_embed.grid_size
    pe = torch.cat([prefix, grid], dim=1)
    if (side, side) != tuple(new_grid):
        pe = resample_pos_embed(pe, new_grid, (side, side), prefix.shape[1])
        report.pos_embed_resampled = ((side, side), tuple(new_grid))
    sd["pos_embed"] = pe


def _fit_tokens(sd: dict[str, Tensor], model: VisionTransformer, report: LoadReport) -> None:
    """Registers and LayerScale must match; a distillation token the model lacks is dropped."""
    n_reg = sd["reg_token"].shape[1] if "reg_token" in sd else 0
    if n_reg != model.reg_tokens:
        raise ValueError(
            f"the checkpoint has {n_reg} register tokens, the model {model.reg_tokens} (reg_tokens)"
        )
    if "blocks.0.ls1.gamma" in sd and model.init_values is None:
        raise ValueError(
            "the checkpoint has LayerScale (blocks.*.ls1.gamma), the model none: "
            "build it with init_values (or use load_model / model.preset auto)"
        )
    if not model.distilled:
        for key in ("dist_token", "head_dist.weight", "head_dist.bias"):
            if sd.pop(key, None) is not None:
                report.dropped.append(key)


def load_pretrained(
    model: VisionTransformer, path: str | os.PathLike, strict: bool = True
) -> LoadReport:
    """Load a local checkpoint (any layout of :mod:`~taxovit.models.checkpoint_layouts`).

    * the format is detected from the keys; a full checkpoint with a ``"model"`` or
      ``"state_dict"`` entry is accepted, ``module.`` / ``_orig_mod.`` prefixes are stripped;
    * the grid part of the position embedding is resampled (bicubic) to the model's grid;
    * the heads are dropped (left as initialised) when the class count differs;
    * a DeiT distillation token (and its head) is dropped unless the model is ``distilled``;
      a distilled model loading a checkpoint without one keeps its own (position: CLS's);
    * a 3-channel patch embedding is summed over channels for a 1-channel model.

    Parameters
    ----------
    model : VisionTransformer
        Loaded in place; nothing is modified when an error is raised.
    path : str or os.PathLike
        The checkpoint file.
    strict : bool
        Raise on any other missing or unexpected key.

    Returns
    -------
    LoadReport
        What was loaded, missing, unexpected, dropped or resampled.

    Raises
    ------
    ModelFileError
        Naming the file when it cannot be read (an ``InputError`` and ``ValueError``).
    KeyError
        With ``strict=True``, on a missing or unexpected key.
    ValueError
        On a shape mismatch, or registers / LayerScale in only one of model and file.

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
    >>> from taxovit.models import build_vit, load_pretrained, save_safetensors
    >>> small = build_vit("vit_nano", num_classes=5, img_size=32, patch_size=8)
    >>> large = build_vit("vit_nano", num_classes=5, img_size=64, patch_size=8)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "vit.safetensors")
    ...     save_safetensors(small.state_dict(), path)
    ...     report = load_pretrained(large, path)
    >>> report.source, report.pos_embed_resampled
    ('timm', ((4, 4), (8, 8)))
    """
    return apply_checkpoint(model, read_checkpoint(path), strict, os.fspath(path))


def apply_checkpoint(
    model: VisionTransformer, ckpt: Converted, strict: bool = True, path: str = "checkpoint"
) -> LoadReport:
    """:func:`load_pretrained` on an already read checkpoint (``path`` names it in errors)."""
    sd = dict(ckpt.state_dict)
    report = LoadReport(source=ckpt.source, dropped=list(ckpt.dropped))
    ours = model.state_dict()
    layout = pos_embed_layout(sd) if "pos_embed" in sd else None
    had_dist = "dist_token" in sd
    _fit_tokens(sd, model, report)
    if layout is not None:
        _fit_pos_embed(sd, model, report, layout, had_dist)
    # the image's first convolution: the conv stem's when the model has one, else the patches'
    first = next(
        k
        for k in ("patch_embed.stem.0.weight", "patch_embed.proj.weight", "")
        if k in ours or not k
    )
    w = sd.get(first)
    if w is not None and w.ndim == 4 and w.shape[1] != model.in_chans:
        sd[first] = _adapt_in_chans(w, model.in_chans)
        report.patch_embed_channels_adapted = True
    for key in [k for k in sd if k.startswith(_HEAD_PREFIXES)]:
        if key not in ours or sd[key].shape != ours[key].shape:
            sd.pop(key)
            report.dropped.append(key)
    _check_keys(sd, ours, report, strict, path)
    to_load = {k: v for k, v in sd.items() if k in ours}
    model.load_state_dict(to_load, strict=False)
    report.loaded = sorted(to_load)
    return report


def _check_keys(
    sd: dict[str, Tensor], ours: dict[str, Tensor], report: LoadReport, strict: bool, path: str
) -> None:
    """Fill ``report.missing``/``unexpected``; raise on shape mismatches (and, with
    ``strict``, on missing keys other than the heads' and a new distillation token, or on
    unexpected keys)."""
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
        allowed = {k for k in ours if k.startswith(_HEAD_PREFIXES) or k == "dist_token"}
        missing = [k for k in report.missing if k not in allowed]
        if missing or report.unexpected:
            raise KeyError(
                f"checkpoint {path} ({report.source}) does not match the model: "
                f"missing {missing}, unexpected {report.unexpected}"
            )
