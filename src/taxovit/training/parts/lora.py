"""LoRA: low-rank adapters on a frozen ViT's linear layers (Hu et al., ICLR 2022).

A :class:`LoRALinear` computes ``W x + b + (alpha / r) · B A dropout(x)`` with ``A`` of shape
``(r, in)`` (Kaiming-uniform, as the reference implementation) and ``B`` of shape
``(out, r)`` initialised to zero, so the adapted model starts as the base model. It *is* an
``nn.Linear`` holding the base ``weight`` and ``bias`` under their own names, so a pretrained
checkpoint still loads into it and the adapter tensors are just two extra entries
(``...qkv.lora_A``, ``...qkv.lora_B``).

:func:`apply_lora` wraps the attention projections of every block (the fused ``attn.qkv``
and ``attn.proj``) and optionally the MLP (``mlp.fc1``, ``mlp.fc2``); :func:`merge_lora`
folds the adapters into the weights, ``W <- W + (alpha / r) · B A``, leaving plain
``nn.Linear`` layers (the same outputs without the adapters' cost at inference).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LORA_TARGETS", "LoRALinear", "apply_lora", "lora_modules", "merge_lora"]

#: ``lora.targets`` -> the linear layer of a block it names
LORA_TARGETS = {"qkv": "attn.qkv", "proj": "attn.proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}


class LoRALinear(nn.Linear):
    """``nn.Linear`` plus a rank-``rank`` adapter scaled by ``alpha / rank`` (module
    docstring); ``dropout`` acts on the adapter's input only."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        super().__init__(
            base.in_features, base.out_features, base.bias is not None, device="meta"
        )  # (the base's tensors replace these)
        self.weight = base.weight
        self.bias = base.bias
        self.rank = int(rank)
        self.alpha = float(alpha)
        self.scaling = self.alpha / self.rank
        w = base.weight
        self.lora_A = nn.Parameter(
            torch.empty(rank, base.in_features, device=w.device, dtype=w.dtype)
        )
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype)
        )
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        adapter = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
        return F.linear(x, self.weight, self.bias) + self.scaling * adapter

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with ``W + (alpha / r) · B A`` (new tensors)."""
        out = nn.Linear(
            self.in_features,
            self.out_features,
            self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        delta = (self.lora_B.float() @ self.lora_A.float()) * self.scaling
        out.weight.copy_(self.weight.float() + delta)
        if self.bias is not None:
            out.bias.copy_(self.bias)
        return out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}"


def _target_layers(backbone: nn.Module, targets: list[str]) -> list[tuple[nn.Module, str]]:
    """``(parent module, attribute)`` of every targeted linear layer of every block."""
    out = []
    for block in backbone.blocks:
        for t in targets:
            path, _, attr = LORA_TARGETS[t].rpartition(".")
            out.append((block.get_submodule(path), attr))
    return out


def apply_lora(
    backbone: nn.Module,
    rank: int,
    alpha: float,
    dropout: float = 0.0,
    targets: list[str] | tuple[str, ...] = ("qkv", "proj"),
) -> int:
    """Wrap the ``targets`` (keys of :data:`LORA_TARGETS`) of every block of ``backbone`` in
    a :class:`LoRALinear`, in place; returns how many layers were wrapped."""
    unknown = [t for t in targets if t not in LORA_TARGETS]
    if unknown:
        raise ValueError(f"unknown LoRA targets {unknown}; known: {', '.join(LORA_TARGETS)}")
    layers = _target_layers(backbone, list(targets))
    for parent, attr in layers:
        layer = getattr(parent, attr)
        if not isinstance(layer, LoRALinear):
            setattr(parent, attr, LoRALinear(layer, rank, alpha, dropout))
    return len(layers)


def lora_modules(model: nn.Module) -> list[LoRALinear]:
    """Every :class:`LoRALinear` in ``model``."""
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def merge_lora(model: nn.Module) -> int:
    """Replace every :class:`LoRALinear` of ``model`` by its merged ``nn.Linear``, in place
    (the state dict loses the ``lora_A``/``lora_B`` entries); returns how many."""
    names = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, getattr(parent, attr).merged())
    return len(names)
