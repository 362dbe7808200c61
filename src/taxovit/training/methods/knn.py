"""``method: knn``: no training; the run writes a checkpoint of the (pretrained) backbone and
logs its kNN accuracy, so ``taxovit predict --knn K`` reads it out at the fine level."""

from __future__ import annotations

from typing import Any

from taxovit.training.methods.linear import FrozenBackbone

__all__ = ["KnnReadout"]


class KnnReadout(FrozenBackbone):
    """No head and no step: the frozen backbone's kNN read-out."""

    name = "knn"
    trains = False

    @classmethod
    def has_head(cls, section: Any) -> bool:
        return False
