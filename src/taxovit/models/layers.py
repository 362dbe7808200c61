"""The ViT's layers: patch embedding (with the optional conv stem), attention, MLP,
LayerScale, stochastic depth and the pre-norm block, with timm's parameter names."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ATTENTION_KINDS",
    "STEM_KINDS",
    "Attention",
    "Block",
    "DropPath",
    "LayerScale",
    "Mlp",
    "PatchEmbed",
    "conv_stem",
    "grid_size",
    "resample_pos_embed",
]

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

    Parameters
    ----------
    pos_embed : Tensor
        ``(1, num_prefix_tokens + gh * gw, D)``.
    new_grid : tuple of int
        ``(gh, gw)`` wanted.
    old_grid : tuple of int, optional
        ``(gh, gw)`` of ``pos_embed`` (default: a square grid).
    num_prefix_tokens : int
        Leading (CLS, ...) embeddings, kept as they are.

    Returns
    -------
    Tensor
        ``(1, num_prefix_tokens + new_gh * new_gw, D)``.

    Raises
    ------
    ValueError
        When the grid part does not match ``old_grid`` (or is not square).

    References
    ----------
    .. [1] Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import resample_pos_embed
    >>> resample_pos_embed(torch.zeros(1, 1 + 4 * 4, 32), (8, 8)).shape
    torch.Size([1, 65, 32])
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
        nn.GroupNorm(groups, chans),
        nn.GELU(),
        nn.Conv2d(chans, chans, 3, stride=1, padding=1, bias=False),
        nn.GroupNorm(groups, chans),
        nn.GELU(),
    )


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
