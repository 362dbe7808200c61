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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PRESETS", "PRESET_LAYOUTS", "STEM_KINDS", "Attention", "Block", "LayerScale", "Mlp",
           "PatchEmbed", "ViTLayout", "ViTPreset", "VisionTransformer", "conv_stem", "grid_size",
           "preset_config", "resample_pos_embed"]  # fmt: skip


class ViTPreset(NamedTuple):
    """Size of a ViT: width, attention heads, blocks (unpacks as a plain tuple)."""

    embed_dim: int
    num_heads: int
    depth: int


class ViTLayout(NamedTuple):
    """Layout options of a preset (constructor arguments of :class:`VisionTransformer`; the
    defaults are the plain ViT's)."""

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

#: ``hook(i, tokens) -> tokens``, called before block ``i`` (see ``forward_tokens``)
Hook = Callable[[int, Tensor], Tensor]

ATTENTION_KINDS = ("sdpa", "explicit")
STEM_KINDS = ("patch", "conv")


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def grid_size(
    img_size: int | Sequence[int], patch_size: int, stride: int | None = None
) -> tuple[int, int]:
    """Number of patch rows and columns produced by the (possibly overlapping) split."""
    h, w = _pair(img_size)
    s = patch_size if stride is None else stride
    if patch_size <= 0 or s <= 0:
        raise ValueError(f"patch_size and stride must be positive, got {patch_size}, {s}")
    if h < patch_size or w < patch_size:
        raise ValueError(f"image {h}x{w} is smaller than one patch ({patch_size})")
    return ((h - patch_size) // s + 1, (w - patch_size) // s + 1)


def resample_pos_embed(
    pos_embed: Tensor,
    new_grid: tuple[int, int],
    old_grid: tuple[int, int] | None = None,
    num_prefix_tokens: int = 1,
) -> Tensor:
    """Bicubically resample the grid part of a ``(1, prefix + gh*gw, D)`` position embedding.

    The prefix (CLS) embeddings are kept as they are. ``old_grid`` defaults to a square grid.
    """
    prefix = pos_embed[:, :num_prefix_tokens]
    grid = pos_embed[:, num_prefix_tokens:]
    n_old = grid.shape[1]
    if old_grid is None:
        side = int(round(math.sqrt(n_old)))
        if side * side != n_old:
            raise ValueError(
                f"position embedding has {n_old} grid tokens, not a square: pass old_grid"
            )
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != n_old:
        raise ValueError(f"old_grid {old_grid} does not match {n_old} grid tokens")
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    dim = grid.shape[-1]
    orig_dtype = grid.dtype
    g = grid.reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2).float()
    g = F.interpolate(g, size=tuple(new_grid), mode="bicubic", align_corners=False)
    g = g.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], dim).to(orig_dtype)
    return torch.cat([prefix, g], dim=1)


class PatchEmbed(nn.Module):
    """Image -> sequence of patch tokens, via a ``Conv2d(kernel=patch, stride=stride)``.

    ``stem="conv"`` puts a small convolutional stem before it (Xiao et al. 2021, "Early
    convolutions help transformers see better"): two 3x3 convolutions + GroupNorm + GELU to
    ``embed_dim // 2`` channels, the first with stride 2 when ``patch_size`` and ``stride``
    are even (the projection then uses half of both), so the token grid is the same as
    ``stem="patch"``'s. GroupNorm is per sample: data-parallel runs match one process.
    """

    def __init__(
        self,
        img_size: int | Sequence[int],
        patch_size: int,
        stride: int | None,
        in_chans: int,
        embed_dim: int,
        stem: str = "patch",
    ) -> None:
        super().__init__()
        if stem not in STEM_KINDS:
            raise ValueError(f"stem must be one of {STEM_KINDS}, got {stem!r}")
        self.img_size = _pair(img_size)
        self.patch_size = int(patch_size)
        self.stride = int(patch_size if stride is None else stride)
        self.grid_size = grid_size(self.img_size, self.patch_size, self.stride)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.stem: nn.Module = nn.Identity()
        kernel, step, chans = self.patch_size, self.stride, in_chans
        if stem == "conv":
            down = 2 if kernel % 2 == 0 and step % 2 == 0 else 1
            chans = max(embed_dim // 2, 8)
            self.stem = conv_stem(in_chans, chans, down)
            kernel, step = kernel // down, step // down
        self.proj = nn.Conv2d(chans, embed_dim, kernel_size=kernel, stride=step)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.proj(self.stem(x))  # (B, D, gh, gw)
        grid = (x.shape[-2], x.shape[-1])
        return x.flatten(2).transpose(1, 2), grid


def conv_stem(in_chans: int, chans: int, down: int) -> nn.Sequential:
    """Two ``Conv3x3-GroupNorm-GELU`` layers; the first has stride ``down``."""
    groups = 8 if chans % 8 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(in_chans, chans, 3, stride=down, padding=1, bias=False),
        nn.GroupNorm(groups, chans), nn.GELU(),
        nn.Conv2d(chans, chans, 3, stride=1, padding=1, bias=False),
        nn.GroupNorm(groups, chans), nn.GELU(),
    )  # fmt: skip


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    ``kind="sdpa"`` uses :func:`torch.nn.functional.scaled_dot_product_attention`;
    ``kind="explicit"`` materialises ``softmax(q k^T / sqrt(d))`` (needed to return the
    attention probabilities with gradients, as TransFG's reference implementation does).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        kind: str = "sdpa",
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"attention kind must be one of {ATTENTION_KINDS}, got {kind!r}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.kind = kind
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, return_qk: bool = False, return_probs: bool = False):
        """Return the output, plus ``(q, k)`` (detached) and/or the probabilities if asked.

        The extras come back as a tuple ``(out, extra)``; ``extra`` is ``(q, k)`` for
        ``return_qk`` and the ``(B, H, N, N)`` probabilities for ``return_probs`` (explicit
        path only; they carry gradients).
        """
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, H, N, hd) each
        drop = self.attn_drop if self.training else 0.0
        probs = None
        if self.kind == "sdpa" and not return_probs:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            probs = (q * self.scale) @ k.transpose(-2, -1)
            probs = probs.softmax(dim=-1)
            attn = F.dropout(probs, p=drop) if drop > 0 else probs
            out = attn @ v
        out = out.transpose(1, 2).reshape(b, n, c)
        out = self.proj_drop(self.proj(out))
        if return_qk:
            return out, (q.detach(), k.detach())
        if return_probs:
            return out, probs
        return out


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class LayerScale(nn.Module):
    """``x * gamma``, ``gamma`` a learned per-channel vector (CaiT / DINOv2 LayerScale)."""

    def __init__(self, dim: int, init_values: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``; with
    ``init_values`` each branch is scaled by a LayerScale (``ls1``, ``ls2``)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        attention: str = "sdpa",
        init_values: float | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop, kind=attention)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        scaled = init_values is not None
        self.ls1 = LayerScale(dim, init_values) if scaled else nn.Identity()
        self.ls2 = LayerScale(dim, init_values) if scaled else nn.Identity()

    def forward(self, x: Tensor, return_qk: bool = False, return_probs: bool = False):
        if return_qk or return_probs:
            a, extra = self.attn(self.norm1(x), return_qk=return_qk, return_probs=return_probs)
        else:
            a, extra = self.attn(self.norm1(x)), None
        x = x + self.drop_path(self.ls1(a))
        x = x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
        if extra is None:
            return x
        return x, extra


class VisionTransformer(nn.Module):
    """ViT with a CLS token, learned position embeddings and a linear head on the CLS token.

    Images of another size than ``img_size`` are accepted: the position embedding is then
    resampled on the fly (bicubic), which is differentiable but costs a little each call.
    ``init_values`` / ``reg_tokens`` / ``distilled`` / ``no_embed_class`` are the layout
    options of the module docstring (defaults: the plain ViT).
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
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if reg_tokens < 0:
            raise ValueError(f"reg_tokens must be >= 0, got {reg_tokens}")
        if init_values is not None and not init_values > 0:
            raise ValueError(f"init_values must be None or > 0, got {init_values}")
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
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, rates[i],
                  attention, init_values)  # fmt: skip
            for i in range(depth)
        )
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

    def no_weight_decay(self) -> set[str]:
        names = {"pos_embed", "cls_token"}
        if self.dist_token is not None:
            names.add("dist_token")
        if self.reg_token is not None:
            names.add("reg_token")
        return names


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
