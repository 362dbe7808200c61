"""Training: the loop every method (:mod:`taxovit.training.methods`) runs in.

``taxovit train --config FILE`` reads a YAML config (see ``configs/*.yaml``; every key and its
default is in :data:`taxovit.training.run.config.DEFAULTS`), trains on the *training rank* of the
taxonomy (e.g. the coarse ``group`` rank of Fashion-MNIST) and writes into the output folder:

``checkpoint.pt``
    written atomically after every epoch: online model, its EMA (``optim.ema_weights``),
    the method's state (Grafit: EMA target, memory bank), optimiser, scheduler, RNG states
    (python, numpy, torch, per process), label space, config, the model description
    (the backbone's :meth:`~taxovit.models.VisionTransformer.describe`, which
    :func:`taxovit.models.load_model` reads), epoch, and the log rows of every epoch so far.
files of the method
    written beside it by every save (``lora``, ``vpt``: ``adapters.pt``, what was trained,
    alone: :mod:`taxovit.training.run.adapters`).
``log.jsonl``
    one JSON object per epoch: loss and its parts, learning rate (of the top layer's group),
    images/s, trainable parameters, peak memory (:mod:`taxovit.training.run.resources`: CUDA's
    peak allocation on a GPU, the process's peak RSS on the CPU; ``peak_mem_kind`` says
    which), and the kNN top-1 accuracy on the *fine* labels (train embeddings vs test embeddings). ``--resume``
    rewrites it from the checkpoint's rows (see :mod:`taxovit.training.run.checkpoint`).

Before anything is written the whole config (with its input files), the output folder
(:mod:`taxovit.training.run.rundir`: an existing run needs ``--resume`` or ``--overwrite``;
``--resume`` needs the same config) and the data are checked.

Methods (``method:``): one module each in :mod:`taxovit.training.methods` (``ce``, ``grafit``,
``transfg``, ``linear``, ``knn``, ``hierarchy``, ``lora``, ``vpt``, ``deit``), each with its
config section, network parts, loss and what it saves; this module never names one. Any
method may also use ``optim.layer_decay`` and ``optim.freeze_epochs``
(:mod:`taxovit.training.run.freeze`).

An in-memory split is augmented batch-wise on the device (``data.loader``,
:mod:`taxovit.training.data.memory`); ``precision`` chooses the autocast, ``optim.ema_weights`` an
EMA of the weights that the kNN evaluation and ``taxovit predict`` use.

Distributed data parallel: launch with ``torchrun --nproc_per_node N -m taxovit.cli train
--config FILE`` (or the ``taxovit`` script); ``optim.batch_size`` is the *global* batch. The
Grafit kNN loss uses the embeddings of the whole global batch as candidates, so N processes
compute the same loss as one process on the same global batch.

:func:`train` runs the labelled setup sections of
:func:`~taxovit.training.run.prepare.setup`, then per epoch :func:`train_one_epoch`, the kNN
evaluation and :func:`save`. Progress goes to a
:class:`~taxovit.training.run.progress.Reporter`; nothing is printed here.

This module imports torch; ``import taxovit`` never imports it.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import torch.nn as nn

from taxovit.training.parts.network import ema_update
from taxovit.training.run import runtime
from taxovit.training.run.checkpoint import FORMAT, append_log, save_checkpoint
from taxovit.training.run.config import ConfigError, TrainingDiverged, load_config, merge_config
from taxovit.training.run.distributed import Dist
from taxovit.training.run.embed import knn_metrics
from taxovit.training.run.prepare import Run, setup
from taxovit.training.run.progress import ConsoleReporter, Reporter, SilentReporter
from taxovit.training.run.resources import count_parameters, peak_memory, reset_peak_memory
from taxovit.training.run.rundir import RunFolder

__all__ = ["Run", "train", "train_one_epoch"]


# ---------------------------------------------------------------------------------- training
def train(
    config: dict[str, Any] | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    *,
    overwrite: bool = False,
    stop_after_epoch: int | None = None,
    progress: bool | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Train as described by ``config`` (a path to YAML, or a dict merged with DEFAULTS).

    What ``taxovit train`` runs: the config, its input files, the output folder and the data
    are checked before anything is written; then every epoch trains, evaluates (kNN on the
    test split, every ``eval.every`` epochs) and saves ``checkpoint.pt`` and a ``log.jsonl``
    row (the module docstring; the Training page).

    Parameters
    ----------
    config : dict, str or os.PathLike
        A YAML file (:func:`~taxovit.training.load_config`) or the keys to change from the
        defaults (:func:`~taxovit.training.merge_config`).
    out : str or os.PathLike, optional
        The run folder; overrides ``config["out"]``.
    resume : bool, default False
        Continue the run in ``out`` from its checkpoint exactly where it stopped (same RNG
        streams, scheduler, bank); the config must be the checkpoint's, up to
        :data:`~taxovit.training.run.rundir.RESUMABLE`.
    overwrite : bool, default False
        Replace a run already in ``out`` (once training is about to start).
    stop_after_epoch : int, optional
        End after that many epochs without changing the schedule (to test that a resumed
        run equals an uninterrupted one).
    progress : bool, optional
        Show progress bars on the console; default: the config's ``log.progress``.
    reporter : Reporter, optional
        Where progress goes instead (:mod:`~taxovit.training.run.progress`).

    Returns
    -------
    dict
        ``out``, ``checkpoint``, ``log`` (paths as str), ``epochs_done`` (int) and
        ``history``: the log rows of the epochs this call ran (loss and its parts, ``lr``,
        ``images_per_s``, peak memory, the kNN metrics on the fine labels...).

    Raises
    ------
    ConfigError
        A bad config, a missing input file, ``stop_after_epoch < 1``, or a ``resume`` whose
        config differs from the checkpoint's.
    TaxovitError
        A folder that already holds a run (without ``resume`` or ``overwrite``), both
        flags, ``resume`` without a checkpoint, or an ``out`` that is not a folder or would
        overwrite an input (``OutputError``, a subclass).
    InputError
        Data that cannot be read (naming the file).
    TrainingDiverged
        A non-finite loss; the last good checkpoint is kept.

    Examples
    --------
    One epoch of the ``ce`` method on eight random 8x8 images of two genera:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> from taxovit.taxonomy import save_taxonomy
    >>> from taxovit.training import train
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")],
    ...                           ranks={"Corvus": "genus", "Pica": "genus"})
    >>> images = np.random.default_rng(0).integers(0, 256, (8, 8, 8), dtype=np.uint8)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_taxonomy(tax, os.path.join(d, "birds.json"))
    ...     data = os.path.join(d, "train.npz")
    ...     np.savez(data, images=images, labels=np.array(["Corvus", "Pica"] * 4))
    ...     result = train({
    ...         "taxonomy": os.path.join(d, "birds.json"), "train_rank": "genus",
    ...         "method": "ce", "device": "cpu",
    ...         "data": {"format": "npy", "train": data, "test": data, "img_size": 8},
    ...         "model": {"preset": "vit_nano", "patch_size": 4},
    ...         "optim": {"epochs": 1, "batch_size": 4}, "eval": {"knn_k": 2},
    ...         "log": {"progress": False},
    ...     }, out=os.path.join(d, "run"))
    ...     written = sorted(os.listdir(result["out"]))
    >>> result["epochs_done"], written, result["history"][0]["step"]
    (1, ['checkpoint.pt', 'log.jsonl'], 2)
    """
    if isinstance(config, str | os.PathLike):
        cfg, config_file = load_config(config, files=True), os.fspath(config)
    else:
        cfg, config_file = merge_config(config, files=True), None
    if out is not None:
        cfg.out = os.fspath(out)
    if stop_after_epoch is not None and int(stop_after_epoch) < 1:
        raise ConfigError(f"stop_after_epoch must be >= 1, got {stop_after_epoch}")
    folder = RunFolder.check(
        cfg, "--out" if out is not None else "out", config_file, resume, overwrite
    )
    if reporter is None:
        show = cfg.log.progress if progress is None else progress
        reporter = ConsoleReporter() if show else SilentReporter()

    d = Dist()
    device = runtime.resolve_device(cfg.device, d.local_rank)
    rank_reporter = reporter if d.main else SilentReporter()
    # process-wide torch settings changed by the config are restored afterwards
    with runtime.torch_settings_restored():
        d.init(device)
        try:
            run = setup(cfg, d, device, folder, rank_reporter)
            return run_epochs(run, stop_after_epoch, rank_reporter)
        finally:
            rank_reporter.close()
            d.close()


# ---------------------------------------------------------------------------------- epochs
def run_epochs(run: Run, stop_after_epoch: int | None, reporter: Reporter) -> dict[str, Any]:
    """Train, evaluate and save epoch by epoch; the summary :func:`train` returns."""
    cfg, epochs = run.cfg, run.epochs
    every = cfg.eval.every
    last_epoch = epochs if stop_after_epoch is None else min(epochs, int(stop_after_epoch))
    history: list[dict[str, Any]] = []
    run.model.train()
    metric = _validation_metric(cfg.taxonomy, run) if run.knn_sets is not None else None
    for epoch in range(run.start_epoch, last_epoch):
        row = train_one_epoch(run, epoch, reporter)
        if run.knn_sets is not None and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
            row.update(knn_metrics(run.evaluated, run.knn_sets, run.space, cfg, run.device, metric))
        run.log_rows.append(row)
        save(run, row)
        reporter.end_epoch(row, epochs)
        history.append(row)
    run.dist.barrier()  # every process done (the main one saved): a clean teardown
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
    d, device, o = run.dist, run.device, run.cfg.optim
    if not run.method.trains:  # a read-out without training (method knn)
        return {
            "epoch": epoch + 1,
            "step": run.step,
            "loss": 0.0,
            "lr": 0.0,
            "images_per_s": 0.0,
            "time_s": 0.0,
            "trainable_params": 0,
            **peak_memory(device),
        }
    if run.freeze is not None:
        run.freeze.apply(epoch)
    reset_peak_memory(device)
    run.sampler.set_epoch(epoch)
    sums: dict[str, float] = {}
    t0 = time.perf_counter()
    n_images = 0
    precision = run.cfg.precision
    reporter.start_epoch(epoch + 1, run.epochs, run.steps_per_epoch)
    for x, _fine, coarse, idx in run.loader:
        x = _to(x, device)
        coarse = coarse.to(device, non_blocking=True)
        run.method.see_batch(idx)
        with runtime.autocast(device, precision):
            parts = run.method.loss(run.model, x, coarse)
        run.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if o.grad_clip:
            nn.utils.clip_grad_norm_(run.online.parameters(), o.grad_clip)
        logged = {k: d.all_reduce_mean(v.detach().float()) for k, v in parts.items()}
        value = float(logged["loss"])
        if not math.isfinite(value):
            raise TrainingDiverged.at(value, logged, epoch, run.step, run.ckpt_path)
        run.optimizer.step()
        run.scheduler.step()
        run.step += 1
        run.method.after_step(run.online, run.step, run.steps_per_epoch * run.epochs)
        if run.ema is not None:
            ema_update(run.ema, run.online, o.ema_weights, run.step)
        for k, v in logged.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n_images += o.batch_size
        reporter.step(value)
    elapsed = time.perf_counter() - t0
    row: dict[str, Any] = {"epoch": epoch + 1, "step": run.step}
    row.update({k: v / run.steps_per_epoch for k, v in sums.items()})
    row["lr"] = max(g["lr"] for g in run.optimizer.param_groups)  # the top layer's
    row["images_per_s"] = n_images / max(elapsed, 1e-9)
    row["time_s"] = elapsed
    row["trainable_params"] = count_parameters(run.online)
    row.update(peak_memory(device))
    return row


def save(run: Run, row: dict[str, Any]) -> None:
    """Write the checkpoint (atomically) and append ``row`` to the log (main process)."""
    rngs = run.dist.gather_objects(runtime.rng_state())  # a collective: every process takes part
    if not run.dist.main:
        return
    checkpoint = {
        "format": FORMAT,
        "config": run.cfg.to_dict(),
        "epoch": row["epoch"],
        "step": run.step,
        "model": run.online.state_dict(),
        "model_description": run.online.backbone.describe(),  # for taxovit.models.load_model
        "model_ema": None if run.ema is None else run.ema.state_dict(),
        **run.method.state_dict(),  # Grafit: "target" and "bank"
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "rng": rngs,
        "label_space": run.space.to_dict(),
        "log": run.log_rows,
    }
    save_checkpoint(checkpoint, run.ckpt_path)
    run.method.save_beside(run.online, run.out_dir, checkpoint["label_space"])
    append_log(run.log_path, row)  # a kill before this line: --resume rewrites the log


def _to(x: Any, device: Any) -> Any:
    """A batch of views on ``device``: a tensor, or a list of tensors (multi-crop)."""
    if isinstance(x, list | tuple):
        return [v.to(device, non_blocking=True) for v in x]
    return x.to(device, non_blocking=True)


def _validation_metric(taxonomy: str, run: Run) -> Any:
    """Hierarchical metrics of the kNN read-out on the fine classes (main process only: no
    synchronisation, the other processes do not evaluate)."""
    from taxovit.integrations.torchmetrics import TaxonomyMetrics
    from taxovit.taxonomy import load_taxonomy

    return TaxonomyMetrics(
        load_taxonomy(taxonomy), run.space.fine_names, top_k=(1,), sync_on_compute=False
    )
