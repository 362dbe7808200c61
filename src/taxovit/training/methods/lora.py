"""``method: lora`` (Hu et al. 2022): adapters ``W x + (alpha/rank) B A dropout(x)`` on the
``lora.targets`` of every block (qkv, proj: attention; fc1, fc2: MLP), the backbone frozen;
only the adapters (``lora_A``, ``lora_B``) and the head train, with cross-entropy
(``ce.label_smoothing``). The layers are :mod:`taxovit.training.parts.lora`; ``adapters.pt``
(:mod:`taxovit.training.run.adapters`) holds what was trained, and ``predict`` merges the
adapters into the weights (same outputs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.linear import LinearProbe
from taxovit.training.run.rules import Section, choices_list, integer, key, number

__all__ = ["LoRA", "LoraConfig"]


@dataclass
class LoraConfig(Section):
    """``lora:``."""

    name = "lora"
    rank: int = key(8, integer(1), "rank of the update B A")
    alpha: float = key(16.0, number(0, lo_open=True), "scale alpha / rank of the update")
    dropout: float = key(0.0, number(0, 1, hi_open=True), "dropout on the adapter's input")
    targets: list[str] = key(
        ["qkv", "proj"],
        choices_list(("qkv", "proj", "fc1", "fc2")),
        "the linear layers of every block that get an adapter",
    )


class LoRA(LinearProbe):
    """Cross-entropy through the frozen backbone's LoRA adapters."""

    name = "lora"
    section = LoraConfig
    caches_features = False
    beside = ("adapters.pt",)

    @classmethod
    def add_parts(cls, net: Any, section: LoraConfig, num_classes: int) -> None:
        from taxovit.training.parts.lora import apply_lora, lora_modules

        if not lora_modules(net):
            apply_lora(
                net.backbone, section.rank, section.alpha, section.dropout, list(section.targets)
            )

    @classmethod
    def for_predict(cls, net: Any) -> None:
        from taxovit.training.parts.lora import merge_lora

        merge_lora(net)

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        super().__init__(cfg, online, dist, device)
        for name, p in online.backbone.named_parameters():
            if name.endswith((".lora_A", ".lora_B")):
                p.requires_grad_(True)

    def save_beside(self, online: Any, folder: Any, label_space: dict[str, Any]) -> None:
        from taxovit.training.run.adapters import save_adapters

        save_adapters(online, self.cfg, label_space, folder / self.beside[0])
