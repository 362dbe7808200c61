"""Everything a run does before its first epoch: :func:`setup` and its parts.

:func:`setup` reads the data, builds the network, the method, the loader and the
optimiser, restores a checkpoint (``--resume``) and only then, on the main process, prepares
the output folder (:meth:`~taxovit.training.run.rundir.RunFolder.start`): a bad input found on
the way changes no file.

This module imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from taxovit.errors import TaxovitError
from taxovit.taxonomy import load_taxonomy
from taxovit.training.data.memory import MemoryLoader, use_memory
from taxovit.training.data.splits import (
    LabelSpace,
    SampleSet,
    build_transform,
    load_split,
    make_dataset,
    subsample,
)
from taxovit.training.methods import Method
from taxovit.training.parts.network import Network, build_online, frozen_copy, param_groups
from taxovit.training.run import runtime
from taxovit.training.run.checkpoint import load_weights
from taxovit.training.run.config import Config, ConfigError
from taxovit.training.run.distributed import Dist
from taxovit.training.run.freeze import FreezeSchedule
from taxovit.training.run.progress import Reporter
from taxovit.training.run.rundir import RunFolder
from taxovit.training.run.schedule import warmup_cosine
from taxovit.training.run.schema import OptimConfig

__all__ = ["Run", "build_loader", "build_optimizer", "knn_eval_sets", "restore", "setup"]


@dataclass
class Run:
    """What a training run holds between its setup and its epochs."""

    cfg: Config
    dist: Dist
    device: torch.device
    folder: RunFolder  # the output folder (its checkpoint and log paths)
    space: LabelSpace
    sampler: Any  # DistributedSampler, or the MemoryLoader itself (both have set_epoch)
    loader: Any  # DataLoader or MemoryLoader
    online: Network
    model: nn.Module  # the online network as trained (compiled, DDP-wrapped)
    method: Method  # the method instance (its loss and training state)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    knn_sets: tuple[SampleSet, SampleSet] | None = None  # (train, test) for the kNN accuracy
    start_epoch: int = 0
    step: int = 0
    log_rows: list[dict[str, Any]] = field(default_factory=list)  # every epoch's log row
    ema: Network | None = None  # the EMA of the weights (optim.ema_weights), evaluated
    freeze: FreezeSchedule | None = None  # optim.freeze_epochs

    @property
    def evaluated(self) -> Network:
        """The network the kNN evaluation and ``taxovit predict`` use."""
        return self.online if self.ema is None else self.ema

    @property
    def out_dir(self) -> Path:
        return self.folder.path

    @property
    def ckpt_path(self) -> Path:
        return self.folder.ckpt_path

    @property
    def log_path(self) -> Path:
        return self.folder.log_path

    @property
    def epochs(self) -> int:
        return self.cfg.optim.epochs

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)


def _wrap_model(
    run: Run, cfg: Config, d: Dist, device: torch.device, freeze: FreezeSchedule
) -> None:
    """The model as trained: compiled, DDP-wrapped (after loading: DDP broadcasts rank 0)."""
    if cfg.model.compile:
        run.model = torch.compile(run.model)
    if d.enabled and any(p.requires_grad for p in run.online.parameters()):
        run.model = nn.parallel.DistributedDataParallel(
            run.model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=freeze.epochs > 0,  # the frozen backbone gets no gradient
        )


def setup(cfg: Config, d: Dist, device: torch.device, folder: RunFolder, reporter: Reporter) -> Run:
    """Everything before the first epoch, in order (the order fixes the random streams)."""
    # -- runtime
    runtime.set_deterministic(cfg.deterministic)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    # -- data: the training split and its label space
    tax = load_taxonomy(cfg.taxonomy)
    train_set, space = load_split(cfg.data, "train", tax, cfg.train_rank)

    # -- network and method: identical initialisation on every process
    runtime.seed_all(cfg.seed)
    online = build_online(cfg, len(space.train_names)).to(device)
    method = cfg.method_class(cfg, online, d, device)
    method.bind(tax, space)
    freeze = FreezeSchedule(online, cfg.optim.freeze_epochs)

    # -- data loader, optimiser and LR schedule
    sampler, loader = build_loader(
        cfg, train_set, space, method.views, d, device, make_views=method.make_views
    )
    optimizer, scheduler = build_optimizer(cfg.optim, online, len(loader))
    run = Run(
        cfg,
        d,
        device,
        folder,
        space,
        sampler,
        loader,
        online,
        online,
        method,
        optimizer,
        scheduler,
        freeze=freeze,
    )
    if cfg.optim.ema_weights is not None:
        run.ema = frozen_copy(online)

    # -- resume, or start afresh
    if folder.checkpoint is not None:
        restore(run, folder.checkpoint)
        run.log_rows = list(folder.log_rows)
    else:
        runtime.seed_all(cfg.seed + d.rank)  # different augmentations on every process

    _wrap_model(run, cfg, d, device, freeze)

    # -- kNN evaluation sets (main process only)
    if cfg.eval.every > 0 and d.main:
        run.knn_sets = knn_eval_sets(cfg, tax, train_set, reporter)

    # -- every input is read: only now is the output folder touched
    if d.main:
        folder.start()
    return run


def build_loader(
    cfg: Config,
    train_set: SampleSet,
    space: LabelSpace,
    views: int,
    d: Dist,
    device: torch.device,
    make_views: Any = None,
) -> tuple[Any, Any]:
    """The augmented training set, split over the processes (``optim.batch_size`` is global):
    a :class:`~taxovit.training.data.memory.MemoryLoader` (``data.loader``; the views of
    ``make_views``, the method's), else a ``DistributedSampler`` and a ``DataLoader``
    (``views`` views)."""
    dc = cfg.data
    global_batch = cfg.optim.batch_size
    if global_batch % d.world:
        raise ConfigError(
            f"optim.batch_size {global_batch} is not divisible by {d.world} processes"
        )
    if len(train_set) < global_batch:
        raise ConfigError(
            f"optim.batch_size {global_batch} is larger than the training set ({len(train_set)})"
        )
    if use_memory(dc, train_set):
        loader = MemoryLoader(cfg, train_set, space, views, d.rank, d.world, device, make_views)
        return loader, loader
    in_chans = dc.in_chans
    tf = build_transform(cfg.augment, dc.img_size, in_chans, train=True)
    dataset = make_dataset(train_set, space, tf, views=views, in_chans=in_chans)
    sampler = torch.utils.data.DistributedSampler(
        dataset,
        num_replicas=d.world,
        rank=d.rank,
        shuffle=True,
        seed=cfg.seed,
        drop_last=True,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=global_batch // d.world,
        sampler=sampler,
        drop_last=True,
        num_workers=dc.num_workers,
        pin_memory=device.type == "cuda",
    )
    return sampler, loader


def build_optimizer(
    o: OptimConfig, online: Network, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW (no weight decay on biases, norms, position embedding, CLS token) and a per-step
    schedule: linear warm-up, then cosine to ``optim.min_lr``. With ``optim.layer_decay``
    each group's LR is ``optim.lr`` times its ``lr_scale`` (layer-wise LR decay,
    :func:`~taxovit.training.parts.network.param_groups`); the schedule multiplies every group's."""
    total_steps = steps_per_epoch * o.epochs
    warmup_steps = int(round(o.warmup_epochs * steps_per_epoch))
    groups = param_groups(online, o.weight_decay, o.layer_decay)
    for g in groups:
        g["lr"] = o.lr * g["lr_scale"]
    optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas))
    min_ratio = o.min_lr / o.lr
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(total_steps, warmup_steps, min_ratio)
    )
    return optimizer, scheduler


def restore(run: Run, ck: dict[str, Any]) -> None:
    """Load the checkpoint ``ck`` (read and checked by the run folder) into ``run``: weights,
    method state, optimiser, scheduler, position and this process's random states."""
    if ck["label_space"] != run.space.to_dict():
        raise TaxovitError(
            f"--resume: the classes of the training data differ from the ones "
            f"{run.ckpt_path} was trained on (the data or the taxonomy changed)"
        )
    load_weights(run.online, ck["model"], f"--resume {run.ckpt_path}")
    run.method.load_state_dict(ck)
    if run.ema is not None:
        load_weights(run.ema, ck.get("model_ema") or ck["model"], f"--resume {run.ckpt_path}")
    run.optimizer.load_state_dict(ck["optimizer"])
    run.scheduler.load_state_dict(ck["scheduler"])
    run.start_epoch, run.step = int(ck["epoch"]), int(ck["step"])
    rngs, rank = ck["rng"], run.dist.rank
    runtime.set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])


def knn_eval_sets(
    cfg: Config, tax: Any, train_set: SampleSet, reporter: Reporter
) -> tuple[SampleSet, SampleSet] | None:
    """(train, test) subsets for the kNN accuracy; None (and a note) without a test split."""
    try:
        test_set, _ = load_split(cfg.data, "test", tax, cfg.train_rank)
        return (
            subsample(train_set, cfg.eval.train_max),
            subsample(test_set, cfg.eval.test_max),
        )
    except (TaxovitError, KeyError, TypeError) as exc:
        reporter.note(f"kNN evaluation disabled: {exc}")
        return None
