"""``method: mocov3`` (Chen, Xie & He, *An Empirical Study of Training Self-Supervised Vision
Transformers*, ICCV 2021): momentum contrast without a queue.

Two views per image; the online network is the backbone, a 3-layer projector and a 2-layer
predictor (``mocov3.proj_hidden`` wide, ``mocov3.proj_dim`` out; LayerNorm instead of the
paper's BatchNorm so that data-parallel runs equal one process); the momentum encoder is an
EMA copy of the backbone and projector (kept in the checkpoint as ``momentum_encoder``) with
momentum cosine-increased from ``mocov3.momentum`` to 1. The loss is symmetric InfoNCE,
``ctr(q1, k2) + ctr(q2, k1)``, ``ctr(q, k) = 2 tau CE(q k^T / tau)`` over the keys of the whole
global batch (``mocov3.tau``, 0.2). No labels are used.

Views on the in-memory path (28 px grey images): the config's random resized crop and flip,
then the paper's BYOL-style extras as fit small grey images: no colour jitter or greyscale
(one channel), Gaussian blur with probabilities ``mocov3.blur`` (paper 1.0 / 0.1; 0.5 / 0.1
here: a strong blur wipes out most of a 28 px image) and solarisation ``mocov3.solarize``
(paper 0 / 0.2). The DataLoader path gives two views of the config's augmentation only.
Written from the paper; the MoCo v3 reference code was not used (non-commercial licence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Section, integer, key, number, numbers_list

__all__ = ["MoCoV3", "MoCoV3Config"]

_PROB = number(0, 1)


@dataclass
class MoCoV3Config(Section):
    """``mocov3:``."""

    name = "mocov3"
    tau: float = key(0.2, number(0, lo_open=True), "InfoNCE temperature (the paper's 0.2)")
    momentum: float = key(0.99, number(0, 1), "momentum at step 0, cosine-increased to 1")
    proj_hidden: int = key(1024, integer(1), "projector / predictor hidden width")
    proj_dim: int = key(256, integer(1), "projection width (the paper's 256)")
    blur: list[float] = key(
        [0.5, 0.1], numbers_list(_PROB, 2), "Gaussian blur probability of view 1 and view 2"
    )
    solarize: list[float] = key(
        [0.0, 0.2], numbers_list(_PROB, 2), "solarisation probability of view 1 and view 2"
    )
    blur_sigma: list[float] = key(
        [0.1, 1.0],
        numbers_list(number(0, lo_open=True), 2, ordered=True),
        "blur standard deviation range in pixels (28 px images)",
    )


class MoCoV3(Method):
    """MoCo v3 (module docstring)."""

    name = "mocov3"
    section = MoCoV3Config
    views = 2

    @classmethod
    def has_head(cls, section: MoCoV3Config) -> bool:
        return False

    @classmethod
    def resume_entries(cls, section: MoCoV3Config) -> tuple[str, ...]:
        return ("momentum_encoder",)

    @classmethod
    def add_parts(cls, net: Any, section: MoCoV3Config, num_classes: int) -> None:
        from taxovit.training.parts.ssl import mlp

        s = section
        net.projector = mlp(net.backbone.embed_dim, s.proj_hidden, s.proj_dim, layers=3)
        net.predictor = mlp(s.proj_dim, s.proj_hidden, s.proj_dim, layers=2)

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        from taxovit.training.parts.ssl import momentum_copy

        super().__init__(cfg, online, dist, device)
        self.dist, self.s = dist, cfg.mocov3
        self.target = momentum_copy(online, ("backbone", "projector")).to(device)

    def make_views(self, x: Any, augment: Any) -> Any:
        import torch

        from taxovit.training.parts.ssl import ssl_view

        s = self.s
        return torch.stack(
            [ssl_view(x, augment, s.blur[i], s.solarize[i], s.blur_sigma) for i in range(2)], dim=1
        )

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        import torch

        from taxovit.training.parts.ssl import info_nce

        b = x.shape[0]
        xs = x.transpose(0, 1).reshape(2 * b, *x.shape[2:])  # view-major
        q1, q2 = model(xs)["p"].float().split(b)
        with torch.no_grad():
            k1, k2 = (
                self.target.projector(self.target.backbone.forward_features(xs)).float().split(b)
            )
            k1, k2 = self.dist.gather(k1), self.dist.gather(k2)
        off = self.dist.rank * b
        loss = info_nce(q1, k2, self.s.tau, off) + info_nce(q2, k1, self.s.tau, off)
        return {"loss": loss, "nce": loss.detach()}

    def after_step(self, online: Any, step: int, total_steps: int) -> None:
        from taxovit.training.parts.ssl import momentum_update
        from taxovit.training.run.schedule import ema_momentum

        momentum_update(self.target, online, ema_momentum(self.s.momentum, 1.0, step, total_steps))

    def state_dict(self) -> dict[str, Any]:
        return {"momentum_encoder": self.target.state_dict()}

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        self.target.load_state_dict(checkpoint["momentum_encoder"])
