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
    """An ``arch`` model of size ``preset`` (see :data:`~taxovit.models.PRESETS`).

    Parameters
    ----------
    arch : str
        A key of :data:`ARCHITECTURES` (``"vit"`` or ``"transfg"``).
    preset : str
        A key of :data:`~taxovit.models.PRESETS` (``"vit_nano"``, ``"vit_b"``, ...).
    num_classes : int
        Classes of the linear head (0: identity head).
    **kwargs
        Constructor arguments (``img_size``, ``patch_size``, ``stride``, ``in_chans``, ...);
        they override the preset's ``embed_dim``/``num_heads``/``depth`` and layout options
        (:data:`~taxovit.models.PRESET_LAYOUTS`: LayerScale, registers).

    Returns
    -------
    VisionTransformer
        The model (a :class:`~taxovit.models.TransFG` for ``arch="transfg"``).

    Raises
    ------
    ValueError
        On an unknown architecture or preset, or invalid sizes.

    References
    ----------
    .. [1] Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.
    .. [2] He et al., "TransFG: A Transformer Architecture for Fine-Grained
    Recognition", AAAI 2022.

    Examples
    --------
    >>> from taxovit.models import build_model
    >>> type(build_model("vit", "vit_nano", 3, img_size=32, patch_size=8)).__name__
    'VisionTransformer'
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
    """Build a ViT from a preset.

    Parameters
    ----------
    preset : str
        ``vit_ti``, ``vit_s``, ``vit_b``, ``vit_l``, ``vit_h``, the DINOv2 ones, or the
        CPU-sized ``vit_nano`` / ``vit_micro``.
    num_classes : int
        Classes of the linear head (0: identity head).
    img_size, patch_size : int
        Input side and patch side in pixels.
    stride : int or None
        Patch stride (``None``: ``patch_size``, non-overlapping).
    in_chans : int
        Input channels.
    **overrides
        Any other constructor argument (``embed_dim``, ``depth``, ``num_heads``,
        ``mlp_ratio``, ``drop_path_rate``, ``attention="explicit"``...).

    Returns
    -------
    VisionTransformer

    Raises
    ------
    ValueError
        On an unknown preset or invalid sizes.

    References
    ----------
    .. [1] Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.
    .. [2] Touvron et al., "Training data-efficient image transformers & distillation
    through attention", ICML 2021.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import build_vit
    >>> model = build_vit("vit_nano", num_classes=5, img_size=32, patch_size=8)
    >>> model(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 5])
    """
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
    """Build a TransFG model from a ViT preset.

    Defaults are the paper's setting (448 px, patch 16, overlapping stride 12).

    Parameters
    ----------
    preset : str
        A key of :data:`~taxovit.models.PRESETS`.
    num_classes : int
        Classes of the linear head.
    img_size, patch_size : int
        Input side and patch side in pixels.
    stride : int or None
        Patch stride (12: overlapping patches; ``None``: ``patch_size``).
    in_chans : int
        Input channels.
    **overrides
        Other constructor arguments, also ``rollout="chain"|"reference"`` and
        ``rollout_chunk_elems``.

    Returns
    -------
    TransFG

    Raises
    ------
    ValueError
        On an unknown preset or invalid sizes.

    References
    ----------
    .. [1] He et al., "TransFG: A Transformer Architecture for Fine-Grained
    Recognition", AAAI 2022.
    .. [2] Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import build_transfg
    >>> model = build_transfg("vit_nano", 5, img_size=32, patch_size=8, stride=8)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 5])
    """
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
