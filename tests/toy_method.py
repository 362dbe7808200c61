"""A toy training method: the whole method is this file plus one registry line,
``METHODS["toy"] = Toy`` (``tests/training/test_method_registry.py`` adds it for its tests).

It has what a method has: a config section with its own check, a network part and a
forward of its own (``model(x, via="toy")``), its own views (multi-crop: a global view at the
config's size and a local one at half of it), a loss, a training state kept in the
checkpoint, a file written beside the checkpoint, and a step before ``predict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Problem, Section, key, number, ok, text


@dataclass
class ToyConfig(Section):
    """``toy:``."""

    name = "toy"
    temperature: float = key(1.0, number(0, lo_open=True), "logits are divided by it")
    note: str = key("hello", text(), "written to toy.txt beside the checkpoint")


class Toy(Method):
    """Cross-entropy of ``logits * gain / temperature`` with a learned scalar ``gain``."""

    name = "toy"
    section = ToyConfig
    beside = ("toy.txt",)

    @classmethod
    def check(cls, cfg: Any, bad: set[str]) -> list[Problem]:
        if cfg.toy.temperature > 100 and ok(bad, "toy.temperature"):
            return [Problem("toy.temperature", "toy.temperature: at most 100 for method toy")]
        return []

    @classmethod
    def resume_entries(cls, section: ToyConfig) -> tuple[str, ...]:
        return ("toy_steps",)

    @classmethod
    def add_parts(cls, net: Any, section: ToyConfig, num_classes: int) -> None:
        import torch

        net.register_parameter("gain", torch.nn.Parameter(torch.ones(())))
        net.forwards["toy"] = _gained_logits

    @classmethod
    def for_predict(cls, net: Any) -> None:
        net.toy_predicted = True

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        super().__init__(cfg, online, dist, device)
        self.steps, self.sizes = 0, []

    def make_views(self, x: Any, augment: Any) -> Any:
        size = self.cfg.data.img_size
        return [augment(x), augment(x, img_size=size // 2, crop_scale=[0.2, 0.5])]

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        import torch.nn.functional as F

        views = x if isinstance(x, list) else [x]  # the DataLoader path: one view
        self.sizes = [int(v.shape[-1]) for v in views]
        ce = sum(
            F.cross_entropy(
                model(v, via="toy")["logits"].float() / self.cfg.toy.temperature, labels
            )
            for v in views
        ) / len(views)
        return {"loss": ce, "toy_ce": ce.detach()}

    def after_step(self, online: Any, step: int, total_steps: int) -> None:
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"toy_steps": self.steps, "toy_sizes": self.sizes}

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        self.steps = int(checkpoint["toy_steps"])

    def save_beside(self, online: Any, folder: Any, label_space: dict[str, Any]) -> None:
        (folder / "toy.txt").write_text(f"{self.cfg.toy.note} after {self.steps} steps\n")


def _gained_logits(net: Any, x: Any) -> dict[str, Any]:
    """The toy's own forward: the head's logits times the learned gain."""
    return {"logits": net.head(net.backbone.forward_features(x)) * net.gain}
