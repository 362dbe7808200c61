"""``method: vpt`` (Jia et al. 2022): ``vpt.tokens`` learned prompt tokens after the prefix
tokens, ``vpt.depth`` shallow (before block 0) or deep (a new set before every block), the
backbone frozen; only the prompts and the head train, with cross-entropy
(``ce.label_smoothing``). The prompts are :mod:`taxovit.training.parts.prompts`;
``adapters.pt`` holds what was trained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.linear import LinearProbe
from taxovit.training.run.rules import Section, choice, integer, key

__all__ = ["VisualPromptTuning", "VptConfig"]


@dataclass
class VptConfig(Section):
    """``vpt:``."""

    name = "vpt"
    tokens: int = key(10, integer(1), "prompt tokens (per block when deep)")
    depth: str = key(
        "deep", choice(("shallow", "deep")), "shallow (before block 0) | deep (before every block)"
    )


class VisualPromptTuning(LinearProbe):
    """Cross-entropy of the head on the CLS feature of the frozen backbone fed prompts."""

    name = "vpt"
    section = VptConfig
    caches_features = False
    beside = ("adapters.pt",)

    @classmethod
    def add_parts(cls, net: Any, section: VptConfig, num_classes: int) -> None:
        from taxovit.training.parts.prompts import VisualPrompts

        if net.prompts is None:
            b = net.backbone
            net.prompts = VisualPrompts(
                section.tokens,
                b.embed_dim,
                len(b.blocks),
                section.depth,
                int(b.num_prefix_tokens),
                b.patch_embed.patch_size,
                b.in_chans,
            )

    def save_beside(self, online: Any, folder: Any, label_space: dict[str, Any]) -> None:
        from taxovit.training.run.adapters import save_adapters

        save_adapters(online, self.cfg, label_space, folder / self.beside[0])
