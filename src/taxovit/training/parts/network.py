"""The trained network: a backbone plus the head and the parts a method adds.

The backbone comes from :func:`taxovit.models.build_model` in the architecture the method
names (:attr:`~taxovit.training.methods.base.Method.arch`); the method adds its parts
(:meth:`~taxovit.training.methods.base.Method.add_parts`) after the head.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from taxovit.models import build_model, load_model, load_pretrained
from taxovit.training.run.config import ConfigError
from taxovit.training.run.schema import Config, DataConfig, ModelConfig

__all__ = ["Network", "build_online", "ema_update", "frozen_copy", "param_groups"]


class Network(nn.Module):
    """Backbone (CLS feature) + optional classifier head, projector ``g`` and predictor ``q``.

    ``forward`` returns a dict: ``features`` always, ``logits`` with a head, ``z`` (projector
    output) with a projector, ``p`` (predictor output) with a predictor.

    Parts a method may add (:meth:`~taxovit.training.methods.base.Method.add_parts`):
    ``prompts`` (VPT,
    :class:`~taxovit.training.parts.prompts.VisualPrompts`) is the hook of the backbone's
    ``forward_tokens``; ``head_dist`` (DeiT) is a second head on the distillation token of a
    ``distilled`` backbone: then ``logits_cls`` and ``logits_dist`` are the two heads and
    ``logits`` their average (DeiT's inference, Touvron et al. 2021); and other forwards in
    :attr:`forwards` (``model(x, via=name)``, e.g. a masked encoder): called through the
    model as trained, they run under its DDP / compile wrappers.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module | None = None,
        projector: nn.Module | None = None,
        predictor: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.projector = projector
        self.predictor = predictor
        self.prompts: nn.Module | None = None
        self.head_dist: nn.Module | None = None
        #: name -> ``f(network, x) -> dict``: the forwards a method adds
        self.forwards: dict[str, Callable[[Network, torch.Tensor], dict[str, Any]]] = {}

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.head_dist is not None:
            feats, dist = self.backbone.forward_features_pair(x, self.prompts)
            cls_logits, dist_logits = self.head(feats), self.head_dist(dist)
            return {
                "features": feats,
                "logits_cls": cls_logits,
                "logits_dist": dist_logits,
                "logits": (cls_logits + dist_logits) / 2,
            }
        if self.prompts is not None:
            return {"features": self.backbone.forward_tokens(x, self.prompts)[:, 0]}
        return {"features": self.backbone.forward_features(x)}

    def layer_ids(self) -> dict[str, int]:
        """Parameter name -> layer for layer-wise LR decay: the backbone's
        (:meth:`~taxovit.models.VisionTransformer.layer_ids`), the prompts at layer 0 (tokens
        before the blocks), every other part (heads, projector) above the last block."""
        top = len(self.backbone.blocks) + 1
        inner = {f"backbone.{k}": v for k, v in self.backbone.layer_ids().items()}
        return {
            name: inner.get(name, 0 if name.startswith("prompts.") else top)
            for name, _ in self.named_parameters()
        }

    def forward(self, x: torch.Tensor, via: str | None = None) -> dict[str, Any]:
        if via is not None:  # a forward the method added
            return self.forwards[via](self, x)
        out = self._features(x)
        feats = out["features"]
        if self.head is not None and "logits" not in out:
            out["logits"] = self.head(feats)
        if self.projector is not None:
            z = self.projector(feats)
            out["z"] = z
            if self.predictor is not None:
                out["p"] = self.predictor(z)
        return out


def _backbone(cfg: Config, pretrained: bool = True) -> nn.Module:
    m, d, method = cfg.model, cfg.data, cfg.method_class
    if m.preset == "auto":
        return _backbone_from_file(m, d, method.arch)
    backbone = build_model(
        method.arch,
        m.preset,
        num_classes=0,
        img_size=d.img_size,
        patch_size=m.patch_size,
        stride=m.stride,
        in_chans=d.in_chans,
        stem=m.stem,
        **(m.overrides or {}),
        **method.backbone_args,
    )
    if pretrained and m.pretrained:
        try:
            load_pretrained(backbone, m.pretrained, strict=False)
        except _LOAD_ERRORS as exc:
            raise _load_error(m.pretrained, exc) from None
    return backbone


_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError)


def _load_error(path: str, exc: BaseException) -> ConfigError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ConfigError(f"model.pretrained {path}: cannot load it: {msg}")


def _backbone_from_file(m: ModelConfig, d: DataConfig, arch: str) -> nn.Module:
    """``model.preset: auto``: the architecture and weights of ``model.pretrained``
    (:func:`taxovit.models.load_model`), at ``data.img_size`` / ``data.in_chans``, with
    ``model.stride`` and ``model.overrides``; ``model.patch_size`` and ``stem`` are the
    file's. The file is read even when the weights are loaded afterwards (``--resume``,
    ``predict``): its shapes define the architecture."""
    extra = dict(m.overrides or {})
    if m.stride is not None:
        extra["stride"] = m.stride
    try:
        return load_model(
            m.pretrained,
            num_classes=0,
            arch=arch,
            img_size=d.img_size,
            in_chans=d.in_chans,
            **extra,
        )
    except _LOAD_ERRORS as exc:
        raise _load_error(m.pretrained, exc) from None


def build_online(cfg: Config, num_train_classes: int, pretrained: bool = True) -> Network:
    """The trained network, initialised from ``cfg``: the backbone, a head on the
    training-rank classes when the method has one, then the method's parts.
    ``pretrained=False`` skips ``model.pretrained`` (weights loaded afterwards anyway)."""
    method = cfg.method_class
    backbone = _backbone(cfg, pretrained)
    head = None
    if method.has_head(method.own(cfg)):
        head = nn.Linear(backbone.embed_dim, num_train_classes)
        nn.init.trunc_normal_(head.weight, std=0.02)
        nn.init.zeros_(head.bias)
    net = Network(backbone, head)
    method.add_parts(net, method.own(cfg), num_train_classes)
    return net


def frozen_copy(online: Network) -> Network:
    """A frozen copy of the whole network (the EMA of the weights, ``optim.ema_weights``)."""
    copied = copy.deepcopy(online)
    for p in copied.parameters():
        p.requires_grad_(False)
    return copied


@torch.no_grad()
def ema_update(ema: nn.Module, online: nn.Module, momentum: float, step: int) -> None:
    """``ema <- m·ema + (1 - m)·online`` with ``m = min(momentum, (1 + step) / (10 + step))``
    (a short warm-up: the average does not keep the random initialisation for long)."""
    m = min(float(momentum), (1.0 + step) / (10.0 + step))
    for e, p in zip(ema.parameters(), online.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - m)
    for e, b in zip(ema.buffers(), online.buffers(), strict=True):
        e.copy_(b)


def _no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters listed by every submodule's ``no_weight_decay()``."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        listed = getattr(module, "no_weight_decay", None)
        if callable(listed):
            names |= {f"{prefix}.{n}" if prefix else n for n in listed()}
    return names


def param_groups(
    model: Network, weight_decay: float, layer_decay: float | None = None
) -> list[dict[str, Any]]:
    """AdamW groups: ``weight_decay`` on the weights; none on biases, norms (``ndim <= 1``)
    and what the modules' ``no_weight_decay()`` name (position embedding, CLS token).

    Only the parameters that require a gradient are listed (the freeze schedule freezes some
    of them for a while; AdamW skips a parameter without a gradient). With ``layer_decay``
    (layer-wise LR decay) every group also has an ``lr_scale`` ``layer_decay ** (depth + 1 -
    layer)``, the layer from :meth:`Network.layer_ids` (the backbone's own
    :meth:`~taxovit.models.VisionTransformer.layer_ids`; ``depth`` its blocks), one group per
    layer and decay kind; :func:`~taxovit.training.run.prepare.build_optimizer` multiplies it
    into ``lr``.
    """
    skip = _no_weight_decay_names(model)
    depth = len(model.backbone.blocks) if layer_decay is not None else 0
    layers = model.layer_ids() if layer_decay is not None else {}
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or name in skip
        layer = layers.get(name, 0)
        group = groups.setdefault(
            (layer, no_decay),
            {
                "params": [],
                "weight_decay": 0.0 if no_decay else weight_decay,
                "lr_scale": 1.0 if layer_decay is None else layer_decay ** (depth + 1 - layer),
            },
        )
        group["params"].append(p)
    if layer_decay is None:  # the two groups of old: decay first, always both
        return [
            groups.get((0, flag), {"params": [], "weight_decay": wd, "lr_scale": 1.0})
            for flag, wd in ((False, weight_decay), (True, 0.0))
        ]
    return [groups[k] for k in sorted(groups)]
