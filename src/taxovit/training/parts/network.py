"""The trained network: a ViT/TransFG backbone plus the heads a method needs.

The backbone comes from :func:`taxovit.models.build_model`; ``method: transfg`` uses the
TransFG architecture, the other methods a plain ViT.
"""

from __future__ import annotations

import copy
import inspect
import pickle
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from taxovit.models import (
    PRESETS,
    TransFG,
    VisionTransformer,
    build_model,
    load_model,
    load_pretrained,
)
from taxovit.training.parts.lora import apply_lora
from taxovit.training.parts.prompts import VisualPrompts
from taxovit.training.run.config import ConfigError
from taxovit.training.run.schema import OVERRIDE_RULES, PRESET_SIZES, TRANSFG_ONLY

__all__ = [
    "ADD_ONS",
    "Network",
    "build_network",
    "build_online",
    "ema_copy",
    "ema_update",
    "frozen_copy",
    "has_head",
    "param_groups",
    "projector_mlp",
]


class Network(nn.Module):
    """Backbone (CLS feature) + optional classifier head, projector ``g`` and predictor ``q``.

    ``forward`` returns a dict: ``features`` always, ``logits`` with a head, ``z`` (projector
    output) with a projector, ``p`` (predictor output) with a predictor.

    Fine-tuning add-ons (:data:`ADD_ONS`, by ``method``): ``prompts`` (VPT,
    :class:`~taxovit.training.prompts.VisualPrompts`) is the hook of the backbone's
    ``forward_tokens``; ``head_dist`` (DeiT) is a second head on the distillation token of a
    ``distilled`` backbone: then ``logits_cls`` and ``logits_dist`` are the two heads and
    ``logits`` their average (DeiT's inference, Touvron et al. 2021).
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

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.head_dist is not None:
            feats, dist = self.backbone.forward_features_pair(x, self.prompts)
            cls_logits, dist_logits = self.head(feats), self.head_dist(dist)
            return {"features": feats, "logits_cls": cls_logits, "logits_dist": dist_logits,
                    "logits": (cls_logits + dist_logits) / 2}  # fmt: skip
        if self.prompts is not None:
            return {"features": self.backbone.forward_tokens(x, self.prompts)[:, 0]}
        return {"features": self.backbone.forward_features(x)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
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


def projector_mlp(d_in: int, hidden: int, d_out: int) -> nn.Module:
    """Linear-LayerNorm-GELU-Linear: Grafit's projector ``g`` and predictor ``q``."""
    # LayerNorm rather than BatchNorm: per-sample, so data-parallel runs match one process.
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, d_out)
    )


#: constructor arguments a config sets outside ``model.overrides``
_SET_BY_CONFIG = {"self", "args", "kwargs", "img_size", "patch_size", "stride", "in_chans",
                  "num_classes", "stem"}  # fmt: skip


def _constructor_args(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - _SET_BY_CONFIG


# the torch-free config schema keeps copies of these model facts: they must agree
if {k: tuple(v) for k, v in PRESETS.items()} != PRESET_SIZES or set(OVERRIDE_RULES) != (
    _constructor_args(VisionTransformer) | _constructor_args(TransFG)
) or set(TRANSFG_ONLY) != _constructor_args(TransFG):  # pragma: no cover - a coding error
    raise ImportError("schema.PRESET_SIZES / OVERRIDE_RULES disagree with taxovit.models")


def _backbone(cfg: dict[str, Any], pretrained: bool = True) -> nn.Module:
    m, d = cfg["model"], cfg["data"]
    if m["preset"] == "auto":
        return _backbone_from_file(cfg)
    backbone = build_model(
        "transfg" if cfg["method"] == "transfg" else "vit",
        m["preset"],
        num_classes=0,
        img_size=int(d["img_size"]),
        patch_size=int(m["patch_size"]),
        stride=m["stride"],
        in_chans=int(d["in_chans"]),
        stem=str(m.get("stem", "patch")),
        **(m.get("overrides") or {}),
        **({"distilled": True} if cfg["method"] == "deit" else {}),  # DeiT's distillation token
    )
    if pretrained and m.get("pretrained"):
        try:
            load_pretrained(backbone, m["pretrained"], strict=False)
        except _LOAD_ERRORS as exc:
            raise _load_error(m["pretrained"], exc) from None
    return backbone


_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError)


def _load_error(path: str, exc: BaseException) -> ConfigError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ConfigError(f"model.pretrained {path}: cannot load it: {msg}")


def _backbone_from_file(cfg: dict[str, Any]) -> nn.Module:
    """``model.preset: auto``: the architecture and weights of ``model.pretrained``
    (:func:`taxovit.models.load_model`), at ``data.img_size`` / ``data.in_chans``, with
    ``model.stride`` and ``model.overrides``; ``model.patch_size`` and ``stem`` are the
    file's. The file is read even when the weights are loaded afterwards (``--resume``,
    ``predict``): its shapes define the architecture."""
    m, d = cfg["model"], cfg["data"]
    extra = dict(m.get("overrides") or {})
    if m["stride"] is not None:
        extra["stride"] = int(m["stride"])
    try:
        return load_model(m["pretrained"], num_classes=0,
                          arch="transfg" if cfg["method"] == "transfg" else "vit",
                          img_size=int(d["img_size"]), in_chans=int(d["in_chans"]), **extra)
    except _LOAD_ERRORS as exc:
        raise _load_error(m["pretrained"], exc) from None


def build_online(cfg: dict[str, Any], num_train_classes: int, pretrained: bool = True) -> Network:
    """The trained network, initialised from ``cfg``: a head on the training-rank classes
    (except Grafit without cross-entropy); Grafit adds the projector and (instance loss
    byol) the predictor.
    ``pretrained=False`` skips ``model.pretrained`` (weights loaded afterwards anyway)."""
    backbone = _backbone(cfg, pretrained)
    dim = backbone.embed_dim
    g = cfg["grafit"]
    head = None
    if has_head(cfg):
        head = nn.Linear(dim, num_train_classes)
        nn.init.trunc_normal_(head.weight, std=0.02)
        nn.init.zeros_(head.bias)
    if cfg["method"] != "grafit":
        net = Network(backbone, head)
        add_on = ADD_ONS.get(cfg["method"])
        if add_on is not None:
            add_on(net, cfg, num_train_classes)
        return net
    projector = projector_mlp(dim, int(g["proj_hidden"]), int(g["proj_dim"]))
    predictor = None  # the instance loss nce compares projections directly
    if g["instance"] == "byol":
        predictor = projector_mlp(int(g["proj_dim"]), int(g["proj_hidden"]), int(g["proj_dim"]))
    return Network(backbone, head, projector, predictor)


def add_lora(net: Network, cfg: dict[str, Any], num_train_classes: int) -> None:
    """``method: lora``: :class:`~taxovit.training.lora.LoRALinear` adapters (``lora.rank``,
    ``alpha``, ``dropout``) on the ``lora.targets`` of every block."""
    lo = cfg["lora"]
    apply_lora(net.backbone, int(lo["rank"]), float(lo["alpha"]), float(lo["dropout"]),
               list(lo["targets"]))  # fmt: skip


def add_prompts(net: Network, cfg: dict[str, Any], num_train_classes: int) -> None:
    """``method: vpt``: ``vpt.tokens`` prompt tokens, ``vpt.depth`` shallow or deep."""
    b, v = net.backbone, cfg["vpt"]
    net.prompts = VisualPrompts(int(v["tokens"]), b.embed_dim, len(b.blocks), str(v["depth"]),
                                int(b.num_prefix_tokens), b.patch_embed.patch_size,
                                b.in_chans)  # fmt: skip


def add_dist_head(net: Network, cfg: dict[str, Any], num_train_classes: int) -> None:
    """``method: deit``: a head on the distillation token (the backbone is ``distilled``)."""
    if not getattr(net.backbone, "distilled", False):
        raise ConfigError("method deit: the backbone has no distillation token (model.preset "
                          "auto read a checkpoint without one); use a preset")
    net.head_dist = nn.Linear(net.backbone.embed_dim, num_train_classes)
    nn.init.trunc_normal_(net.head_dist.weight, std=0.02)
    nn.init.zeros_(net.head_dist.bias)


#: ``method`` -> what it adds to the network after the head (:class:`Network`)
ADD_ONS: dict[str, Callable[[Network, dict[str, Any], int], None]] = {
    "lora": add_lora,
    "vpt": add_prompts,
    "deit": add_dist_head,
}


def has_head(cfg: dict[str, Any]) -> bool:
    """Whether the network of ``cfg`` has a classifier head on the training-rank classes:
    every method but ``knn`` (no training) and ``grafit`` without cross-entropy."""
    if cfg["method"] == "grafit":
        return float(cfg["grafit"]["lambda_ce"]) > 0
    return cfg["method"] != "knn"


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


def ema_copy(online: Network) -> Network:
    """A frozen copy of ``online``'s backbone and projector (an EMA target network)."""
    target = Network(copy.deepcopy(online.backbone), None, copy.deepcopy(online.projector))
    for p in target.parameters():
        p.requires_grad_(False)
    return target


def build_network(cfg: dict[str, Any], num_train_classes: int) -> tuple[Network, Network | None]:
    """The online network and (Grafit only) its EMA target, initialised from ``cfg``."""
    online = build_online(cfg, num_train_classes)
    return online, (ema_copy(online) if cfg["method"] == "grafit" else None)


def _no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters listed by every submodule's ``no_weight_decay()``."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        listed = getattr(module, "no_weight_decay", None)
        if callable(listed):
            names |= {f"{prefix}.{n}" if prefix else n for n in listed()}
    return names


def layer_id(name: str, depth: int) -> int:
    """The layer of parameter ``name`` for layer-wise LR decay (BEiT, Bao et al. 2022; MAE,
    He et al. 2022): 0 for the patch embedding and the tokens before the blocks (``cls_token``,
    ``pos_embed``, distillation/register tokens, VPT prompts), ``i + 1`` for ``blocks.i``, and
    ``depth + 1`` for everything after the blocks (final norm, heads, projector)."""
    parts = name.split(".")
    if "blocks" in parts:
        i = parts.index("blocks")
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            return int(parts[i + 1]) + 1
    if parts[0] == "prompts" or (parts[0] == "backbone" and len(parts) > 1 and (
            parts[1] == "patch_embed" or parts[1] == "pos_embed" or parts[1].endswith("token")
            or parts[1].endswith("tokens"))):  # fmt: skip
        return 0
    return depth + 1


def param_groups(
    model: nn.Module, weight_decay: float, layer_decay: float | None = None
) -> list[dict[str, Any]]:
    """AdamW groups: ``weight_decay`` on the weights; none on biases, norms (``ndim <= 1``)
    and what the modules' ``no_weight_decay()`` name (position embedding, CLS token).

    Only the parameters that require a gradient are listed (the freeze schedule freezes some
    of them for a while; AdamW skips a parameter without a gradient). With ``layer_decay``
    (layer-wise LR decay) every group also has an ``lr_scale`` ``layer_decay ** (depth + 1 -
    layer_id)`` (:func:`layer_id`, ``depth`` the backbone's blocks), one group per layer and
    decay kind; :func:`~taxovit.training.prepare.build_optimizer` multiplies it into ``lr``.
    """
    skip = _no_weight_decay_names(model)
    depth = _depth(model) if layer_decay is not None else 0
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or name in skip
        layer = layer_id(name, depth) if layer_decay is not None else 0
        group = groups.setdefault((layer, no_decay), {
            "params": [], "weight_decay": 0.0 if no_decay else weight_decay,
            "lr_scale": 1.0 if layer_decay is None else layer_decay ** (depth + 1 - layer),
        })  # fmt: skip
        group["params"].append(p)
    if layer_decay is None:  # the two groups of old: decay first, always both
        return [groups.get((0, flag), {"params": [], "weight_decay": wd, "lr_scale": 1.0})
                for flag, wd in ((False, weight_decay), (True, 0.0))]  # fmt: skip
    return [groups[k] for k in sorted(groups)]


def _depth(model: nn.Module) -> int:
    """The number of transformer blocks of ``model`` (a :class:`Network` or a backbone)."""
    backbone = getattr(model, "backbone", model)
    return len(backbone.blocks)
