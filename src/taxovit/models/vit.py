"""Vision Transformer (Dosovitskiy et al., ICLR 2021) in plain torch.

Parameter names follow the timm layout (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
``blocks.{i}.attn.qkv``...), so that timm/DeiT checkpoints map one to one and torchvision ones
through a fixed renaming (see :mod:`taxovit.models.weights`).

The patch embedding is a ``Conv2d`` with kernel ``patch_size`` and stride ``stride``; a stride
smaller than the patch gives TransFG's overlapping split (e.g. patch 16, stride 12).
``stem="conv"`` adds a small convolutional stem before it (see :class:`PatchEmbed`).

Options for the published layouts, all off by default (then the model, its parameter names
and its outputs are those of the plain ViT):

* ``init_values``: LayerScale (Touvron et al., CaiT 2021; used by DINOv2): each residual branch
  is scaled per channel, ``x + gamma_1 * attn(ln(x))``, ``x + gamma_2 * mlp(ln(x))``, with
  ``gamma`` initialised to ``init_values`` (timm names ``blocks.{i}.ls1.gamma``, ``ls2.gamma``).
* ``distilled``: DeiT's distillation token ``dist_token`` (Touvron et al., ICML 2021) and, with
  classes, a second head ``head_dist``; ``forward`` averages the two heads, as DeiT infers.
* ``reg_tokens``: learned register tokens ``reg_token`` (Darcet et al., "Vision Transformers
  need registers", ICLR 2024).
* ``no_embed_class``: the position embedding covers the patch tokens only and is added before
  the prefix tokens are prepended (timm's layout of DINOv2-with-registers, DeiT-III).

Token order (timm's): ``[cls, dist?, registers..., patches]``; ``num_prefix_tokens`` counts the
tokens before the patches.

The layers live in :mod:`taxovit.models.layers`, the presets in :mod:`taxovit.models.presets`
(both re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from taxovit.models.layers import (
    ATTENTION_KINDS,
    STEM_KINDS,
    Attention,
    Block,
    LayerScale,
    Mlp,
    PatchEmbed,
    conv_stem,
    grid_size,
    resample_pos_embed,
)
from taxovit.models.presets import PRESET_LAYOUTS, PRESETS, ViTLayout, ViTPreset, preset_config

__all__ = [
    "ATTENTION_KINDS",
    "PRESETS",
    "PRESET_LAYOUTS",
    "STEM_KINDS",
    "Attention",
    "Block",
    "Hook",
    "LayerScale",
    "Mlp",
    "PatchEmbed",
    "ViTLayout",
    "ViTPreset",
    "VisionTransformer",
    "conv_stem",
    "grid_size",
    "preset_config",
    "resample_pos_embed",
]


#: ``hook(i, tokens) -> tokens``, called before block ``i`` (see ``forward_tokens``)
Hook = Callable[[int, Tensor], Tensor]


class VisionTransformer(nn.Module):
    """ViT with a CLS token, learned position embeddings and a linear head on the CLS token.

    Images of another size than ``img_size`` are accepted: the position embedding is then
    resampled on the fly (bicubic), which is differentiable but costs a little each call.
    ``init_values`` / ``reg_tokens`` / ``distilled`` / ``no_embed_class`` are the layout
    options of the module docstring (defaults: the plain ViT). Usually built from a preset
    by :func:`~taxovit.models.build_vit` or rebuilt by :func:`~taxovit.models.load_model`.

    Parameters
    ----------
    img_size : int or (int, int), default 224
        Image side (or height, width) the position embedding is made for.
    patch_size : int, default 16
        Patch side in pixels (the kernel of the patch projection).
    stride : int or None, default None
        Patch stride; ``None``: ``patch_size`` (non-overlapping patches).
    in_chans : int, default 3
        Input channels.
    num_classes : int, default 1000
        Outputs of the zero-initialised linear head; 0: no head (``forward`` returns the
        ``(B, embed_dim)`` feature).
    embed_dim : int, default 768
        Token width (divisible by ``num_heads``).
    depth : int, default 12
        Transformer blocks.
    num_heads : int, default 12
        Attention heads per block.
    mlp_ratio : float, default 4.0
        MLP hidden width over ``embed_dim``.
    qkv_bias : bool, default True
        Bias on the fused qkv projection.
    drop_rate : float, default 0.0
        Dropout after the position embedding and in the blocks (MLP, attention output).
    attn_drop_rate : float, default 0.0
        Dropout on the attention probabilities.
    drop_path_rate : float, default 0.0
        Stochastic depth, rising linearly from 0 (first block) to this (last block).
    attention : {"sdpa", "explicit"}, default "sdpa"
        Fused ``scaled_dot_product_attention``, or an explicit softmax (its probabilities
        can be returned, as TransFG's reference selection needs).
    stem : {"patch", "conv"}, default "patch"
        One strided convolution, or a small convolutional stem before it
        (:class:`~taxovit.models.layers.PatchEmbed`).
    init_values : float or None, default None
        LayerScale's initial value (> 0); ``None``: no LayerScale.
    reg_tokens : int, default 0
        Register tokens.
    distilled : bool, default False
        Add DeiT's distillation token and head.
    no_embed_class : bool, default False
        Position embedding on the patch tokens only.

    Attributes
    ----------
    num_prefix_tokens : int
        Tokens before the patches: ``1 + distilled + reg_tokens``.
    grid_size : (int, int)
        Patch rows and columns at ``img_size``.
    arch : str
        ``"vit"``, this class's key in :data:`~taxovit.models.ARCHITECTURES`.

    Raises
    ------
    ValueError
        When ``depth < 1``, ``reg_tokens < 0``, ``init_values <= 0``, ``embed_dim`` is not
        divisible by ``num_heads``, the image is smaller than one patch, or ``attention`` or
        ``stem`` is unknown.

    References
    ----------
    .. [1] Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
       Recognition at Scale", ICLR 2021.
    .. [2] Touvron et al., "Training data-efficient image transformers & distillation
       through attention", ICML 2021 (the distillation token).
    .. [3] timm's ``VisionTransformer`` (``timm/models/vision_transformer.py``): the
       parameter names and token order.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import VisionTransformer
    >>> model = VisionTransformer(img_size=32, patch_size=8, num_classes=3, embed_dim=32,
    ...                           depth=2, num_heads=2)
    >>> x = torch.zeros(2, 3, 32, 32)
    >>> model(x).shape, model.forward_tokens(x).shape  # 1 CLS + 4 x 4 patches
    (torch.Size([2, 3]), torch.Size([2, 17, 32]))
    >>> model(torch.zeros(1, 3, 48, 48)).shape  # another size: pos_embed resampled
    torch.Size([1, 3])
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 16,
        stride: int | None = None,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        attention: str = "sdpa",
        stem: str = "patch",
        init_values: float | None = None,
        reg_tokens: int = 0,
        distilled: bool = False,
        no_embed_class: bool = False,
    ) -> None:
        super().__init__()
        _check_sizes(depth, reg_tokens, init_values)
        self.num_classes = int(num_classes)
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.depth = int(depth)
        self.in_chans = int(in_chans)
        self.init_values = None if init_values is None else float(init_values)
        self.reg_tokens = int(reg_tokens)
        self.distilled = bool(distilled)
        self.no_embed_class = bool(no_embed_class)
        self.num_prefix_tokens = 1 + int(self.distilled) + self.reg_tokens
        self.patch_embed = PatchEmbed(img_size, patch_size, stride, in_chans, embed_dim, stem)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if distilled else None
        self.reg_token = nn.Parameter(torch.zeros(1, reg_tokens, embed_dim)) if reg_tokens else None
        n_pos = self.patch_embed.num_patches + self.pos_embed_prefix
        self.pos_embed = nn.Parameter(torch.zeros(1, n_pos, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        sizes = (embed_dim, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate)
        self.blocks = nn.ModuleList(Block(*sizes, rate, attention, init_values) for rate in rates)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head: nn.Module = nn.Identity()
        self.head_dist: nn.Module | None = None
        self.reset_classifier(num_classes)
        self._init_weights()

    # -- construction ---------------------------------------------------------------------
    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.normal_(m.bias, std=1e-6)
        # after the plain ViT's draws, so that the default model's initialisation is unchanged
        if self.dist_token is not None:
            nn.init.trunc_normal_(self.dist_token, std=0.02)
        if self.reg_token is not None:
            nn.init.normal_(self.reg_token, std=1e-6)

    def _new_head(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        head = nn.Linear(self.embed_dim, num_classes)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        p = next(self.parameters(), None)
        if p is not None:
            head = head.to(device=p.device, dtype=p.dtype)
        return head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head (and ``head_dist`` when distilled) by a fresh zero
        ``Linear(embed_dim, num_classes)`` (0: identity)."""
        self.num_classes = int(num_classes)
        self.head = self._new_head(num_classes)
        if self.distilled:
            self.head_dist = self._new_head(num_classes)

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.patch_embed.grid_size

    @property
    def pos_embed_prefix(self) -> int:
        """How many prefix tokens have a position embedding (0 with ``no_embed_class``)."""
        return 0 if self.no_embed_class else self.num_prefix_tokens

    # -- forward --------------------------------------------------------------------------
    def _prefix(self, batch: int) -> list[Tensor]:
        tokens = [self.cls_token, self.dist_token, self.reg_token]
        return [t.expand(batch, -1, -1) for t in tokens if t is not None]

    def embed(self, x: Tensor) -> Tensor:
        """Prefix tokens + patch tokens, with the position embedding: ``(B, prefix + N, D)``.

        ``pos`` is added to ``[prefix, patches]`` (default) or to the patches only
        (``no_embed_class``)."""
        tokens, grid = self.patch_embed(x)
        pos = self.pos_embed
        if grid != self.patch_embed.grid_size:
            pos = resample_pos_embed(pos, grid, self.patch_embed.grid_size, self.pos_embed_prefix)
        prefix = self._prefix(tokens.shape[0])
        if self.no_embed_class:
            return self.pos_drop(torch.cat([*prefix, tokens + pos], dim=1))
        return self.pos_drop(torch.cat([*prefix, tokens], dim=1) + pos)

    def _run_blocks(self, x: Tensor, hook: Hook | None) -> Tensor:
        for i, blk in enumerate(self.blocks):
            if hook is not None:
                x = hook(i, x)
            x = blk(x)
        return x

    def forward_tokens(self, x: Tensor, hook: Hook | None = None) -> Tensor:
        """Every token after the final norm, ``(B, T, D)``.

        ``hook(i, tokens)`` (when given) is called right before block ``i`` and its result
        is what the block sees; it may change the sequence length (e.g. prompt tokens
        inserted after the ``num_prefix_tokens`` prefix tokens)."""
        return self.norm(self._run_blocks(self.embed(x), hook))

    def forward_features(self, x: Tensor) -> Tensor:
        """Final-normed CLS feature, ``(B, embed_dim)`` (``forward_tokens(x)[:, 0]``)."""
        return self.norm(self._run_blocks(self.embed(x), None)[:, 0])

    def forward_features_pair(self, x: Tensor, hook: Hook | None = None) -> tuple[Tensor, Tensor]:
        """Final-normed CLS and distillation-token features (``distilled`` models only)."""
        if not self.distilled:
            raise ValueError("forward_features_pair needs a model built with distilled=True")
        t = self._run_blocks(self.embed(x), hook)
        return self.norm(t[:, 0]), self.norm(t[:, 1])

    def forward_head(self, features: Tensor) -> Tensor:
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        """Head on the CLS feature; distilled: ``(head(cls) + head_dist(dist)) / 2`` in train
        and eval mode alike (DeiT's inference; training builds its own heads)."""
        if self.distilled:
            assert self.head_dist is not None
            cls, dist = self.forward_features_pair(x)
            return (self.head(cls) + self.head_dist(dist)) / 2
        return self.forward_head(self.forward_features(x))

    #: the name of this class in :data:`taxovit.models.ARCHITECTURES`
    arch = "vit"

    def describe(self) -> dict[str, Any]:
        """The model's description: its architecture (``arch``) and the constructor
        arguments that fix its layout (size, patches, stem, tokens; not the head, nor the
        training-time dropout rates). :func:`~taxovit.models.load_model` rebuilds the model
        from it; a ``taxovit train`` checkpoint stores its backbone's (``model_description``)."""
        pe, block = self.patch_embed, self.blocks[0]
        side = pe.img_size[0] if pe.img_size[0] == pe.img_size[1] else list(pe.img_size)
        return {
            "arch": self.arch,
            "img_size": side,
            "patch_size": pe.patch_size,
            "stride": None if pe.stride == pe.patch_size else pe.stride,
            "in_chans": self.in_chans,
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "num_heads": self.num_heads,
            "mlp_ratio": block.mlp.fc1.out_features / self.embed_dim,
            "qkv_bias": block.attn.qkv.bias is not None,
            "stem": "patch" if isinstance(pe.stem, nn.Identity) else "conv",
            "init_values": self.init_values,
            "reg_tokens": self.reg_tokens,
            "distilled": self.distilled,
            "no_embed_class": self.no_embed_class,
        }

    def layer_ids(self) -> dict[str, int]:
        """Parameter name -> layer, for layer-wise LR decay (BEiT, Bao et al. 2022; MAE, He
        et al. 2022; timm's ``group_matcher``): 0 for the patch embedding and the tokens
        before the blocks (CLS, position, distillation, register tokens), ``i + 1`` for
        ``blocks.i``, ``len(blocks) + 1`` for everything after (final norm, heads, and the
        parts of a subclass such as TransFG's part-selection block)."""
        top = len(self.blocks) + 1
        out = {}
        for name, _ in self.named_parameters():
            first, _, rest = name.partition(".")
            if first == "blocks":
                out[name] = int(rest.partition(".")[0]) + 1
            elif first in ("patch_embed", "pos_embed") or first.endswith(("token", "tokens")):
                out[name] = 0
            else:
                out[name] = top
        return out

    def no_weight_decay(self) -> set[str]:
        names = {"pos_embed", "cls_token"}
        if self.dist_token is not None:
            names.add("dist_token")
        if self.reg_token is not None:
            names.add("reg_token")
        return names


def _check_sizes(depth: int, reg_tokens: int, init_values: float | None) -> None:
    """The constructor's arguments that no layer checks itself."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if reg_tokens < 0:
        raise ValueError(f"reg_tokens must be >= 0, got {reg_tokens}")
    if init_values is not None and not init_values > 0:
        raise ValueError(f"init_values must be None or > 0, got {init_values}")
