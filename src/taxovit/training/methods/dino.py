"""``method: dino`` (Caron et al., *Emerging Properties in Self-Supervised Vision
Transformers*, ICCV 2021): self-distillation with no labels.

A student (backbone + :class:`~taxovit.training.parts.ssl.DinoHead` to ``dino.out_dim``) and a
teacher, the EMA of the student (momentum cosine from ``dino.momentum`` to 1; kept in the
checkpoint as ``teacher``, the centre and the step as ``dino_state``). Multi-crop: ``dino.global_crops``
views at ``data.img_size`` (crop area ``dino.global_scale``) and ``dino.local_crops`` at
``dino.local_size`` (``dino.local_scale``); the teacher sees the global crops, the student
all of them, and the loss is the cross-entropy between the teacher's centred and sharpened
softmax (temperature warmed up linearly from ``dino.teacher_temp_start`` to
``dino.teacher_temp`` over ``dino.teacher_temp_epochs``) and the student's softmax at
``dino.student_temp``, over every pair of different crops. The centre is an EMA
(``dino.center_momentum``) of the teacher's batch mean. No labels are used.

Views on the in-memory path (28 px grey images): the config's random resized crop and flip;
no colour jitter (one channel); Gaussian blur with probabilities ``dino.blur`` (global 1,
global 2, local; paper 1.0 / 0.1 / 0.5, here 0.5 / 0.1 / 0.25: a 28 px image keeps little
after a strong blur) and solarisation ``dino.solarize`` (paper 0 / 0.2 / 0). Local crops of
12 px are the paper's 96/224 of the image side. The DataLoader path gives
``dino.global_crops`` views of the config's augmentation (no local crops).

Follows the Apache-2.0 DINO code (facebookresearch/dino: ``DINOHead``, ``DINOLoss``, the
schedules of ``main_dino.py``) and solo-learn (MIT) in layout; written anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Problem, Section, integer, key, number, numbers_list, ok

__all__ = ["DINO", "DinoConfig", "DinoTerm", "center_update", "teacher_temperature"]

_PROB = number(0, 1)
_SCALE = numbers_list(number(0, 1, lo_open=True), 2, ordered=True)


@dataclass
class DinoConfig(Section):
    """``dino:``."""

    name = "dino"
    out_dim: int = key(4096, integer(1), "prototypes (paper 65536; 4096 ample for 10 classes)")
    proj_hidden: int = key(1024, integer(1), "head hidden width (paper 2048)")
    bottleneck: int = key(256, integer(1), "head bottleneck before the prototypes (paper 256)")
    global_crops: int = key(2, integer(2), "global crops (teacher and student)")
    local_crops: int = key(6, integer(0), "local crops (student only; paper 6-10)")
    global_scale: list[float] = key([0.4, 1.0], _SCALE, "global crop area range (paper)")
    local_scale: list[float] = key([0.1, 0.4], _SCALE, "local crop area range")
    local_size: int = key(12, integer(1), "local crop side in pixels (96/224 of 28)")
    student_temp: float = key(0.1, number(0, lo_open=True), "student temperature (paper)")
    teacher_temp: float = key(0.07, number(0, lo_open=True), "teacher temperature after warm-up")
    teacher_temp_start: float = key(
        0.04, number(0, lo_open=True), "teacher temperature at step 0 (paper 0.04)"
    )
    teacher_temp_epochs: float = key(30.0, number(0), "teacher temperature warm-up epochs")
    center_momentum: float = key(0.9, number(0, 1), "centre EMA momentum (paper 0.9)")
    momentum: float = key(0.996, number(0, 1), "teacher momentum at step 0, cosine to 1")
    blur: list[float] = key(
        [0.5, 0.1, 0.25], numbers_list(_PROB, 3), "blur probability: global 1, global 2, local"
    )
    solarize: list[float] = key(
        [0.0, 0.2, 0.0],
        numbers_list(_PROB, 3),
        "solarisation probability: global 1, global 2, local",
    )
    blur_sigma: list[float] = key(
        [0.1, 1.0],
        numbers_list(number(0, lo_open=True), 2, ordered=True),
        "blur standard deviation range in pixels",
    )


def teacher_temperature(epoch: float, start: float, end: float, warmup_epochs: float) -> float:
    """Linear from ``start`` at epoch 0 to ``end`` at ``warmup_epochs``, then ``end``."""
    if warmup_epochs <= 0 or epoch >= warmup_epochs:
        return float(end)
    return float(start + (end - start) * epoch / warmup_epochs)


def center_update(center: Any, teacher_out: Any, momentum: float, dist: Any = None) -> Any:
    """``m c + (1 - m) mean(teacher outputs)`` (the mean over every process's batch)."""
    mean = teacher_out.float().mean(0, keepdim=True)
    if dist is not None:
        mean = dist.all_reduce_mean(mean)
    return center * momentum + mean * (1 - momentum)


class DinoTerm:
    """DINO's loss with its state: the centre (an EMA of the teacher's batch mean) and the
    step that drives the teacher temperature's warm-up (``dino:`` section ``s``; ``epochs``
    of training). Used by method ``dino`` and by Grafit's ``instance: dino``."""

    def __init__(self, s: DinoConfig, epochs: int, dist: Any, device: Any) -> None:
        import torch

        self.s, self.dist, self.epochs = s, dist, max(1, int(epochs))
        self.center = torch.zeros(1, s.out_dim, device=device)
        self.step, self.steps_per_epoch = 0, 1

    def temperature(self) -> float:
        """The teacher temperature at the current step."""
        s = self.s
        return teacher_temperature(
            self.step / self.steps_per_epoch,
            s.teacher_temp_start,
            s.teacher_temp,
            s.teacher_temp_epochs,
        )

    def __call__(self, student: list[Any], teacher: Any) -> Any:
        """The loss of the student crops against the teacher's (``teacher``: the first
        crops, concatenated); then the centre moves towards the teacher's mean."""
        import torch

        from taxovit.training.parts.ssl import dino_loss

        b = student[0].shape[0]
        loss = dino_loss(
            student, list(teacher.split(b)), self.center, self.s.student_temp, self.temperature()
        )
        with torch.no_grad():
            self.center = center_update(self.center, teacher, self.s.center_momentum, self.dist)
        return loss

    def advance(self, step: int, total_steps: int) -> None:
        self.step = step
        self.steps_per_epoch = max(1, total_steps // self.epochs)

    def state_dict(self) -> dict[str, Any]:
        return {"center": self.center, "step": self.step}

    def load_state_dict(self, state: dict[str, Any], epoch: int) -> None:
        self.center = state["center"].to(self.center.device)
        self.step = int(state["step"])
        self.steps_per_epoch = max(1, self.step // max(1, int(epoch)))


class DINO(Method):
    """DINO (module docstring)."""

    name = "dino"
    section = DinoConfig

    @classmethod
    def check(cls, cfg: Any, bad: set[str]) -> list[Problem]:
        patch = cfg.model.patch_size
        size = cfg.dino.local_size
        if cfg.dino.local_crops and patch and size < patch and ok(bad, "dino.local_size"):
            return [
                Problem(
                    "dino.local_size",
                    f"dino.local_size: at least model.patch_size ({patch}), got {size}",
                )
            ]
        return []

    @classmethod
    def has_head(cls, section: DinoConfig) -> bool:
        return False

    @classmethod
    def resume_entries(cls, section: DinoConfig) -> tuple[str, ...]:
        return ("teacher", "dino_state")

    @classmethod
    def add_parts(cls, net: Any, section: DinoConfig, num_classes: int) -> None:
        from taxovit.training.parts.ssl import DinoHead

        s = section
        net.dino_head = DinoHead(net.backbone.embed_dim, s.proj_hidden, s.bottleneck, s.out_dim)
        net.forwards["dino"] = _student

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        from taxovit.training.parts.ssl import momentum_copy

        super().__init__(cfg, online, dist, device)
        self.s = cfg.dino
        self.views = self.s.global_crops
        self.teacher = momentum_copy(online, ("backbone", "dino_head")).to(device)
        self.term = DinoTerm(self.s, cfg.optim.epochs, dist, device)

    def make_views(self, x: Any, augment: Any) -> Any:
        from taxovit.training.parts.ssl import ssl_view

        s = self.s
        g = [
            ssl_view(
                x,
                augment,
                s.blur[min(i, 1)],
                s.solarize[min(i, 1)],
                s.blur_sigma,
                crop_scale=s.global_scale,
            )
            for i in range(s.global_crops)
        ]
        loc = [
            ssl_view(
                x,
                augment,
                s.blur[2],
                s.solarize[2],
                s.blur_sigma,
                img_size=s.local_size,
                crop_scale=s.local_scale,
            )
            for _ in range(s.local_crops)
        ]
        return g + loc

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        import torch

        crops = x if isinstance(x, list) else list(x.unbind(1))  # DataLoader: global only
        n_g = self.s.global_crops
        b = crops[0].shape[0]
        glob = torch.cat(crops[:n_g])
        student = list(model(glob, via="dino")["dino"].split(b))
        if len(crops) > n_g:
            student += list(model(torch.cat(crops[n_g:]), via="dino")["dino"].split(b))
        with torch.no_grad():
            t = self.teacher.dino_head(self.teacher.backbone.forward_features(glob)).float()
        loss = self.term(student, t)
        return {"loss": loss, "dino": loss.detach()}

    def after_step(self, online: Any, step: int, total_steps: int) -> None:
        from taxovit.training.parts.ssl import momentum_update
        from taxovit.training.run.schedule import ema_momentum

        self.term.advance(step, total_steps)
        momentum_update(self.teacher, online, ema_momentum(self.s.momentum, 1.0, step, total_steps))

    def state_dict(self) -> dict[str, Any]:
        # the centre inside a dict: a top-level tensor would make the checkpoint look like a
        # bare state dict to the weight readers (taxovit.models.load_model)
        return {"teacher": self.teacher.state_dict(), "dino_state": self.term.state_dict()}

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        self.teacher.load_state_dict(checkpoint["teacher"])
        self.term.load_state_dict(checkpoint["dino_state"], checkpoint.get("epoch", 1))


def _student(net: Any, x: Any) -> dict[str, Any]:
    """The student's forward: the head's output on the CLS feature."""
    return {"dino": net.dino_head(net.backbone.forward_features(x))}
