"""ViT sizes and layouts as data: :data:`PRESETS` (width, heads, depth) and
:data:`PRESET_LAYOUTS` (the options of the published layouts that are not plain ViTs)."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "ARCH_ONLY_ARGUMENTS",
    "ARCH_TITLES",
    "PRESETS",
    "PRESET_LAYOUTS",
    "ViTLayout",
    "ViTPreset",
    "preset_config",
]

#: architecture (:data:`taxovit.models.ARCHITECTURES`) -> its title in messages
ARCH_TITLES = {"vit": "ViT", "transfg": "TransFG"}
#: architecture -> the constructor arguments only it takes (beyond the ViT's)
ARCH_ONLY_ARGUMENTS: dict[str, tuple[str, ...]] = {"transfg": ("rollout", "rollout_chunk_elems")}


class ViTPreset(NamedTuple):
    """Size of a ViT: width, attention heads, blocks (unpacks as a plain tuple).

    The values of :data:`PRESETS`; :func:`~taxovit.models.build_vit` passes them to
    :class:`~taxovit.models.VisionTransformer`.

    Attributes
    ----------
    embed_dim : int
        Token width.
    num_heads : int
        Attention heads per block (``embed_dim`` is divisible by it).
    depth : int
        Transformer blocks.

    References
    ----------
    .. [1] Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
       Recognition at Scale", ICLR 2021 (ViT-B/L/H).
    .. [2] Touvron et al., "Training data-efficient image transformers & distillation
       through attention", ICML 2021 (DeiT-Ti/S: ``vit_ti``, ``vit_s``).

    Examples
    --------
    >>> from taxovit.models import PRESETS
    >>> PRESETS["vit_b"]
    ViTPreset(embed_dim=768, num_heads=12, depth=12)
    >>> width, heads, depth = PRESETS["vit_nano"]
    >>> width // heads  # per-head width
    16
    """

    embed_dim: int
    num_heads: int
    depth: int


class ViTLayout(NamedTuple):
    """Layout options of a preset (constructor arguments of :class:`VisionTransformer`; the
    defaults are the plain ViT's).

    The values of :data:`PRESET_LAYOUTS` (the DINOv2 presets).

    Attributes
    ----------
    init_values : float or None, default None
        LayerScale's initial value; ``None``: no LayerScale.
    reg_tokens : int, default 0
        Register tokens.
    no_embed_class : bool, default False
        Position embedding on the patch tokens only.

    References
    ----------
    .. [1] Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision",
       TMLR 2024.
    .. [2] Darcet et al., "Vision Transformers Need Registers", ICLR 2024.

    Examples
    --------
    >>> from taxovit.models import PRESET_LAYOUTS
    >>> PRESET_LAYOUTS["dinov2_s_reg4"]
    ViTLayout(init_values=1e-05, reg_tokens=4, no_embed_class=True)
    >>> "vit_b" in PRESET_LAYOUTS  # a plain ViT: the defaults
    False
    """

    init_values: float | None = None
    reg_tokens: int = 0
    no_embed_class: bool = False


#: name -> ViTPreset(embed_dim, num_heads, depth); the DINOv2 ones (Oquab et al. 2023) are
#: used with patch 14 (a builder / config argument) and have layout options in PRESET_LAYOUTS
PRESETS: dict[str, ViTPreset] = {
    # tiny presets for CPU tests
    "vit_nano": ViTPreset(32, 2, 3),
    "vit_micro": ViTPreset(64, 4, 4),
    # standard sizes (DeiT-Ti, DeiT-S / ViT-S, ViT-B, ViT-L, ViT-H)
    "vit_ti": ViTPreset(192, 3, 12),
    "vit_s": ViTPreset(384, 6, 12),
    "vit_b": ViTPreset(768, 12, 12),
    "vit_l": ViTPreset(1024, 16, 24),
    "vit_h": ViTPreset(1280, 16, 32),
    # DINOv2 ViT-S/B/L (LayerScale 1e-5), and with 4 registers (timm's *_reg4_dinov2 layout)
    "dinov2_s": ViTPreset(384, 6, 12),
    "dinov2_b": ViTPreset(768, 12, 12),
    "dinov2_l": ViTPreset(1024, 16, 24),
    "dinov2_s_reg4": ViTPreset(384, 6, 12),
    "dinov2_b_reg4": ViTPreset(768, 12, 12),
    "dinov2_l_reg4": ViTPreset(1024, 16, 24),
}
_DINOV2 = ViTLayout(init_values=1e-5)
_DINOV2_REG4 = ViTLayout(init_values=1e-5, reg_tokens=4, no_embed_class=True)
#: name -> ViTLayout, for the presets that are not plain ViTs
PRESET_LAYOUTS: dict[str, ViTLayout] = {
    **dict.fromkeys(("dinov2_s", "dinov2_b", "dinov2_l"), _DINOV2),
    **dict.fromkeys(("dinov2_s_reg4", "dinov2_b_reg4", "dinov2_l_reg4"), _DINOV2_REG4),
}


def preset_config(preset: str) -> dict[str, Any]:
    """The constructor arguments of a preset: ``embed_dim``, ``num_heads``, ``depth``, and
    its :data:`PRESET_LAYOUTS` options when it has some."""
    try:
        cfg: dict[str, Any] = PRESETS[preset]._asdict()
        if preset in PRESET_LAYOUTS:
            cfg.update(PRESET_LAYOUTS[preset]._asdict())
        return cfg
    except KeyError:
        raise ValueError(
            f"unknown ViT preset {preset!r}; known: {', '.join(sorted(PRESETS))}"
        ) from None
