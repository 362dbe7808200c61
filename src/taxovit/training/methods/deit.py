"""``method: deit`` (Touvron et al. 2021): distillation through a distillation token,
``(1 - alpha) CE(Z_cls, y) + alpha KD(Z_dist, teacher)``, hard or soft (``distill:``), the
teacher (``distill.teacher``: a taxovit training checkpoint or a file
:func:`taxovit.models.load_model` reads) frozen in eval mode; the teacher and the loss are
:mod:`taxovit.training.parts.distill`. ``predict`` averages the two heads, as the paper
infers, and does not need the teacher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.methods.ce import cross_entropy
from taxovit.training.run.rules import Problem, Section, choice, key, number, ok, path

__all__ = ["DeiTDistillation", "DistillConfig"]


@dataclass
class DistillConfig(Section):
    """``distill:``."""

    name = "distill"
    teacher: str | None = key(
        None,
        path(null=True),
        "a taxovit training checkpoint or a model file (required)",
        input_file=True,
    )
    kind: str = key(
        "hard",
        choice(("hard", "soft")),
        "hard (CE on the teacher's argmax) | soft (tau^2 KL at temperature tau)",
    )
    tau: float = key(3.0, number(0, lo_open=True), "soft: the temperature")
    alpha: float = key(0.5, number(0, 1), "weight of the distillation term")


class DeiTDistillation(Method):
    """DeiT's distillation through a distillation token and a second head."""

    name = "deit"
    section = DistillConfig
    backbone_args = {"distilled": True}  # DeiT's distillation token
    training_inputs = ("distill.teacher",)

    @classmethod
    def check(cls, cfg: Any, bad: set[str]) -> list[Problem]:
        if cfg.distill.teacher is None and ok(bad, "distill.teacher"):
            return [
                Problem(
                    "distill.teacher",
                    "distill.teacher: required for method deit (a "
                    "taxovit training checkpoint or a model file "
                    "trained on the same classes)",
                )
            ]
        return []

    @classmethod
    def add_parts(cls, net: Any, section: DistillConfig, num_classes: int) -> None:
        """A head on the distillation token (the backbone is ``distilled``)."""
        from torch import nn

        from taxovit.training.run.config import ConfigError

        if not getattr(net.backbone, "distilled", False):
            raise ConfigError(
                "method deit: the backbone has no distillation token (model."
                "preset auto read a checkpoint without one); use a preset"
            )
        net.head_dist = nn.Linear(net.backbone.embed_dim, num_classes)
        nn.init.trunc_normal_(net.head_dist.weight, std=0.02)
        nn.init.zeros_(net.head_dist.bias)

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        super().__init__(cfg, online, dist, device)
        self.device = device
        self.teacher: Any = None

    def bind(self, taxonomy: Any, space: Any) -> None:
        from taxovit.training.parts.distill import load_teacher

        self.teacher = load_teacher(self.cfg, space, self.device)

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        from taxovit.training.parts.distill import distillation_loss

        assert self.teacher is not None, "bind() loads the teacher"
        d = self.cfg.distill
        out = model(x)
        ce = cross_entropy(out["logits_cls"], labels, self.cfg.ce)
        kd = distillation_loss(out["logits_dist"].float(), self.teacher(x), d.kind, d.tau)
        alpha = d.alpha
        return {"loss": (1 - alpha) * ce + alpha * kd, "ce": ce.detach(), "kd": kd.detach()}
