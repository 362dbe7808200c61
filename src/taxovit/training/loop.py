"""Training: cross-entropy, Grafit (coarse-to-fine, Touvron et al. ICCV 2021) and TransFG.

``taxovit train --config FILE`` reads a YAML config (see ``configs/*.yaml``; every key and its
default is in :data:`taxovit.training.config.DEFAULTS`), trains on the *training rank* of the
taxonomy (e.g. the coarse ``group`` rank of Fashion-MNIST) and writes into the output folder:

``checkpoint.pt``
    written atomically after every epoch: online model, EMA target, optimiser, scheduler,
    RNG states (python, numpy, torch, per process), memory bank, label space, config, epoch.
``log.jsonl``
    one JSON object per epoch: loss and its parts, learning rate, images/s, and the kNN
    top-1 accuracy on the *fine* labels (train embeddings vs test embeddings).

Methods (``method:``; one class each in :mod:`taxovit.training.objectives`):

``ce``
    cross-entropy on the training-rank labels (a linear head on the CLS feature).
``grafit``
    online network = backbone + projector ``g`` + predictor ``q``; EMA target = backbone +
    projector. Loss ``λ_inst·L_inst + λ_knn·L_knn (+ λ_ce·CE)`` at the training rank; the kNN
    loss also uses a memory bank of recent target embeddings with their coarse labels. The
    defaults (``grafit:`` section) are ours, not the paper's exact hyper-parameters.
``transfg``
    :class:`~taxovit.models.TransFG` with cross-entropy + its contrastive loss.

Distributed data parallel: launch with ``torchrun --nproc_per_node N -m taxovit.cli train
--config FILE`` (or the ``taxovit`` script); ``optim.batch_size`` is the *global* batch. The
Grafit kNN loss uses the embeddings of the whole global batch as candidates, so N processes
compute the same loss as one process on the same global batch.

:func:`train` runs the labelled setup sections of :func:`setup`, then per epoch
:func:`train_one_epoch`, the kNN evaluation and :func:`save`. Progress goes to a
:class:`~taxovit.training.progress.Reporter`; nothing is printed here.

This module imports torch; ``import taxovit`` never imports it.
"""


from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from taxovit.errors import TaxovitError
from taxovit.taxonomy import load_taxonomy
from taxovit.training import runtime
from taxovit.training.checkpoint import (
    CHECKPOINT_NAME,
    FORMAT,
    LOG_NAME,
    append_log,
    load_checkpoint,
    save_checkpoint,
)
from taxovit.training.config import ConfigError, TrainingDiverged, load_config, merge_config
from taxovit.training.data import (
    LabelSpace,
    SampleSet,
    build_transform,
    load_split,
    make_dataset,
    subsample,
)
from taxovit.training.distributed import Dist
from taxovit.training.embed import knn_accuracy
from taxovit.training.network import Network, build_online, param_groups
from taxovit.training.objectives import OBJECTIVES, Objective
from taxovit.training.progress import ConsoleReporter, Reporter, SilentReporter
from taxovit.training.schedule import warmup_cosine

__all__ = ["Run", "train", "train_one_epoch"]


@dataclass
class Run:
    """What a training run holds between its setup and its epochs."""

    cfg: dict[str, Any]
    dist: Dist
    device: torch.device
    out_dir: Path
    space: LabelSpace
    sampler: torch.utils.data.DistributedSampler
    loader: torch.utils.data.DataLoader
    online: Network
    model: nn.Module  # the online network as trained (compiled, DDP-wrapped)
    objective: Objective
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    knn_sets: tuple[SampleSet, SampleSet] | None = None  # (train, test) for the kNN accuracy
    start_epoch: int = 0
    step: int = 0

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    @property
    def log_path(self) -> Path:
        return self.out_dir / LOG_NAME

    @property
    def epochs(self) -> int:
        return int(self.cfg["optim"]["epochs"])

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)


# ---------------------------------------------------------------------------------- training
def train(
    config: dict[str, Any] | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    *,
    stop_after_epoch: int | None = None,
    progress: bool | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Train as described by ``config`` (a path to YAML, or a dict merged with DEFAULTS).

    ``out`` overrides ``config["out"]``. With ``resume`` the run continues from
    ``out/checkpoint.pt`` exactly where it stopped (same RNG streams, scheduler, bank).
    ``stop_after_epoch`` ends the run after that many epochs without changing the schedule
    (used to test that a resumed run equals an uninterrupted one).

    Progress goes to ``reporter``; without one, to a
    :class:`~taxovit.training.progress.ConsoleReporter` when ``progress`` (default: the
    config's ``log.progress``) is true, else nowhere.

    Returns ``{"out", "checkpoint", "log", "epochs_done", "history"}``.
    """
    cfg = load_config(config) if isinstance(config, str | os.PathLike) else merge_config(config)
    if out is not None:
        cfg["out"] = str(out)
    if reporter is None:
        show = cfg["log"]["progress"] if progress is None else progress
        reporter = ConsoleReporter() if show else SilentReporter()

    d = Dist()
    device = runtime.resolve_device(str(cfg["device"]), d.local_rank)
    rank_reporter = reporter if d.main else SilentReporter()
    # process-wide torch settings changed by the config are restored afterwards
    with runtime.torch_settings_restored():
        d.init(device)
        try:
            run = setup(cfg, d, device, resume, rank_reporter)
            return run_epochs(run, stop_after_epoch, rank_reporter)
        finally:
            rank_reporter.close()
            d.close()


def setup(
    cfg: dict[str, Any], d: Dist, device: torch.device, resume: bool, reporter: Reporter
) -> Run:
    """Everything before the first epoch, in order (the order fixes the random streams)."""
    # -- runtime
    runtime.set_deterministic(bool(cfg["deterministic"]))
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))

    # -- data: the training split and its label space
    tax = load_taxonomy(cfg["taxonomy"])
    train_set, space = load_split(cfg["data"], "train", tax, cfg["train_rank"])

    # -- network and objective: identical initialisation on every process
    runtime.seed_all(int(cfg["seed"]))
    online = build_online(cfg, len(space.train_names)).to(device)
    objective = OBJECTIVES[cfg["method"]](cfg, online, d, device)

    # -- data loader, optimiser and LR schedule
    sampler, loader = build_loader(cfg, train_set, space, objective.views, d, device)
    optimizer, scheduler = build_optimizer(cfg, online, len(loader))
    run = Run(cfg, d, device, Path(cfg["out"]), space, sampler, loader, online, online,
              objective, optimizer, scheduler)  # fmt: skip

    # -- resume, or start afresh
    if resume:
        restore(run)
    else:
        runtime.seed_all(int(cfg["seed"]) + d.rank)  # different augmentations on every process
        if d.main:
            run.out_dir.mkdir(parents=True, exist_ok=True)
            run.log_path.unlink(missing_ok=True)

    # -- the model as trained: compiled, DDP-wrapped (after loading: DDP broadcasts rank 0)
    if cfg["model"]["compile"]:
        run.model = torch.compile(run.model)
    if d.enabled:
        run.model = nn.parallel.DistributedDataParallel(
            run.model, device_ids=[device.index] if device.type == "cuda" else None
        )

    # -- kNN evaluation sets (main process only)
    if int(cfg["eval"]["every"]) > 0 and d.main:
        run.knn_sets = knn_eval_sets(cfg, tax, train_set, reporter)
    return run


def build_loader(
    cfg: dict[str, Any],
    train_set: SampleSet,
    space: LabelSpace,
    views: int,
    d: Dist,
    device: torch.device,
) -> tuple[torch.utils.data.DistributedSampler, torch.utils.data.DataLoader]:
    """The augmented training set, split over the processes (``optim.batch_size`` is global)."""
    dc = cfg["data"]
    in_chans = int(dc["in_chans"])
    tf = build_transform(cfg["augment"], int(dc["img_size"]), in_chans, train=True)
    dataset = make_dataset(train_set, space, tf, views=views, in_chans=in_chans)
    global_batch = int(cfg["optim"]["batch_size"])
    if global_batch % d.world:
        raise ConfigError(
            f"optim.batch_size {global_batch} is not divisible by {d.world} processes"
        )
    if len(dataset) < global_batch:
        raise ConfigError(
            f"optim.batch_size {global_batch} is larger than the training set ({len(dataset)})"
        )
    sampler = torch.utils.data.DistributedSampler(
        dataset, num_replicas=d.world, rank=d.rank, shuffle=True, seed=int(cfg["seed"]),
        drop_last=True,
    )  # fmt: skip
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=global_batch // d.world, sampler=sampler, drop_last=True,
        num_workers=int(dc["num_workers"]), pin_memory=device.type == "cuda",
    )  # fmt: skip
    return sampler, loader


def build_optimizer(
    cfg: dict[str, Any], online: Network, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW (no weight decay on biases, norms, position embedding, CLS token) and a per-step
    schedule: linear warm-up, then cosine to ``optim.min_lr``."""
    o = cfg["optim"]
    total_steps = steps_per_epoch * int(o["epochs"])
    warmup_steps = int(round(float(o["warmup_epochs"]) * steps_per_epoch))
    optimizer = torch.optim.AdamW(
        param_groups(online, float(o["weight_decay"])), lr=float(o["lr"]),
        betas=tuple(o["betas"]),
    )  # fmt: skip
    min_ratio = float(o["min_lr"]) / float(o["lr"]) if float(o["lr"]) > 0 else 0.0
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(total_steps, warmup_steps, min_ratio)
    )
    return optimizer, scheduler


def restore(run: Run) -> None:
    """Load ``out/checkpoint.pt`` into ``run``: weights, objective state, optimiser,
    scheduler, position and this process's random states."""
    if not run.ckpt_path.is_file():
        raise TaxovitError(f"--resume: no checkpoint at {run.ckpt_path}")
    ck = load_checkpoint(run.ckpt_path)
    method = run.cfg["method"]
    if ck["config"]["method"] != method:
        raise ConfigError(
            f"--resume: checkpoint was trained with method {ck['config']['method']!r}, "
            f"config says {method!r}"
        )
    run.online.load_state_dict(ck["model"])
    run.objective.load_state_dict(ck)
    run.optimizer.load_state_dict(ck["optimizer"])
    run.scheduler.load_state_dict(ck["scheduler"])
    run.start_epoch, run.step = int(ck["epoch"]), int(ck["step"])
    rngs, rank = ck["rng"], run.dist.rank
    runtime.set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])


def knn_eval_sets(
    cfg: dict[str, Any], tax: Any, train_set: SampleSet, reporter: Reporter
) -> tuple[SampleSet, SampleSet] | None:
    """(train, test) subsets for the kNN accuracy; None (and a note) without a test split."""
    try:
        test_set, _ = load_split(cfg["data"], "test", tax, cfg["train_rank"])
        return (
            subsample(train_set, cfg["eval"]["train_max"]),
            subsample(test_set, cfg["eval"]["test_max"]),
        )
    except (TaxovitError, KeyError, TypeError) as exc:
        reporter.note(f"kNN evaluation disabled: {exc}")
        return None


# ---------------------------------------------------------------------------------- epochs
def run_epochs(run: Run, stop_after_epoch: int | None, reporter: Reporter) -> dict[str, Any]:
    """Train, evaluate and save epoch by epoch; the summary :func:`train` returns."""
    cfg, epochs = run.cfg, run.epochs
    every = int(cfg["eval"]["every"])
    last_epoch = epochs if stop_after_epoch is None else min(epochs, int(stop_after_epoch))
    history: list[dict[str, Any]] = []
    run.model.train()
    for epoch in range(run.start_epoch, last_epoch):
        row = train_one_epoch(run, epoch, reporter)
        if run.knn_sets is not None and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
            row["knn_top1_fine"] = knn_accuracy(run.online, run.knn_sets, run.space, cfg,
                                                run.device)  # fmt: skip
        save(run, row)
        reporter.end_epoch(row, epochs)
        history.append(row)
    return {
        "out": str(run.out_dir),
        "checkpoint": str(run.ckpt_path),
        "log": str(run.log_path),
        "epochs_done": max(run.start_epoch, last_epoch) if history else run.start_epoch,
        "history": history,
    }


def train_one_epoch(run: Run, epoch: int, reporter: Reporter) -> dict[str, Any]:
    """One pass over the training set (``epoch`` counts from 0); the epoch's log row
    without the kNN accuracy. Raises :class:`TrainingDiverged` on a non-finite loss."""
    d, device, o = run.dist, run.device, run.cfg["optim"]
    run.sampler.set_epoch(epoch)
    sums: dict[str, float] = {}
    t0 = time.perf_counter()
    n_images = 0
    reporter.start_epoch(epoch + 1, run.epochs, run.steps_per_epoch)
    for x, _fine, coarse, _idx in run.loader:
        x = x.to(device, non_blocking=True)
        coarse = coarse.to(device, non_blocking=True)
        with runtime.autocast(device):
            parts = run.objective.loss(run.model, x, coarse)
        run.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if o["grad_clip"]:
            nn.utils.clip_grad_norm_(run.online.parameters(), float(o["grad_clip"]))
        logged = {k: d.all_reduce_mean(v.detach().float()) for k, v in parts.items()}
        value = float(logged["loss"])
        if not math.isfinite(value):
            raise TrainingDiverged.at(value, logged, epoch, run.step, run.ckpt_path)
        run.optimizer.step()
        run.scheduler.step()
        run.step += 1
        run.objective.after_step(run.online, run.step, run.steps_per_epoch * run.epochs)
        for k, v in logged.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n_images += int(o["batch_size"])
        reporter.step(value)
    elapsed = time.perf_counter() - t0
    row: dict[str, Any] = {"epoch": epoch + 1, "step": run.step}
    row.update({k: v / run.steps_per_epoch for k, v in sums.items()})
    row["lr"] = run.optimizer.param_groups[0]["lr"]
    row["images_per_s"] = n_images / max(elapsed, 1e-9)
    row["time_s"] = elapsed
    return row


def save(run: Run, row: dict[str, Any]) -> None:
    """Write the checkpoint (atomically) and append ``row`` to the log (main process)."""
    rngs = run.dist.gather_objects(runtime.rng_state())  # a collective: every process takes part
    if not run.dist.main:
        return
    checkpoint = {
        "format": FORMAT,
        "config": run.cfg,
        "epoch": row["epoch"],
        "step": run.step,
        "model": run.online.state_dict(),
        **run.objective.state_dict(),  # Grafit: "target" and "bank"
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "rng": rngs,
        "label_space": run.space.to_dict(),
    }
    save_checkpoint(checkpoint, run.ckpt_path)
    append_log(run.log_path, row)
