"""The in-memory data path (``data.loader: memory``): whole batches augmented on the device.

When a split is an in-memory array (Fashion-MNIST's idx files), the whole split is one
``uint8`` tensor on the training device and every batch is augmented at once with tensor
ops, instead of per-sample ``transforms.v2`` calls in a ``DataLoader``:

* random resized crop + horizontal flip: one affine grid per sample (scale from
  ``augment.crop_scale``, aspect ratio in [3/4, 4/3], a random position inside the image,
  the x axis mirrored with probability ``augment.hflip``) and one ``F.grid_sample``, which
  also resizes to ``data.img_size``;
* ``augment.color_jitter`` (RGB): per-sample brightness, contrast and saturation factors;
* normalisation by ``augment.mean`` / ``augment.std``;
* ``augment.erasing``: one random rectangle per sample (area 2-33 %, ratio 0.3-3.3) set to
  0, like ``RandomErasing``.

Sampling: every epoch one permutation of the whole split from a generator seeded with
``seed + epoch`` (the same on every process); global batch ``s`` is
``perm[s·B:(s+1)·B]`` and process ``r`` takes its ``r``-th contiguous share, so N processes
see exactly the global batches of one process. The augmentations draw from the device's
global random stream (saved in checkpoints: ``--resume`` continues exactly).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from taxovit.training.data.splits import LabelSpace, SampleSet

if TYPE_CHECKING:  # pragma: no cover
    from taxovit.training.run.schema import AugmentConfig, Config, DataConfig

__all__ = ["MemoryLoader", "augment_batch", "images_tensor", "normalize", "use_memory"]


def use_memory(data: DataConfig, samples: SampleSet) -> bool:
    """Whether ``data.loader`` selects the in-memory path for ``samples``."""
    mode = data.loader
    if mode == "memory" and samples.images is None:
        from taxovit.training.run.config import ConfigError

        raise ConfigError(
            "data.loader: memory needs an in-memory split (data.format "
            "fashion_mnist); this one is read from image files"
        )
    return mode != "dataloader" and samples.images is not None


def images_tensor(images: np.ndarray, in_chans: int) -> Tensor:
    """``(N, H, W[, C])`` uint8 images as ``(N, in_chans, H, W)`` uint8 (grey <-> RGB)."""
    t = torch.from_numpy(np.ascontiguousarray(images))
    if t.ndim == 3:
        t = t.unsqueeze(-1)
    if t.shape[-1] != in_chans:
        t = t.float().mean(-1, keepdim=True).to(torch.uint8) if in_chans == 1 else t[..., :1]
        t = t.expand(*t.shape[:-1], in_chans)
    return t.permute(0, 3, 1, 2).contiguous()


def _stats(aug: AugmentConfig, in_chans: int, device: torch.device) -> tuple[Tensor, Tensor]:
    mean = torch.tensor(aug.mean or [0.5] * in_chans, device=device).view(1, -1, 1, 1)
    std = torch.tensor(aug.std or [0.5] * in_chans, device=device).view(1, -1, 1, 1)
    return mean, std


def normalize(x: Tensor, aug: AugmentConfig, img_size: int) -> Tensor:
    """The eval transform of uint8 ``(B, C, H, W)``: resize to ``img_size``, scale, normalise."""
    mean, std = _stats(aug, x.shape[1], x.device)
    x = x.float() / 255.0
    if x.shape[-1] != img_size or x.shape[-2] != img_size:
        x = F.interpolate(x, size=(img_size, img_size), mode="bilinear", antialias=True)
    return (x - mean) / std


def _crop_grid(
    b: int, aug: AugmentConfig, size: tuple[int, int, int, int], device: torch.device
) -> Tensor:
    """Sampling grids of random resized crops (and flips) for ``b`` images."""
    lo, hi = (float(v) for v in aug.crop_scale)
    area = torch.empty(b, device=device).uniform_(lo, hi)
    log_r = torch.empty(b, device=device).uniform_(math.log(3 / 4), math.log(4 / 3))
    w = (area * log_r.exp()).sqrt().clamp(max=1.0)
    h = (area / log_r.exp()).sqrt().clamp(max=1.0)
    cx = (torch.rand(b, device=device) * 2 - 1) * (1 - w)
    cy = (torch.rand(b, device=device) * 2 - 1) * (1 - h)
    flip = torch.rand(b, device=device) < float(aug.hflip)
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0] = torch.where(flip, -w, w)
    theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = cx, h, cy
    return F.affine_grid(theta, list(size), align_corners=False)


def _jitter(x: Tensor, strength: float) -> Tensor:
    """Brightness, contrast and saturation factors in ``[1 - s, 1 + s]`` per sample."""
    b = x.shape[0]

    def factor() -> Tensor:
        return torch.empty(b, 1, 1, 1, device=x.device).uniform_(
            max(0.0, 1 - strength), 1 + strength
        )

    x = (x * factor()).clamp(0, 1)
    grey = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - grey) * factor() + grey).clamp(0, 1)
    lum = x.mean(dim=1, keepdim=True)
    return ((x - lum) * factor() + lum).clamp(0, 1)


def _erase(x: Tensor, p: float) -> Tensor:
    """One rectangle per sample (with probability ``p``) set to 0."""
    b, _, hh, ww = x.shape
    dev = x.device
    area = torch.empty(b, device=dev).uniform_(0.02, 0.33) * hh * ww
    log_r = torch.empty(b, device=dev).uniform_(math.log(0.3), math.log(3.3))
    eh = (area * log_r.exp()).sqrt().clamp(1, hh)
    ew = (area / log_r.exp()).sqrt().clamp(1, ww)
    top = torch.rand(b, device=dev) * (hh - eh)
    left = torch.rand(b, device=dev) * (ww - ew)
    rows = torch.arange(hh, device=dev).view(1, hh, 1)
    cols = torch.arange(ww, device=dev).view(1, 1, ww)
    inside = (
        (rows >= top.view(-1, 1, 1))
        & (rows < (top + eh).view(-1, 1, 1))
        & (cols >= left.view(-1, 1, 1))
        & (cols < (left + ew).view(-1, 1, 1))
    )
    inside &= (torch.rand(b, device=dev) < p).view(-1, 1, 1)
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def augment_batch(x: Tensor, aug: AugmentConfig, img_size: int) -> Tensor:
    """Augmented, normalised float ``(B, C, img_size, img_size)`` of uint8 ``(B, C, H, W)``
    (the eval transform when ``augment.enabled`` is false)."""
    if not aug.enabled:
        return normalize(x, aug, img_size)
    b, c = x.shape[:2]
    x = x.float() / 255.0
    grid = _crop_grid(b, aug, (b, c, img_size, img_size), x.device)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if float(aug.color_jitter) > 0 and c == 3:
        x = _jitter(x, float(aug.color_jitter))
    mean, std = _stats(aug, c, x.device)
    x = (x - mean) / std
    if float(aug.erasing) > 0:
        x = _erase(x, float(aug.erasing))
    return x


class MemoryLoader:
    """A loader over an in-memory split: ``(x, fine, coarse, index)`` batches of this
    process's share of each global batch, augmented on ``device`` (``views`` > 1:
    ``x`` is ``(b, views, C, H, W)``). It is its own sampler (:meth:`set_epoch`).

    ``make_views(x, augment)`` (a method's
    :meth:`~taxovit.training.methods.base.Method.make_views`) makes the views of each uint8
    batch instead: ``augment(x, img_size=None, crop_scale=None)`` is the config's
    augmentation, at another size or crop scale when given (multi-crop)."""

    def __init__(
        self,
        cfg: Config,
        samples: SampleSet,
        space: LabelSpace,
        views: int,
        rank: int,
        world: int,
        device: torch.device,
        make_views: Callable[..., Any] | None = None,
    ) -> None:
        d = cfg.data
        self.aug, self.img_size, self.views = cfg.augment, d.img_size, int(views)
        self.images = images_tensor(samples.images, d.in_chans).to(device)
        fine = torch.as_tensor(samples.fine, dtype=torch.long)
        self.fine = fine.to(device)
        self.coarse = torch.as_tensor(space.fine_to_train, dtype=torch.long)[fine].to(device)
        self.global_batch = cfg.optim.batch_size
        self.local = self.global_batch // world
        self.rank, self.seed, self.epoch = rank, cfg.seed, 0
        self.device = device
        self.make_views = make_views

    def augment(
        self, x: Tensor, img_size: int | None = None, crop_scale: list[float] | None = None
    ) -> Tensor:
        """The config's augmentation of uint8 ``x``, at ``img_size`` / ``crop_scale`` when
        given."""
        aug = (
            self.aug if crop_scale is None else dataclasses.replace(self.aug, crop_scale=crop_scale)
        )
        return augment_batch(x, aug, self.img_size if img_size is None else int(img_size))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.fine) // self.global_batch

    def __iter__(self) -> Iterator[tuple[Any, Tensor, Tensor, Tensor]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(len(self.fine), generator=g).to(self.device)
        for s in range(len(self)):
            start = s * self.global_batch + self.rank * self.local
            idx = perm[start : start + self.local]
            x = self.images[idx]
            if self.make_views is not None:
                out = self.make_views(x, self.augment)
            elif self.views == 1:
                out = augment_batch(x, self.aug, self.img_size)
            else:
                out = torch.stack(
                    [augment_batch(x, self.aug, self.img_size) for _ in range(self.views)], dim=1
                )
            yield out, self.fine[idx], self.coarse[idx], idx
