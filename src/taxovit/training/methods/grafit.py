"""``method: grafit`` (Touvron et al., ICCV 2021): coarse-to-fine learning,
``lambda_inst L_inst + lambda_knn L_knn (+ lambda_ce CE)`` at the training rank.

The network gets a projector ``g`` and, for the instance loss ``byol``, a predictor ``q``
(:func:`projector_mlp`); ``byol`` (the paper's) compares the predictor against an EMA target
network (backbone + projector) that this method owns and keeps in the checkpoint
(``target``), ``nce`` is the kNN loss with each image its own class at temperature
``tau_inst`` (its other views positive, the rest of the global batch negative; no target),
``mocov3`` is MoCo v3's InfoNCE (:mod:`~taxovit.training.methods.mocov3`) of the predictor
against the EMA target's projections of the other views at ``tau_inst`` (keys: the global
batch), and ``dino`` is DINO's self-distillation (:mod:`~taxovit.training.methods.dino`)
between the views: a DINO head (``grafit.out_dim`` prototypes, ``proj_hidden`` /
``proj_dim`` wide) on the backbone, its EMA in the target, the temperatures and the centre
momentum of the ``dino:`` section (state: ``grafit_dino``). A run may start from a
self-supervised checkpoint (``model.pretrained``: ``mae``, ``mocov3``, ``dino``).
A memory bank of recent target (nce: detached online) embeddings with their training-rank
labels (``bank``) adds kNN candidates. The kNN loss uses the embeddings of the whole global
batch as candidates, so N processes compute the same loss as one process on the same global
batch. The losses are :mod:`taxovit.training.parts.losses`; the defaults are ours, not the
paper's exact hyper-parameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Problem, Section, choice, integer, key, number, ok

__all__ = ["Grafit", "GrafitConfig", "projector_mlp"]

_FRACTION = number(0, 1)


@dataclass
class GrafitConfig(Section):
    """``grafit:``."""

    name = "grafit"
    views: int = key(2, integer(1), "augmented views per image (>= 2)")
    instance: str = key(
        "byol",
        choice(("byol", "nce", "mocov3", "dino")),
        "instance loss: byol (predictor + EMA target) | nce (in-batch kNN) | "
        "mocov3 (InfoNCE against the EMA target) | dino (self-distillation)",
    )
    tau_inst: float = key(0.2, number(0, lo_open=True), "nce, mocov3: temperature")
    out_dim: int = key(1024, integer(1), "dino: prototypes of the DINO head")
    lambda_inst: float = key(1.0, number(0), "weight of the instance loss")
    lambda_knn: float = key(1.0, number(0), "weight of the kNN loss")
    lambda_ce: float = key(0.0, number(0), "weight of a cross-entropy head (0 = no head)")
    sigma: float = key(0.1, number(0, lo_open=True), "kNN loss temperature")
    k: int | None = key(None, integer(1, null=True), "kNN loss neighbours; null = all")
    bank_size: int = key(4096, integer(0), "memory bank entries (0 = none)")
    proj_hidden: int = key(512, integer(1), "projector / predictor hidden width")
    proj_dim: int = key(128, integer(1), "projection width")
    ema: float = key(0.99, _FRACTION, "EMA momentum at step 0, cosine-increased to ema_end")
    ema_end: float = key(1.0, _FRACTION, "EMA momentum at the last step")


def projector_mlp(d_in: int, hidden: int, d_out: int) -> Any:
    """Linear-LayerNorm-GELU-Linear: Grafit's projector ``g`` and predictor ``q``."""
    from torch import nn

    # LayerNorm rather than BatchNorm: per-sample, so data-parallel runs match one process.
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, d_out)
    )


class Grafit(Method):
    """Grafit's instance and kNN losses (module docstring)."""

    name = "grafit"
    section = GrafitConfig

    @classmethod
    def check(cls, cfg: Any, bad: set[str]) -> list[Problem]:
        views = cfg.grafit.views
        if views < 2 and ok(bad, "grafit.views"):
            return [
                Problem(
                    "grafit.views",
                    f"grafit.views: must be >= 2 for method grafit (instance loss), got {views}",
                )
            ]
        return []

    @classmethod
    def has_head(cls, section: GrafitConfig) -> bool:
        return section.lambda_ce > 0

    @classmethod
    def resume_entries(cls, section: GrafitConfig) -> tuple[str, ...]:
        return {"byol": ("target",), "mocov3": ("target",), "dino": ("target", "grafit_dino")}.get(
            section.instance, ()
        )

    @classmethod
    def add_parts(cls, net: Any, section: GrafitConfig, num_classes: int) -> None:
        g = section
        net.projector = projector_mlp(net.backbone.embed_dim, g.proj_hidden, g.proj_dim)
        if g.instance in ("byol", "mocov3"):  # nce compares projections directly
            net.predictor = projector_mlp(g.proj_dim, g.proj_hidden, g.proj_dim)
        if g.instance == "dino":
            from taxovit.training.parts.ssl import DinoHead

            net.dino_head = DinoHead(net.backbone.embed_dim, g.proj_hidden, g.proj_dim, g.out_dim)
            net.forwards["grafit_dino"] = _with_dino

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        from taxovit.training.parts import losses

        super().__init__(cfg, online, dist, device)
        g = cfg.grafit
        self.dist = dist
        self.views = g.views
        self.weights = losses.GrafitLossWeights(
            g.lambda_inst, g.lambda_knn, g.lambda_ce, g.sigma, g.k
        )
        self.momentum = (g.ema, g.ema_end)
        self.tau_inst, self.instance = g.tau_inst, g.instance
        self.target = None if g.instance == "nce" else _ema_target(online).to(device)
        self.term = None
        if g.instance == "dino":
            from taxovit.training.methods.dino import DinoTerm

            self.term = DinoTerm(
                dataclasses.replace(cfg.dino, out_dim=g.out_dim), cfg.optim.epochs, dist, device
            )
        self.bank = losses.MemoryBank(g.bank_size, g.proj_dim, device)

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        # x is (B, T, C, H, W); stack the views view-major
        b, t = x.shape[:2]
        xs = x.transpose(0, 1).reshape(t * b, *x.shape[2:])
        ys = labels.repeat(t)
        out = model(xs, via="grafit_dino" if self.term is not None else None)
        z = out["z"].float()
        if self.target is not None:
            with torch.no_grad():
                tf = self.target.backbone.forward_features(xs)
                tz = self.target.projector(tf).float()
            inst = self._target_loss(out, tz, tf, b)
        else:  # nce: the kNN loss with each image its own class (its other views positive)
            tz = z.detach()
            image = (torch.arange(b, device=z.device) + self.dist.rank * b).repeat(t)
            inst = self._knn_loss(z, image, self.dist.gather(image), self.tau_inst, bank=False)
        all_y = self.dist.gather(ys)
        knn = self._knn_loss(z, ys, all_y, self.weights.sigma)
        w = self.weights
        total = w.lambda_inst * inst + w.lambda_knn * knn
        parts = {"inst": inst.detach(), "knn": knn.detach()}
        if w.lambda_ce > 0:
            ce = F.cross_entropy(out["logits"].float(), ys)
            total = total + w.lambda_ce * ce
            parts["ce"] = ce.detach()
        parts["loss"] = total
        self.bank.enqueue(self.dist.gather(tz), all_y)
        return parts

    def _target_loss(self, out: Any, tz: Any, tf: Any, b: int) -> Any:
        """byol, mocov3 or dino: the online views against the target's (``tz`` projections,
        ``tf`` features, view-major, ``b`` images per view)."""
        import torch

        from taxovit.training.parts import losses
        from taxovit.training.parts.ssl import info_nce

        if self.instance == "dino":
            with torch.no_grad():
                teacher = self.target.dino_head(tf).float()
            return self.term(list(out["dino"].float().split(b)), teacher)
        ps, ks = list(out["p"].float().split(b)), list(tz.split(b))
        if self.instance == "byol":  # the predictor against the EMA target's other views
            return losses.instance_loss(ps, ks)
        d, t = self.dist, len(ps)  # mocov3: every ordered pair of views; t = 2: symmetric
        keys = [d.gather(k) for k in ks]
        pairs = [
            info_nce(ps[i], keys[j], self.tau_inst, d.rank * b)
            for i in range(t)
            for j in range(t)
            if i != j
        ]
        return sum(pairs) / (t - 1)

    def _knn_loss(self, z: Any, ys: Any, all_y: Any, sigma: float, bank: bool = True) -> Any:
        """kNN loss of this process's anchors against the global batch (and the bank)."""
        from taxovit.training.parts import losses

        d = self.dist
        bank_feats, bank_labels = self.bank.get() if bank else (None, None)
        terms, valid = losses.knn_loss_terms(
            z,
            ys,
            sigma,
            bank_feats,
            bank_labels,
            self.weights.k if bank else None,
            candidates=d.gather_with_grad(z),
            candidate_labels=all_y,
            self_offset=d.rank * z.shape[0],
        )
        n_valid = d.all_reduce_sum(valid.sum().float())
        if float(n_valid) > 0:
            # the per-process sum over the global count, x world size: DDP averages gradients
            return terms.sum() / n_valid * d.world
        return z.sum() * 0.0

    def after_step(self, online: Any, step: int, total_steps: int) -> None:
        import torch

        from taxovit.training.run.schedule import ema_momentum

        if self.term is not None:
            self.term.advance(step, total_steps)
        if self.target is None:
            return
        m = ema_momentum(*self.momentum, step, total_steps)
        t_params = dict(self.target.named_parameters())
        with torch.no_grad():
            for name, p in online.named_parameters():
                tp = t_params.get(name)
                if tp is not None:
                    tp.lerp_(p.detach(), 1.0 - m)

    def state_dict(self) -> dict[str, Any]:
        target = None if self.target is None else self.target.state_dict()
        out = {"target": target, "bank": self.bank.state_dict()}
        if self.term is not None:
            out["grafit_dino"] = self.term.state_dict()
        return out

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        if self.target is not None:
            self.target.load_state_dict(checkpoint["target"])
        if checkpoint.get("bank") is not None:
            self.bank.load_state_dict(checkpoint["bank"])
        if self.term is not None:
            self.term.load_state_dict(checkpoint["grafit_dino"], checkpoint.get("epoch", 1))


def _ema_target(online: Any) -> Any:
    """A frozen copy of ``online``'s backbone and projector: the EMA target network."""
    import copy

    from taxovit.training.parts.network import Network

    target = Network(copy.deepcopy(online.backbone), None, copy.deepcopy(online.projector))
    if getattr(online, "dino_head", None) is not None:  # instance: dino
        target.dino_head = copy.deepcopy(online.dino_head)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


def _with_dino(net: Any, x: Any) -> dict[str, Any]:
    """The network's usual outputs and the DINO head's on the CLS feature (instance dino)."""
    net_forward = type(net).forward
    out = net_forward(net, x)
    out["dino"] = net.dino_head(out["features"])
    return out
