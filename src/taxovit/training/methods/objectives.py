"""Training objectives, one class per ``method:`` and one table, :data:`OBJECTIVES`.

Every objective has the same interface, so the training loop never names a method:

``Objective(cfg, online, dist, device)``
    built after the online network (and moved to ``device``).
``trains``
    False for a read-out without training (``knn``): the loop takes no step.
``views``
    augmented views per image the data loader must give (batches are ``(B, views, C, H, W)``
    when it is above 1).
``loss(model, x, labels) -> dict[str, Tensor]``
    ``"loss"`` (to back-propagate) and the detached parts that are logged. ``model`` is the
    online network as trained (possibly compiled / DDP-wrapped).
``bind(taxonomy, space)``
    called once the label space is known (the hierarchy losses need it; a no-op otherwise).
``after_step(online, step, total_steps)``
    after each optimiser step (Grafit: EMA update of the target network).
``adapters``
    True for the parameter-efficient methods (``lora``, ``vpt``): every save also writes
    their trainable tensors to ``adapters.pt`` (:mod:`taxovit.training.run.adapters`).
``state_dict()`` / ``load_state_dict(checkpoint)``
    the objective's own state, stored as top-level checkpoint entries (:data:`STATE_KEYS`,
    ``None`` when unused).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxovit.models.transfg import transfg_loss
from taxovit.training.parts import losses
from taxovit.training.parts.feature_cache import FeatureCache, features_are_fixed
from taxovit.training.parts.network import Network, ema_copy
from taxovit.training.run.config import METHODS
from taxovit.training.run.distributed import Dist
from taxovit.training.run.schedule import ema_momentum

__all__ = ["OBJECTIVES", "STATE_KEYS", "CrossEntropy", "DeiTDistillation", "FrozenBackbone",
           "Grafit", "HierarchyLoss", "KnnReadout", "LinearProbe", "LoRA", "MemoryBank",
           "Objective", "TransFG", "VisualPromptTuning"]  # fmt: skip

#: checkpoint entries an objective may fill (format ``taxovit-train/1``)
STATE_KEYS = ("target", "bank")


class Objective:
    """Base class: one view, no state, nothing after a step; it trains (``trains``)."""

    views = 1
    trains = True
    adapters = False

    def __init__(self, cfg: dict[str, Any], online: Network, dist: Dist, device: torch.device):
        self.cfg = cfg

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def bind(self, taxonomy: Any, space: Any) -> None:
        """Called once the taxonomy and the training label space are known."""

    def see_batch(self, idx: Tensor) -> None:
        """The dataset indices of the next batch (for objectives that keep per-image values)."""

    def after_step(self, online: Network, step: int, total_steps: int) -> None:
        """Called after every optimiser step (``step`` counts from 1)."""

    def state_dict(self) -> dict[str, Any]:
        return dict.fromkeys(STATE_KEYS)

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        """Restore from a checkpoint holding :meth:`state_dict`'s entries."""


class CrossEntropy(Objective):
    """``method: ce``: cross-entropy on the training-rank labels (head on the CLS feature)."""

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        out = model(x)
        ce = F.cross_entropy(out["logits"].float(), labels,
                             label_smoothing=float(self.cfg["ce"]["label_smoothing"]))  # fmt: skip
        return {"loss": ce, "ce": ce.detach()}


class HierarchyLoss(Objective):
    """``method: hierarchy``: a head on the training classes trained with a hierarchy-aware
    loss (``hierarchy.loss``: ``soft_labels`` with ``beta``, ``hxe`` with ``alpha``,
    ``rank_ce`` with ``rank_weights``); see :mod:`taxovit.training.parts.hierarchy_losses`."""

    def bind(self, taxonomy: Any, space: Any) -> None:
        from taxovit.training.parts.hierarchy_losses import HierarchyTables
        from taxovit.training.run.config import ConfigError

        h = self.cfg["hierarchy"]
        self.tables = HierarchyTables(taxonomy, space.train_names)
        weights = dict(h["rank_weights"]) or dict.fromkeys(taxonomy.rank_names, 1.0)
        unknown = [r for r in weights if r not in taxonomy.rank_names]
        if unknown or (h["loss"] == "rank_ce" and not weights):
            raise ConfigError(f"hierarchy.rank_weights: unknown ranks {unknown}; the taxonomy "
                              f"has {', '.join(taxonomy.rank_names) or 'no ranks'}")  # fmt: skip
        self.weights = weights

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        from taxovit.training.parts import hierarchy_losses as hl

        logits = model(x)["logits"]
        h = self.cfg["hierarchy"]
        if h["loss"] == "soft_labels":
            loss = hl.soft_label_loss(logits, labels, self.tables, float(h["beta"]))
        elif h["loss"] == "hxe":
            loss = hl.hxe_loss(logits, labels, self.tables, float(h["alpha"]))
        else:
            loss = hl.rank_ce_loss(logits, labels, self.tables, self.weights)
        return {"loss": loss, h["loss"]: loss.detach()}


class TransFG(Objective):
    """``method: transfg``: cross-entropy + TransFG's contrastive loss."""

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        out = model(x)
        smoothing = float(self.cfg["transfg"]["label_smoothing"])
        loss = transfg_loss(out["logits"], out["features"], labels, label_smoothing=smoothing)
        return {"loss": loss}


class FrozenBackbone(Objective):
    """Base of the read-outs of a (pretrained, ``model.pretrained``) backbone kept frozen."""

    def __init__(self, cfg: dict[str, Any], online: Network, dist: Dist, device: torch.device):
        super().__init__(cfg, online, dist, device)
        online.backbone.requires_grad_(False)


class LinearProbe(FrozenBackbone):
    """``method: linear``: cross-entropy of a linear head on the frozen backbone's CLS
    feature (``ce.label_smoothing``); only the head is trained. When every image's feature
    is the same in every epoch (augmentation off, no dropout, one process:
    :mod:`taxovit.training.parts.feature_cache`) the backbone runs once per image, in the first
    epoch, and the head trains on the stored features afterwards (the same numbers)."""

    caches_features = True  # LoRA and VPT train inside the backbone: never

    def __init__(self, cfg: dict[str, Any], online: Network, dist: Dist, device: torch.device):
        super().__init__(cfg, online, dist, device)
        self.online, self.idx = online, None
        fixed = self.caches_features and features_are_fixed(cfg, online.backbone, dist.world)
        self.cache = FeatureCache() if fixed else None

    def see_batch(self, idx: Tensor) -> None:
        self.idx = idx

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        if self.cache is None or self.idx is None:
            logits = model(x)["logits"]  # no graph through the frozen backbone
        else:
            logits = self.online.head(self.cache.get(self.idx, lambda: model(x)["features"]))
        ce = F.cross_entropy(logits.float(), labels,
                             label_smoothing=float(self.cfg["ce"]["label_smoothing"]))  # fmt: skip
        return {"loss": ce, "ce": ce.detach()}


class LoRA(LinearProbe):
    """``method: lora``: cross-entropy (``ce.label_smoothing``) through the frozen backbone's
    LoRA adapters (:mod:`taxovit.training.parts.lora`; ``lora:`` section); only the adapters
    (``lora_A``, ``lora_B``) and the head are trained."""

    adapters = True
    caches_features = False

    def __init__(self, cfg: dict[str, Any], online: Network, dist: Dist, device: torch.device):
        super().__init__(cfg, online, dist, device)
        for name, p in online.backbone.named_parameters():
            if name.endswith((".lora_A", ".lora_B")):
                p.requires_grad_(True)


class VisualPromptTuning(LinearProbe):
    """``method: vpt``: cross-entropy (``ce.label_smoothing``) of the head on the CLS feature
    of the frozen backbone fed learned prompt tokens (:mod:`taxovit.training.parts.prompts`;
    ``vpt:`` section); only the prompts and the head are trained."""

    adapters = True
    caches_features = False


class DeiTDistillation(Objective):
    """``method: deit``: DeiT's distillation through a distillation token
    (:mod:`taxovit.training.parts.distill`): ``(1 - α) CE(Z_cls, y) + α KD(Z_dist, teacher)``,
    hard or soft (``distill:`` section), the teacher frozen in eval mode."""

    def __init__(self, cfg: dict[str, Any], online: Network, dist: Dist, device: torch.device):
        super().__init__(cfg, online, dist, device)
        self.device = device
        self.teacher: nn.Module | None = None

    def bind(self, taxonomy: Any, space: Any) -> None:
        from taxovit.training.parts.distill import load_teacher

        self.teacher = load_teacher(self.cfg, space, self.device)

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        from taxovit.training.parts.distill import distillation_loss

        assert self.teacher is not None, "bind() loads the teacher"
        d = self.cfg["distill"]
        out = model(x)
        ce = F.cross_entropy(out["logits_cls"].float(), labels,
                             label_smoothing=float(self.cfg["ce"]["label_smoothing"]))  # fmt: skip
        kd = distillation_loss(out["logits_dist"].float(), self.teacher(x), str(d["kind"]),
                               float(d["tau"]))  # fmt: skip
        alpha = float(d["alpha"])
        return {"loss": (1 - alpha) * ce + alpha * kd, "ce": ce.detach(), "kd": kd.detach()}


class KnnReadout(FrozenBackbone):
    """``method: knn``: no training; the run writes a checkpoint of the backbone (and logs
    its kNN accuracy), so ``taxovit predict --knn K`` reads it out at the fine level."""

    trains = False


class MemoryBank:
    """FIFO queue of recent target embeddings with their training-rank labels."""

    def __init__(self, size: int, dim: int, device: torch.device | str = "cpu") -> None:
        self.size = int(size)
        self.feats = torch.zeros(self.size, dim, device=device)
        self.labels = torch.full((self.size,), -1, dtype=torch.long, device=device)
        self.ptr = 0
        self.filled = 0

    def enqueue(self, feats: Tensor, labels: Tensor) -> None:
        if self.size == 0:
            return
        feats = feats.detach().float()[-self.size :]
        labels = labels[-self.size :]
        n = feats.shape[0]
        idx = (torch.arange(n, device=self.feats.device) + self.ptr) % self.size
        self.feats[idx] = feats.to(self.feats.device)
        self.labels[idx] = labels.to(self.labels.device)
        self.ptr = (self.ptr + n) % self.size
        self.filled = min(self.size, self.filled + n)

    def get(self) -> tuple[Tensor, Tensor]:
        if self.filled < self.size:
            return self.feats[: self.filled], self.labels[: self.filled]
        return self.feats, self.labels

    def state_dict(self) -> dict[str, Any]:
        return {"feats": self.feats.cpu(), "labels": self.labels.cpu(), "ptr": self.ptr,
                "filled": self.filled}  # fmt: skip

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.feats.copy_(sd["feats"])
        self.labels.copy_(sd["labels"])
        self.ptr, self.filled = int(sd["ptr"]), int(sd["filled"])


class Grafit(Objective):
    """``method: grafit``: ``λ_inst·L_inst + λ_knn·L_knn (+ λ_ce·CE)`` at the training rank.

    The instance loss is ``grafit.instance``: ``byol`` (the paper's: the predictor against an
    EMA target network, backbone + projector, that this objective owns) or ``nce`` (the kNN
    loss with each image its own class at temperature ``tau_inst``: the other views of the
    image are its positives, the rest of the global batch its negatives; no target network).
    The memory bank holds recent target (nce: detached online) embeddings as extra kNN
    candidates. The kNN loss uses the
    embeddings of the whole global batch as candidates, so N processes compute the same loss
    as one process on the same global batch.
    """

    def __init__(self, cfg: dict[str, Any], online: Network, dist: Dist, device: torch.device):
        super().__init__(cfg, online, dist, device)
        g = cfg["grafit"]
        self.dist = dist
        self.views = int(g["views"])
        self.weights = losses.GrafitLossWeights(
            float(g["lambda_inst"]), float(g["lambda_knn"]), float(g["lambda_ce"]),
            float(g["sigma"]), None if g["k"] is None else int(g["k"]),
        )  # fmt: skip
        self.momentum = (float(g["ema"]), float(g["ema_end"]))
        self.tau_inst = float(g["tau_inst"])
        self.target = ema_copy(online).to(device) if g["instance"] == "byol" else None
        self.bank = MemoryBank(int(g["bank_size"]), int(g["proj_dim"]), device)

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        # x is (B, T, C, H, W); stack the views view-major
        b, t = x.shape[:2]
        xs = x.transpose(0, 1).reshape(t * b, *x.shape[2:])
        ys = labels.repeat(t)
        out = model(xs)
        z = out["z"].float()
        if self.target is not None:  # byol: the predictor against the EMA target's views
            with torch.no_grad():
                tz = self.target(xs)["z"].float()
            inst = losses.instance_loss(list(out["p"].float().split(b)), list(tz.split(b)))
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

    def _knn_loss(self, z: Tensor, ys: Tensor, all_y: Tensor, sigma: float,
                  bank: bool = True) -> Tensor:  # fmt: skip
        """kNN loss of this process's anchors against the global batch (and the bank)."""
        d = self.dist
        bank_feats, bank_labels = self.bank.get() if bank else (None, None)
        terms, valid = losses.knn_loss_terms(
            z, ys, sigma, bank_feats, bank_labels, self.weights.k if bank else None,
            candidates=d.gather_with_grad(z), candidate_labels=all_y,
            self_offset=d.rank * z.shape[0],
        )  # fmt: skip
        n_valid = d.all_reduce_sum(valid.sum().float())
        if float(n_valid) > 0:
            # the per-process sum over the global count, x world size: DDP averages gradients
            return terms.sum() / n_valid * d.world
        return z.sum() * 0.0

    @torch.no_grad()
    def after_step(self, online: Network, step: int, total_steps: int) -> None:
        if self.target is None:
            return
        m = ema_momentum(*self.momentum, step, total_steps)
        t_params = dict(self.target.named_parameters())
        for name, p in online.named_parameters():
            tp = t_params.get(name)
            if tp is not None:
                tp.lerp_(p.detach(), 1.0 - m)

    def state_dict(self) -> dict[str, Any]:
        target = None if self.target is None else self.target.state_dict()
        return {"target": target, "bank": self.bank.state_dict()}

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        if self.target is not None:
            self.target.load_state_dict(checkpoint["target"])
        if checkpoint.get("bank") is not None:
            self.bank.load_state_dict(checkpoint["bank"])


#: ``method:`` -> objective class
OBJECTIVES: dict[str, type[Objective]] = {
    "ce": CrossEntropy,
    "grafit": Grafit,
    "transfg": TransFG,
    "linear": LinearProbe,
    "knn": KnnReadout,
    "hierarchy": HierarchyLoss,
    "lora": LoRA,
    "vpt": VisualPromptTuning,
    "deit": DeiTDistillation,
}
if tuple(sorted(OBJECTIVES)) != tuple(sorted(METHODS)):  # pragma: no cover - a coding error
    raise ImportError("objectives.OBJECTIVES and config.METHODS list different methods")
