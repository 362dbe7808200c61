"""Parts of the self-supervised methods (``mae``, ``mocov3``, ``dino``; Grafit's instance
terms): their losses, MAE's masking and decoder, DINO's head, the momentum (EMA) copy, and
the two augmentations the in-memory path lacks (solarisation, Gaussian blur).

Written from the papers: He et al., *Masked Autoencoders Are Scalable Vision Learners*,
CVPR 2022 (masking, decoder, loss); Chen, Xie & He, *An Empirical Study of Training
Self-Supervised Vision Transformers*, ICCV 2021 (InfoNCE ``2 tau`` scaling, momentum
schedule); Caron et al., *Emerging Properties in Self-Supervised Vision Transformers*, ICCV
2021 (head with a weight-normalised last layer, centring and sharpening), whose Apache-2.0
code (facebookresearch/dino, ``DINOHead`` and ``DINOLoss``) and the MIT-licensed solo-learn
were read for the layout; no MAE or MoCo v3 reference code was used.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxovit.models.layers import Block

__all__ = [
    "DinoHead",
    "MaeDecoder",
    "dino_loss",
    "gaussian_blur",
    "info_nce",
    "mae_loss",
    "mlp",
    "momentum_copy",
    "momentum_update",
    "patchify",
    "random_masking",
    "solarize",
    "ssl_view",
]


# ---------------------------------------------------------------- heads
def mlp(d_in: int, hidden: int, d_out: int, layers: int = 2) -> nn.Sequential:
    """``layers`` linear layers with LayerNorm + GELU between them (LayerNorm rather than the
    papers' BatchNorm: per-sample, so data-parallel runs match one process)."""
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.LayerNorm(hidden), nn.GELU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class DinoHead(nn.Module):
    """DINO's projection head: an MLP to a ``bottleneck``, l2-normalised, then a linear layer
    to ``out_dim`` whose weight rows are normalised to 1 (the paper's weight-normalised last
    layer with its norm frozen at 1)."""

    def __init__(self, d_in: int, hidden: int, bottleneck: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = mlp(d_in, hidden, bottleneck, layers=3)
        self.last = nn.Parameter(torch.empty(out_dim, bottleneck))
        nn.init.trunc_normal_(self.last, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        z = F.normalize(self.mlp(x), dim=-1)
        return z @ F.normalize(self.last, dim=-1).t()


# ---------------------------------------------------------------- momentum copy
def momentum_copy(online: nn.Module, parts: Sequence[str]) -> nn.Module:
    """A frozen copy of ``online``'s submodules ``parts`` (the others left out), same names."""
    target = nn.Module()
    for name in parts:
        setattr(target, name, copy.deepcopy(getattr(online, name)))
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(target: nn.Module, online: nn.Module, m: float) -> None:
    """``target <- m target + (1 - m) online`` for each parameter of ``target`` (by name)."""
    params = dict(online.named_parameters())
    for name, tp in target.named_parameters():
        tp.lerp_(params[name].detach(), 1.0 - m)


# ---------------------------------------------------------------- losses
def info_nce(q: Tensor, k: Tensor, tau: float, offset: int = 0) -> Tensor:
    """MoCo v3's contrastive loss ``2 tau CE(q k^T / tau, i)`` of l2-normalised ``q`` (this
    process's ``b`` queries) against ``k`` (every process's keys; query ``i``'s positive is
    key ``offset + i``)."""
    q, k = F.normalize(q.float(), dim=1), F.normalize(k.float(), dim=1)
    logits = q @ k.t() / tau
    labels = torch.arange(q.shape[0], device=q.device) + offset
    return F.cross_entropy(logits, labels) * (2 * tau)


def dino_loss(
    student: Sequence[Tensor],
    teacher: Sequence[Tensor],
    center: Tensor,
    t_student: float,
    t_teacher: float,
) -> Tensor:
    """DINO's cross-entropy ``-softmax((t - c) / T_t) . log_softmax(s / T_s)``, averaged over
    the images and over every pair (teacher crop ``i``, student crop ``v != i``); the teacher
    crops are the first ``len(teacher)`` student crops (the global ones)."""
    logp = [F.log_softmax(s.float() / t_student, dim=-1) for s in student]
    total, pairs = student[0].new_zeros(()).float(), 0
    for i, t in enumerate(teacher):
        q = F.softmax((t.float() - center) / t_teacher, dim=-1)
        for v, lp in enumerate(logp):
            if v != i:
                total = total + (-(q * lp).sum(-1)).mean()
                pairs += 1
    return total / max(pairs, 1)


def patchify(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """``(B, C, H, W)`` as ``(B, gh*gw, ph*pw*C)``: the pixels of each grid cell, row-major."""
    b, c, h, w = x.shape
    gh, gw = grid
    if h % gh or w % gw:
        raise ValueError(f"image {h}x{w} is not a whole number of {gh}x{gw} patches")
    ph, pw = h // gh, w // gw
    x = x.reshape(b, c, gh, ph, gw, pw).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, gh * gw, ph * pw * c)


def mae_loss(pred: Tensor, target: Tensor, mask: Tensor, norm_pix: bool = False) -> Tensor:
    """Mean squared error per patch, averaged over the masked patches only (``mask`` 1 =
    removed); ``norm_pix``: each target patch normalised by its own mean and variance."""
    target = target.float()
    if norm_pix:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = ((pred.float() - target) ** 2).mean(-1)
    return (per_patch * mask).sum() / mask.sum().clamp(min=1)


# ---------------------------------------------------------------- MAE masking and decoder
def random_masking(b: int, n: int, ratio: float, device: torch.device) -> tuple[Tensor, ...]:
    """Per sample, keep ``floor(n (1 - ratio))`` (at least 1) tokens chosen uniformly:
    ``(ids_keep (b, keep), mask (b, n) 1 = removed, ids_restore (b, n))``."""
    keep = max(1, int(n * (1 - ratio)))
    ids_shuffle = torch.rand(b, n, device=device).argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(b, n, device=device)
    mask[:, :keep] = 0
    return ids_shuffle[:, :keep], mask.gather(1, ids_restore), ids_restore


def _sincos_2d(grid: tuple[int, int], dim: int) -> Tensor:
    """Fixed 2-D sine-cosine position embedding ``(gh*gw, dim)`` (half the width per axis)."""
    gh, gw = grid
    quarter = max(dim // 4, 1)
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    parts = []
    for pos in (ys.flatten(), xs.flatten()):
        out = pos.double()[:, None] * omega[None]
        parts += [out.sin(), out.cos()]
    emb = torch.cat(parts, dim=1).float()
    return F.pad(emb, (0, dim - emb.shape[1]))[:, :dim]


class MaeDecoder(nn.Module):
    """MAE's light decoder: the encoded kept tokens projected to ``dim``, a shared learned
    mask token in every removed position, fixed sine-cosine positions, ``depth`` blocks and a
    linear prediction of each patch's ``patch_pixels`` values."""

    def __init__(
        self,
        enc_dim: int,
        dim: int,
        depth: int,
        heads: int,
        grid: tuple[int, int],
        patch_pixels: int,
        prefix: int,
    ) -> None:
        super().__init__()
        self.prefix, self.grid = int(prefix), tuple(grid)
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.mask_token, std=0.02)
        pos = torch.cat([torch.zeros(prefix, dim), _sincos_2d(self.grid, dim)])
        self.register_buffer("pos", pos.unsqueeze(0), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pred = nn.Linear(dim, patch_pixels)

    def forward(self, h: Tensor, ids_restore: Tensor) -> Tensor:
        """Predicted pixels ``(B, N, patch_pixels)`` of every patch from the encoder's output
        ``h`` (prefix + kept tokens)."""
        h = self.embed(h)
        pre, kept = h[:, : self.prefix], h[:, self.prefix :]
        b, n = ids_restore.shape
        filler = self.mask_token.to(h.dtype).expand(b, n - kept.shape[1], -1)
        full = torch.cat([kept, filler], dim=1)
        full = full.gather(1, ids_restore.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        x = torch.cat([pre, full], dim=1) + self.pos.to(h.dtype)
        for blk in self.blocks:
            x = blk(x)
        return self.pred(self.norm(x))[:, self.prefix :]


# ---------------------------------------------------------------- augmentations
def solarize(x: Tensor, p: float) -> Tensor:
    """uint8 ``x`` with, per sample with probability ``p``, every pixel >= 128 inverted."""
    flip = (torch.rand(x.shape[0], device=x.device) < p).view(-1, 1, 1, 1)
    return torch.where(flip & (x >= 128), 255 - x, x)


def gaussian_blur(x: Tensor, p: float, sigma: Sequence[float]) -> Tensor:
    """Float ``(B, C, H, W)`` blurred, per sample with probability ``p``, by a Gaussian of a
    standard deviation drawn uniformly in ``sigma`` (pixels); separable, reflect padding."""
    b, c, h, w = x.shape
    lo, hi = float(sigma[0]), float(sigma[1])
    radius = max(1, min(math.ceil(2 * hi), (min(h, w) - 1) // 2))
    s = torch.empty(b, device=x.device).uniform_(lo, hi)
    s = torch.where(torch.rand(b, device=x.device) < p, s, torch.zeros_like(s)).clamp(min=1e-3)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t[None] ** 2) / (2 * s[:, None].to(x.dtype) ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (B*C, 2r+1)
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(b * c, 1, -1, 1), groups=b * c)
    y = F.conv2d(y, k.view(b * c, 1, 1, -1), groups=b * c)
    return y.reshape(b, c, h, w)


def ssl_view(
    x: Tensor,
    augment: Callable[..., Tensor],
    blur: float,
    solar: float,
    sigma: Sequence[float],
    **kw: Any,
) -> Tensor:
    """One view of uint8 ``x``: solarised (probability ``solar``) before the config's
    ``augment`` (crop, flip, normalisation; ``kw``: another size / crop scale), blurred
    (probability ``blur``) after it (a blur commutes with the affine normalisation)."""
    if solar > 0:
        x = solarize(x, solar)
    v = augment(x, **kw)
    return gaussian_blur(v, blur, sigma) if blur > 0 else v
