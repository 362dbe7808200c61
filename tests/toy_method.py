"""A toy training method: the whole method is this file plus one registry line,
``METHODS["toy"] = Toy`` (``tests/test_method_registry.py`` adds it for its tests).

It has what a method has: a config section with its own check, a network part, a loss, a
training state kept in the checkpoint, a file written beside the checkpoint, and a step
before ``predict``.
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

    @classmethod
    def for_predict(cls, net: Any) -> None:
        net.toy_predicted = True

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        super().__init__(cfg, online, dist, device)
        self.online, self.steps = online, 0

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        import torch.nn.functional as F

        logits = model(x)["logits"] * self.online.gain / self.cfg.toy.temperature
        ce = F.cross_entropy(logits.float(), labels)
        return {"loss": ce, "toy_ce": ce.detach()}

    def after_step(self, online: Any, step: int, total_steps: int) -> None:
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"toy_steps": self.steps}

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        self.steps = int(checkpoint["toy_steps"])

    def save_beside(self, online: Any, folder: Any, label_space: dict[str, Any]) -> None:
        (folder / "toy.txt").write_text(f"{self.cfg.toy.note} after {self.steps} steps\n")
