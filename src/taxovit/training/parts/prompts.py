"""Visual prompt tuning, VPT (Jia et al., "Visual Prompt Tuning", ECCV 2022).

``tokens`` learned prompt tokens enter the token sequence of a frozen ViT right after its
``num_prefix_tokens`` prefix tokens (CLS, distillation, registers):

* ``shallow``: inserted once, before block 0; the blocks carry them on.
  ``[prefix, P, patches] -> block 0 -> ... -> block L-1``
* ``deep``: a fresh set per block; before block ``i > 0`` the ``tokens`` outputs of block
  ``i - 1`` at the prompt positions are *replaced* by prompt set ``i``.

Prompts are drawn uniform in ``[-v, v]`` with ``v = sqrt(6 / (3 · patch² + dim))`` as in the
paper's code (Xavier for a patch-sized fan-in). :class:`VisualPrompts` is the hook
``hook(i, tokens) -> tokens`` that :meth:`VisionTransformer.forward_tokens` calls before
every block; the CLS feature is ``forward_tokens(x, prompts)[:, 0]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["VPT_DEPTHS", "VisualPrompts"]

VPT_DEPTHS = ("shallow", "deep")


class VisualPrompts(nn.Module):
    """``tokens`` prompts of width ``dim``: one set (``shallow``) or ``depth`` sets
    (``deep``), in ``self.tokens`` of shape ``(sets, tokens, dim)``."""

    def __init__(
        self,
        tokens: int,
        dim: int,
        depth: int,
        kind: str,
        prefix: int,
        patch: int,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if kind not in VPT_DEPTHS:
            raise ValueError(f"VPT depth must be one of {VPT_DEPTHS}, got {kind!r}")
        if tokens < 1:
            raise ValueError(f"VPT needs >= 1 prompt token, got {tokens}")
        self.kind = kind
        self.prefix = int(prefix)
        self.num_tokens = int(tokens)
        sets = depth if kind == "deep" else 1
        self.tokens = nn.Parameter(torch.empty(sets, tokens, dim))
        v = math.sqrt(6.0 / float(in_chans * patch * patch + dim))
        nn.init.uniform_(self.tokens, -v, v)

    def forward(self, i: int, x: Tensor) -> Tensor:
        """The token sequence block ``i`` sees (module docstring)."""
        if i > 0 and self.kind == "shallow":
            return x
        p, n = self.prefix, self.num_tokens
        prompts = self.tokens[i].to(x.dtype).expand(x.shape[0], -1, -1)
        rest = x[:, p:] if i == 0 else x[:, p + n :]
        return torch.cat([x[:, :p], prompts, rest], dim=1)
