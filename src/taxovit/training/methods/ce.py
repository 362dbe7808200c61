"""``method: ce``: cross-entropy on the training-rank labels (a linear head on the CLS
feature). Its section ``ce:`` is also the label smoothing of the heads of ``linear``,
``lora``, ``vpt`` and ``deit``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Section, key, number

__all__ = ["CeConfig", "CrossEntropy", "cross_entropy"]


@dataclass
class CeConfig(Section):
    """``ce:``."""

    name = "ce"
    label_smoothing: float = key(
        0.0, number(0, 1, hi_open=True), "label smoothing of the cross-entropy"
    )


def cross_entropy(logits: Any, labels: Any, ce: CeConfig) -> Any:
    """Cross-entropy of ``logits`` (in float32) with ``ce.label_smoothing``."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.float(), labels, label_smoothing=float(ce.label_smoothing))


class CrossEntropy(Method):
    """Cross-entropy on the training-rank labels (head on the CLS feature)."""

    name = "ce"
    section = CeConfig

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        ce = cross_entropy(model(x)["logits"], labels, self.cfg.ce)
        return {"loss": ce, "ce": ce.detach()}
