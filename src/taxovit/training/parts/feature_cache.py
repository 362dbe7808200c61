"""The frozen backbone's features of every training image, computed once (``method: linear``).

A linear probe's head sees the same feature for an image in every epoch when nothing random
stands between the image and the feature: augmentation off (``augment.enabled: false``), no
dropout or stochastic depth in the backbone, one process (under data parallelism the head's
gradient must go through the DDP wrapper). Then the first epoch stores each batch's features
by dataset index and later epochs read them instead of running the backbone: the same
numbers (the same autocast, the same dtype), one backbone pass in all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["FeatureCache", "features_are_fixed"]


def features_are_fixed(augment: Any, backbone: nn.Module, world: int) -> bool:
    """Whether each training image's feature is the same in every epoch (see the module);
    ``augment``: the config's :class:`~taxovit.training.run.schema.AugmentConfig`."""
    if augment.enabled or world > 1:
        return False
    for m in backbone.modules():
        p = getattr(m, "p", None)  # nn.Dropout* and DropPath keep their probability in .p
        if isinstance(p, float) and p > 0:
            return False
    return True


class FeatureCache:
    """Features by dataset index; grows to the largest index seen."""

    def __init__(self) -> None:
        self.feats: Tensor | None = None
        self.filled: Tensor | None = None

    def get(self, idx: Tensor, compute: Callable[[], Tensor]) -> Tensor:
        """The features of the samples ``idx``: stored ones, else ``compute()``'s (then kept)."""
        if self.filled is not None and int(idx.max()) < self.filled.numel():
            idx = idx.to(self.filled.device)
            if bool(self.filled[idx].all()):
                return self.feats[idx]
        with torch.no_grad():
            f = compute().detach()
        self._store(idx.to(f.device), f)
        return f

    def _store(self, idx: Tensor, f: Tensor) -> None:
        need = int(idx.max()) + 1
        if self.feats is None or need > self.feats.shape[0]:
            size = max(need, 2 * (0 if self.feats is None else self.feats.shape[0]))
            feats = f.new_zeros((size, f.shape[1]))
            filled = torch.zeros(size, dtype=torch.bool, device=f.device)
            if self.feats is not None:
                feats[: self.feats.shape[0]] = self.feats
                filled[: self.filled.numel()] = self.filled
            self.feats, self.filled = feats, filled
        self.feats[idx] = f
        self.filled[idx] = True
