"""The one table of backbone architectures, and the builder that uses it.

:func:`build_vit` and :func:`build_transfg` are thin wrappers over :func:`build_model` with
their own defaults.
"""

from __future__ import annotations

from typing import Any

from taxovit.models.transfg import TransFG
from taxovit.models.vit import VisionTransformer, preset_config

__all__ = ["ARCHITECTURES", "build_model", "build_transfg", "build_vit"]

#: architecture name -> model class (constructor arguments of VisionTransformer)
ARCHITECTURES: dict[str, type[VisionTransformer]] = {
    "vit": VisionTransformer,
    "transfg": TransFG,
}


def build_model(arch: str, preset: str, num_classes: int, **kwargs: Any) -> VisionTransformer:
    """An ``arch`` model of size ``preset`` (see :data:`~taxovit.models.vit.PRESETS`).

    ``kwargs`` are constructor arguments (``img_size``, ``patch_size``, ``stride``,
    ``in_chans``, ...); they override the preset's ``embed_dim``/``num_heads``/``depth`` and
    layout options (:data:`~taxovit.models.vit.PRESET_LAYOUTS`: LayerScale, registers).
    """
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    cfg = preset_config(preset)
    cfg.update(kwargs)
    return cls(num_classes=num_classes, **cfg)


def build_vit(
    preset: str,
    num_classes: int,
    img_size: int = 224,
    patch_size: int = 16,
    stride: int | None = None,
    in_chans: int = 3,
    **overrides,
) -> VisionTransformer:
    """Build a ViT from a preset (``vit_ti``, ``vit_s``, ``vit_b``, ``vit_l``, ``vit_h``, or
    the CPU-sized ``vit_nano`` / ``vit_micro``). ``overrides`` replace any constructor
    argument (``embed_dim``, ``depth``, ``num_heads``, ``mlp_ratio``, ``drop_path_rate``,
    ``attention="explicit"``...)."""
    return build_model(
        "vit",
        preset,
        num_classes,
        img_size=img_size,
        patch_size=patch_size,
        stride=stride,
        in_chans=in_chans,
        **overrides,
    )


def build_transfg(
    preset: str,
    num_classes: int,
    img_size: int = 448,
    patch_size: int = 16,
    stride: int | None = 12,
    in_chans: int = 3,
    **overrides,
) -> TransFG:
    """Build a TransFG model from a ViT preset. Defaults are the paper's setting (448 px,
    patch 16, overlapping stride 12). ``overrides`` also take ``rollout="chain"|"reference"``
    and ``rollout_chunk_elems``."""
    return build_model(
        "transfg",
        preset,
        num_classes,
        img_size=img_size,
        patch_size=patch_size,
        stride=stride,
        in_chans=in_chans,
        **overrides,
    )
