"""``method: hierarchy``: a head on the training classes trained with a hierarchy-aware loss
(``hierarchy.loss``: ``soft_labels`` with ``beta``, ``hxe`` with ``alpha``, ``rank_ce`` with
``rank_weights``); the losses are in :mod:`taxovit.training.parts.hierarchy_losses`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Problem, Section, choice, key, mapping, number, show

__all__ = ["HierarchyConfig", "HierarchyLoss"]


@dataclass
class HierarchyConfig(Section):
    """``hierarchy:``."""

    name = "hierarchy"
    loss: str = key(
        "hxe",
        choice(("soft_labels", "hxe", "rank_ce")),
        "soft_labels (Bertinetto et al. 2020) | hxe | rank_ce (one CE per rank)",
    )
    alpha: float = key(0.1, number(0), "hxe: weight decay per level, exp(-alpha x height)")
    beta: float = key(4.0, number(0, lo_open=True), "soft_labels: sharpness of the targets")
    rank_weights: dict[str, float] = key(
        {}, mapping(), "rank_ce: rank name -> weight; {} = 1 for every rank"
    )

    def problems(self, bad: set[str]) -> list[Problem]:
        """``rank_weights``: rank name -> a number >= 0 (the ranks are checked against the
        taxonomy when training starts)."""
        out = []
        for rank, w in self.rank_weights.items():
            where = f"hierarchy.rank_weights.{rank}"
            if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0:
                out.append(Problem(where, f"{where}: expected a number >= 0, got {show(w)}"))
        return out


class HierarchyLoss(Method):
    """A head on the training classes with a hierarchy-aware loss."""

    name = "hierarchy"
    section = HierarchyConfig

    def bind(self, taxonomy: Any, space: Any) -> None:
        from taxovit.training.parts.hierarchy_losses import HierarchyTables
        from taxovit.training.run.config import ConfigError

        h = self.cfg.hierarchy
        self.tables = HierarchyTables(taxonomy, space.train_names)
        weights = dict(h.rank_weights) or dict.fromkeys(taxonomy.rank_names, 1.0)
        unknown = [r for r in weights if r not in taxonomy.rank_names]
        if unknown or (h.loss == "rank_ce" and not weights):
            raise ConfigError(
                f"hierarchy.rank_weights: unknown ranks {unknown}; the taxonomy "
                f"has {', '.join(taxonomy.rank_names) or 'no ranks'}"
            )
        self.weights = weights

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        from taxovit.training.parts import hierarchy_losses as hl

        logits = model(x)["logits"]
        h = self.cfg.hierarchy
        if h.loss == "soft_labels":
            loss = hl.soft_label_loss(logits, labels, self.tables, h.beta)
        elif h.loss == "hxe":
            loss = hl.hxe_loss(logits, labels, self.tables, h.alpha)
        else:
            loss = hl.rank_ce_loss(logits, labels, self.tables, self.weights)
        return {"loss": loss, h.loss: loss.detach()}
