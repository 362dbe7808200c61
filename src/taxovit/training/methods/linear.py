"""``method: linear``: a linear probe, cross-entropy (``ce.label_smoothing``) of a head on
the frozen backbone's CLS feature; only the head is trained.

When every image's feature is the same in every epoch (augmentation off, no dropout, one
process: :mod:`taxovit.training.parts.feature_cache`) the backbone runs once per image, in
the first epoch, and the head trains on the stored features afterwards (the same numbers).
"""

from __future__ import annotations

from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.methods.ce import cross_entropy

__all__ = ["FrozenBackbone", "LinearProbe"]


class FrozenBackbone(Method):
    """Base of the read-outs of a (pretrained, ``model.pretrained``) backbone kept frozen."""

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        super().__init__(cfg, online, dist, device)
        online.backbone.requires_grad_(False)


class LinearProbe(FrozenBackbone):
    """Cross-entropy of a linear head on the frozen backbone's CLS feature."""

    name = "linear"
    caches_features = True  # LoRA and VPT train inside the backbone: never

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        from taxovit.training.parts.feature_cache import FeatureCache, features_are_fixed

        super().__init__(cfg, online, dist, device)
        self.online, self.idx = online, None
        fixed = self.caches_features and features_are_fixed(
            cfg.augment, online.backbone, dist.world
        )
        self.cache = FeatureCache() if fixed else None

    def see_batch(self, idx: Any) -> None:
        self.idx = idx

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        if self.cache is None or self.idx is None:
            logits = model(x)["logits"]  # no graph through the frozen backbone
        else:
            logits = self.online.head(self.cache.get(self.idx, lambda: model(x)["features"]))
        ce = cross_entropy(logits, labels, self.cfg.ce)
        return {"loss": ce, "ce": ce.detach()}
