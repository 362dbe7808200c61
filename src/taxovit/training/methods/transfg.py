"""``method: transfg``: the :class:`~taxovit.models.TransFG` architecture (part selection
by attention roll-out) with cross-entropy + its contrastive loss (He et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Problem, Section, key, number, ok

__all__ = ["TransFG", "TransfgConfig"]


@dataclass
class TransfgConfig(Section):
    """``transfg:``."""

    name = "transfg"
    label_smoothing: float = key(
        0.0, number(0, 1, hi_open=True), "label smoothing of the cross-entropy term"
    )


class TransFG(Method):
    """Cross-entropy + TransFG's contrastive loss on the TransFG backbone."""

    name = "transfg"
    section = TransfgConfig
    arch = "transfg"

    @classmethod
    def check(cls, cfg: Any, bad: set[str]) -> list[Problem]:
        """Part selection needs a block before the last: depth >= 2."""
        from taxovit.models.presets import PRESETS

        m = cfg.model
        if m.preset == "auto" or not ok(bad, "model.preset", "model.overrides"):
            return []
        depth = m.overrides.get("depth", PRESETS[m.preset].depth)
        if isinstance(depth, int) and depth < 2:
            return [
                Problem(
                    "model.overrides.depth",
                    "model.overrides.depth: method transfg needs depth >= 2",
                )
            ]
        return []

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        from taxovit.models import transfg_loss

        out = model(x)
        smoothing = self.cfg.transfg.label_smoothing
        return {
            "loss": transfg_loss(out["logits"], out["features"], labels, label_smoothing=smoothing)
        }
