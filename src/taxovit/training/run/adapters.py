"""The small file of a parameter-efficient run (``method: lora`` or ``vpt``): ``adapters.pt``.

Only what the run trained is in it (LoRA's ``lora_A``/``lora_B`` or the VPT prompts, and the
head), with the method's settings and the label space, so a user ships a few MB instead of a
whole ViT and puts it back on the same pretrained base model::

    net = build_online(cfg_of_the_base, n)     # or any Network on that backbone
    load_adapters(net, "run/adapters.pt")     # adds the LoRA layers / prompts, loads them
    merge_lora(net)                           # optional, LoRA: plain linear layers again

Written atomically by every save of such a run, beside ``checkpoint.pt`` (which still holds
everything needed to resume).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from taxovit._atomic import atomic_write
from taxovit.errors import TaxovitError
from taxovit.training.run.config import Config

__all__ = [
    "ADAPTERS_FORMAT",
    "ADAPTERS_NAME",
    "adapter_state_dict",
    "load_adapters",
    "save_adapters",
]

ADAPTERS_NAME = "adapters.pt"
ADAPTERS_FORMAT = "taxovit-adapters/1"


def adapter_state_dict(network: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable tensors of ``network`` (adapters and head), on the CPU."""
    return {n: p.detach().cpu().clone() for n, p in network.named_parameters() if p.requires_grad}


def save_adapters(
    network: nn.Module, cfg: Config, label_space: dict[str, Any], path: str | os.PathLike[str]
) -> None:
    """Write ``network``'s trainable tensors and the method's settings (its config
    section) to ``path``."""
    own = cfg.method_class.own(cfg)
    obj = {
        "format": ADAPTERS_FORMAT,
        "method": cfg.method,
        "settings": {} if own is None else own.to_dict(),
        "model": cfg.model.to_dict(),
        "label_space": label_space,
        "tensors": adapter_state_dict(network),
    }
    atomic_write(path, lambda fh: torch.save(obj, fh), binary=True)


def _read(path: str | os.PathLike[str]) -> dict[str, Any]:
    from taxovit.training.run.checkpoint import load_checkpoint

    obj = load_checkpoint(path)
    if not isinstance(obj, dict) or obj.get("format") != ADAPTERS_FORMAT:
        raise TaxovitError(
            f"{path}: not an adapters file written by 'taxovit train' (format {ADAPTERS_FORMAT})"
        )
    return obj


def _add_structure(
    path: Any, network: nn.Module, method: Any, settings: Any, num_classes: int
) -> None:
    """Give a plain network the parts (LoRA layers, prompts) of the method's ``settings``
    when it lacks them (:meth:`~taxovit.training.methods.base.Method.add_parts`)."""
    from taxovit.training.methods import METHODS

    cls = METHODS.get(method) if isinstance(method, str) else None
    if cls is None or cls.section is None or not isinstance(settings, dict):
        raise TaxovitError(f"{path}: the adapters are of an unknown method {method!r}")
    try:
        section = cls.section(**settings)
    except TypeError:
        raise TaxovitError(f"{path}: malformed {method} settings") from None
    cls.add_parts(network, section, num_classes)


def load_adapters(network: nn.Module, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Put the adapters of ``path`` on ``network`` (a :class:`~taxovit.training.parts.network.Network`
    on the base backbone the run started from), adding the LoRA layers or prompts when it has
    none; returns the file's entries. Every tensor must fit: one clear error otherwise."""
    obj = _read(path)
    tensors = obj["tensors"]
    head = tensors.get("head.weight")
    _add_structure(
        path,
        network,
        obj.get("method"),
        obj.get("settings"),
        int(head.shape[0]) if head is not None else 0,
    )
    ours = network.state_dict()
    bad = [
        f"{k} {tuple(v.shape)}"
        for k, v in tensors.items()
        if k not in ours or ours[k].shape != v.shape
    ]
    if bad:
        raise TaxovitError(
            f"{path}: the adapters do not fit this model (missing or of "
            f"another shape: {', '.join(bad[:4])})"
        )
    network.load_state_dict(tensors, strict=False)
    return obj
