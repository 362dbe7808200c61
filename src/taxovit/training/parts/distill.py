"""DeiT distillation (Touvron et al., "Training data-efficient image transformers &
distillation through attention", ICML 2021): the teacher and the loss.

The student has two heads, on the CLS and on the distillation token (``Network.head_dist``);
with ``Z_cls``, ``Z_dist`` their logits, ``Z_t`` the teacher's, ``y`` the label, ``ψ`` the
softmax and ``α = distill.alpha``:

* hard: ``(1 - α) CE(Z_cls, y) + α CE(Z_dist, argmax Z_t)`` (the paper: α = 1/2);
* soft: ``(1 - α) CE(Z_cls, y) + α τ² KL(ψ(Z_t / τ) ‖ ψ(Z_dist / τ))`` (KL per image,
  averaged over the batch; the paper: τ = 3, α = 0.1).

At inference the two heads are averaged (``Network``'s ``logits``).

The teacher (``distill.teacher``) is a ``taxovit train`` checkpoint trained on the same
training classes (its EMA weights when it kept them) or any file
:func:`taxovit.models.load_model` reads, built with one output per training class. It runs in
eval mode, frozen, without gradients, on the student's (augmented) images.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxovit.errors import TaxovitError
from taxovit.training.run.config import Config, ConfigError
from taxovit.training.run.schema import DataConfig

__all__ = ["Teacher", "distillation_loss", "load_teacher"]


def distillation_loss(dist_logits: Tensor, teacher_logits: Tensor, kind: str, tau: float) -> Tensor:
    """The distillation term (module docstring): hard or soft at temperature ``tau``."""
    if kind == "hard":
        return F.cross_entropy(dist_logits, teacher_logits.argmax(dim=1))
    log_p = F.log_softmax(dist_logits / tau, dim=1)
    log_q = F.log_softmax(teacher_logits / tau, dim=1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * tau * tau


class Teacher(nn.Module):
    """A frozen model in eval mode: ``teacher(x)`` is its logits, without gradient."""

    def __init__(self, model: nn.Module, run_network: bool) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.run_network = run_network

    def train(self, mode: bool = True) -> Teacher:  # always eval (dropout, drop path off)
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x)
        return (out["logits"] if self.run_network else out).float()


def _run_teacher(path: str, space: Any) -> Teacher:
    from taxovit.training.parts.network import build_online
    from taxovit.training.run.checkpoint import load_weights, read_run_checkpoint

    ck, tcfg, tspace = read_run_checkpoint(path, "distill.teacher")
    method = tcfg.method_class
    if not method.has_head(method.own(tcfg)):
        raise ConfigError(
            f"distill.teacher {path}: its method {tcfg.method} has no "
            "classifier head to distil from"
        )
    if list(tspace.train_names) != list(space.train_names):
        raise ConfigError(
            f"distill.teacher {path}: trained on other classes "
            f"({len(tspace.train_names)}: {', '.join(tspace.train_names[:4])}...) "
            f"than this run's {len(space.train_names)} training classes"
        )
    net = build_online(tcfg, len(tspace.train_names), pretrained=False)
    load_weights(net, ck.get("model_ema") or ck["model"], f"distill.teacher {path}")
    return Teacher(net, run_network=True)


def load_teacher(cfg: Config, space: Any, device: torch.device) -> Teacher:
    """The teacher of ``distill.teacher`` on ``device``, checked on one blank image of the
    run's size: one ConfigError naming the key when it cannot be read or does not fit."""
    from taxovit.training.run.checkpoint import FORMAT, load_checkpoint

    path = cfg.distill.teacher
    try:
        obj = load_checkpoint(path)
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            teacher = _run_teacher(path, space)
        else:
            from taxovit.models import load_model

            model = load_model(path, num_classes=len(space.train_names))
            _check_head(model, len(space.train_names), path)
            teacher = Teacher(model, run_network=False)
    except ConfigError:
        raise
    except (TaxovitError, OSError, ValueError, KeyError, RuntimeError) as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"distill.teacher {path}: cannot load it: {msg}") from None
    teacher.to(device)
    _check_output(teacher, cfg.data, len(space.train_names), device, path)
    return teacher


def _check_head(model: nn.Module, n: int, path: str) -> None:
    """``load_model`` makes a zero head when the file has none with ``n`` classes: no
    teacher then."""
    heads = [h for h in (model.head, getattr(model, "head_dist", None)) if h is not None]
    if all(not any(bool(p.any()) for p in h.parameters()) for h in heads):
        raise ConfigError(
            f"distill.teacher {path}: the file has no classifier head with this "
            f"run's {n} training classes (a teacher must predict them)"
        )


def _check_output(teacher: Teacher, d: DataConfig, n: int, device: torch.device, path: str) -> None:
    probe = torch.zeros(1, d.in_chans, d.img_size, d.img_size, device=device)
    try:
        shape = tuple(teacher(probe).shape)
    except (RuntimeError, ValueError) as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(
            f"distill.teacher {path}: cannot run on this run's images "
            f"({d.in_chans} x {d.img_size} x {d.img_size}): {msg}"
        ) from None
    if shape != (1, n):
        raise ConfigError(
            f"distill.teacher {path}: gives {shape[-1]} outputs per image; this "
            f"run has {n} training classes"
        )
