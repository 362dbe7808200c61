"""Training: cross-entropy, Grafit (coarse-to-fine, Touvron et al. ICCV 2021) and TransFG.

``taxovit train --config FILE`` reads a YAML config (see ``configs/*.yaml``; every key and its
default is in :data:`DEFAULTS`), trains on the *training rank* of the taxonomy (e.g. the coarse
``group`` rank of Fashion-MNIST) and writes into the output folder:

``checkpoint.pt``
    written atomically after every epoch: online model, EMA target, optimiser, scheduler,
    RNG states (python, numpy, torch, per process), memory bank, label space, config, epoch.
``log.jsonl``
    one JSON object per epoch: loss and its parts, learning rate, images/s, and the kNN
    top-1 accuracy on the *fine* labels (train embeddings vs test embeddings).

Methods (``method:``):

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

This module imports torch; ``import taxovit`` never imports it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from taxovit import losses
from taxovit.data import LabelSpace, SampleSet, build_transform, load_split, make_dataset
from taxovit.errors import TaxovitError
from taxovit.neighbors import knn_classify

__all__ = [
    "DEFAULTS",
    "ConfigError",
    "MemoryBank",
    "Network",
    "TrainingDiverged",
    "build_network",
    "embed_samples",
    "load_checkpoint",
    "load_config",
    "merge_config",
    "train",
]

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
METHODS = ("ce", "grafit", "transfg")

#: Every config key with its default. Defaults are ours (small CPU runs), not the paper's.
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "deterministic": False,  # torch.use_deterministic_algorithms + cuDNN deterministic
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "threads": None,  # torch CPU threads (null = torch's default; 1 helps on a shared CPU)
    "taxonomy": None,  # path to the taxonomy file (required)
    "train_rank": None,  # rank whose labels are trained on; null = the dataset's own labels
    "method": "grafit",  # ce | grafit | transfg
    "out": "runs/taxovit",
    "data": {
        "format": "fashion_mnist",  # fashion_mnist | csv | imagefolder
        "root": None,  # fashion_mnist: folder with the idx files
        "train": None,  # csv: manifest; imagefolder: folder
        "test": None,
        "train_per_class": None,  # keep only the first N images of each class
        "test_per_class": None,
        "img_size": 28,
        "in_chans": 1,
        "num_workers": 0,
    },
    "model": {
        "preset": "vit_micro",
        "patch_size": 4,
        "stride": None,
        "pretrained": None,  # local checkpoint for taxovit.models.load_pretrained
        "compile": False,  # torch.compile the online network
        "overrides": {},  # extra build_vit / build_transfg arguments
    },
    "grafit": {
        "views": 2,
        "lambda_inst": 1.0,
        "lambda_knn": 1.0,
        "lambda_ce": 0.0,
        "sigma": 0.1,
        "k": None,
        "bank_size": 4096,
        "proj_hidden": 512,
        "proj_dim": 128,
        "ema": 0.99,  # EMA momentum at step 0, cosine-increased to ema_end
        "ema_end": 1.0,
    },
    "ce": {"label_smoothing": 0.0},
    "transfg": {"label_smoothing": 0.0},
    "optim": {
        "epochs": 10,
        "batch_size": 128,  # global batch (all processes together)
        "lr": 1e-3,
        "min_lr": 1e-5,
        "weight_decay": 0.05,
        "warmup_epochs": 1.0,
        "betas": [0.9, 0.999],
        "grad_clip": 1.0,  # max gradient norm; null or 0 = off
    },
    "augment": {
        "enabled": True,
        "crop_scale": [0.6, 1.0],
        "hflip": 0.5,
        "color_jitter": 0.0,
        "erasing": 0.0,
        "mean": None,  # per channel; null = 0.5
        "std": None,
    },
    "eval": {
        "every": 1,  # kNN evaluation every N epochs (0 = never)
        "knn_k": 20,
        "temperature": 0.07,
        "train_max": 5000,  # training images embedded for the kNN evaluation
        "test_max": 2000,
        "batch_size": 512,
    },
    "log": {"progress": True},
}

_PATH_KEYS = (("taxonomy",), ("data", "root"), ("data", "train"), ("data", "test"))
_PATH_KEYS += (("model", "pretrained"),)


class ConfigError(TaxovitError):
    """A bad training config (unknown key, wrong value, missing file)."""


class TrainingDiverged(TaxovitError):
    """The loss became NaN/inf; the last good checkpoint is left in place."""


# ---------------------------------------------------------------------------------- config
def merge_config(user: dict[str, Any] | None, source: str = "config") -> dict[str, Any]:
    """``DEFAULTS`` updated by ``user`` (nested); unknown keys raise :class:`ConfigError`."""

    def merge(base: dict[str, Any], upd: dict[str, Any], where: str) -> dict[str, Any]:
        out = copy.deepcopy(base)
        for key, value in upd.items():
            if key not in base:
                known = ", ".join(sorted(base))
                raise ConfigError(f"{source}: unknown key '{where}{key}' (known: {known})")
            if isinstance(base[key], dict) and key != "overrides":
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise ConfigError(f"{source}: {where}{key!r} must be a mapping")
                out[key] = merge(base[key], value, f"{where}{key}.")
            else:
                out[key] = value
        return out

    cfg = merge(DEFAULTS, user or {}, "")
    if cfg["method"] not in METHODS:
        raise ConfigError(f"{source}: method must be one of {', '.join(METHODS)}")
    if cfg["taxonomy"] is None:
        raise ConfigError(f"{source}: 'taxonomy' (path to the taxonomy file) is required")
    if cfg["method"] == "grafit" and int(cfg["grafit"]["views"]) < 2:
        raise ConfigError(f"{source}: grafit.views must be >= 2 (instance loss)")
    return cfg


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config, merge it with :data:`DEFAULTS`; relative input paths that do not
    exist from the current folder are looked up next to the config file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        user = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}") from None
    if not isinstance(user, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    cfg = merge_config(user, str(p))
    for keys in _PATH_KEYS:
        section = cfg
        for k in keys[:-1]:
            section = section[k]
        value = section[keys[-1]]
        if value and not Path(value).is_absolute() and not Path(value).exists():
            alt = p.parent / value
            if alt.exists():
                section[keys[-1]] = str(alt)
    return cfg


# ---------------------------------------------------------------------------------- models
class Network(nn.Module):
    """Backbone (CLS feature) + optional classifier head, projector ``g`` and predictor ``q``.

    ``forward`` returns a dict: ``features`` always, ``logits`` with a head, ``z`` (projector
    output) with a projector, ``p`` (predictor output) with a predictor.
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

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.backbone.forward_features(x)
        out = {"features": feats}
        if self.head is not None:
            out["logits"] = self.head(feats)
        if self.projector is not None:
            z = self.projector(feats)
            out["z"] = z
            if self.predictor is not None:
                out["p"] = self.predictor(z)
        return out


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Module:
    # LayerNorm rather than BatchNorm: per-sample, so data-parallel runs match one process.
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, d_out)
    )


def build_network(cfg: dict[str, Any], num_train_classes: int) -> tuple[Network, Network | None]:
    """The online network and (Grafit only) its EMA target, initialised from ``cfg``."""
    from taxovit.models import build_transfg, build_vit, load_pretrained

    m, d = cfg["model"], cfg["data"]
    builder = build_transfg if cfg["method"] == "transfg" else build_vit
    backbone = builder(
        m["preset"],
        num_classes=0,
        img_size=int(d["img_size"]),
        patch_size=int(m["patch_size"]),
        stride=m["stride"],
        in_chans=int(d["in_chans"]),
        **(m.get("overrides") or {}),
    )
    if m.get("pretrained"):
        load_pretrained(backbone, m["pretrained"], strict=False)
    dim = backbone.embed_dim
    g = cfg["grafit"]
    head = None
    if cfg["method"] != "grafit" or float(g["lambda_ce"]) > 0:
        head = nn.Linear(dim, num_train_classes)
        nn.init.trunc_normal_(head.weight, std=0.02)
        nn.init.zeros_(head.bias)
    if cfg["method"] != "grafit":
        return Network(backbone, head), None
    projector = _mlp(dim, int(g["proj_hidden"]), int(g["proj_dim"]))
    predictor = _mlp(int(g["proj_dim"]), int(g["proj_hidden"]), int(g["proj_dim"]))
    online = Network(backbone, head, projector, predictor)
    target = Network(copy.deepcopy(backbone), None, copy.deepcopy(projector))
    for p in target.parameters():
        p.requires_grad_(False)
    return online, target


class MemoryBank:
    """FIFO queue of recent target embeddings with their training-rank labels."""

    def __init__(self, size: int, dim: int, device: torch.device | str = "cpu") -> None:
        self.size = int(size)
        self.feats = torch.zeros(self.size, dim, device=device)
        self.labels = torch.full((self.size,), -1, dtype=torch.long, device=device)
        self.ptr = 0
        self.filled = 0

    def enqueue(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
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

    def get(self) -> tuple[torch.Tensor, torch.Tensor]:
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


# ---------------------------------------------------------------------------------- utilities
class _Dist:
    """Process-group facts (a single process is world_size 1, rank 0)."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        self.owns_group = False

    def init(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
            self.owns_group = True

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t / self.world

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Concatenate ``t`` from every process (rank order), without gradient."""
        if not self.enabled:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def gather_with_grad(self, t: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return t
        return _GatherWithGrad.apply(t)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gradients of every process (works on gloo)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.n = t.shape[0]
        ctx.rank = dist.get_rank()
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def _resolve_device(name: str, d: _Dist) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda requested but no GPU is available")
        if device.index is None:
            device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    return device


def _set_deterministic(on: bool) -> None:
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (the global stream third-party code uses)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    nps = np.random.get_state()  # noqa: NPY002
    state = {
        "python": random.getstate(),
        "numpy": [nps[0], nps[1].tolist(), int(nps[2]), int(nps[3]), float(nps[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_torch_save(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise TaxovitError(f"checkpoint not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise TaxovitError(f"{p}: cannot read checkpoint ({exc})") from None


def _lr_lambda(total_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    def f(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(("pos_embed", "cls_token")):
            no_decay.append(p)
        else:
            decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _space_dict(space: LabelSpace) -> dict[str, Any]:
    return {
        "fine_names": list(space.fine_names),
        "train_rank": space.train_rank,
        "train_names": list(space.train_names),
        "fine_to_train": [int(x) for x in space.fine_to_train],
    }


def _space_from_dict(d: dict[str, Any]) -> LabelSpace:
    return LabelSpace(
        list(d["fine_names"]), d["train_rank"], list(d["train_names"]),
        np.asarray(d["fine_to_train"], dtype=np.int64),
    )  # fmt: skip


def _subsample(samples: SampleSet, n: int | None) -> SampleSet:
    if n is None or len(samples) <= n:
        return samples
    keep = np.linspace(0, len(samples) - 1, int(n)).round().astype(np.int64)
    return SampleSet(
        [samples.ids[i] for i in keep],
        samples.fine[keep],
        images=None if samples.images is None else samples.images[keep],
        paths=None if samples.paths is None else [samples.paths[i] for i in keep],
    )


@torch.no_grad()
def embed_samples(
    network: Network,
    samples: SampleSet,
    space: LabelSpace,
    cfg: dict[str, Any],
    device: torch.device,
    batch_size: int | None = None,
    with_logits: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """L2-normalised backbone CLS features (CPU, float32) of ``samples`` with the eval
    transform, and the head's logits when ``with_logits``."""
    d = cfg["data"]
    tf = build_transform(cfg["augment"], int(d["img_size"]), int(d["in_chans"]), train=False)
    ds = make_dataset(samples, space, tf, views=1, in_chans=int(d["in_chans"]))
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size or int(cfg["eval"]["batch_size"]), shuffle=False,
        num_workers=int(d["num_workers"]),
    )  # fmt: skip
    was_training = network.training
    network.eval()
    feats, logits = [], []
    for x, *_ in loader:
        with _autocast(device):
            out = network(x.to(device, non_blocking=True))
        feats.append(F.normalize(out["features"].float(), dim=1).cpu())
        if with_logits and "logits" in out:
            logits.append(out["logits"].float().cpu())
    network.train(was_training)
    return torch.cat(feats), (torch.cat(logits) if logits else None)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


# ---------------------------------------------------------------------------------- training
def train(
    config: dict[str, Any] | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    *,
    stop_after_epoch: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train as described by ``config`` (a path to YAML, or a dict merged with DEFAULTS).

    ``out`` overrides ``config["out"]``. With ``resume`` the run continues from
    ``out/checkpoint.pt`` exactly where it stopped (same RNG streams, scheduler, bank).
    ``stop_after_epoch`` ends the run after that many epochs without changing the schedule
    (used to test that a resumed run equals an uninterrupted one).

    Returns ``{"out", "checkpoint", "log", "epochs_done", "history"}``.
    """
    cfg = load_config(config) if isinstance(config, str | os.PathLike) else merge_config(config)
    if out is not None:
        cfg["out"] = str(out)
    out_dir = Path(cfg["out"])
    ckpt_path = out_dir / CHECKPOINT_NAME
    log_path = out_dir / LOG_NAME
    show_progress = cfg["log"]["progress"] if progress is None else progress

    d = _Dist()
    device = _resolve_device(str(cfg["device"]), d)
    # process-wide torch settings changed by the config are restored afterwards
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.get_num_threads(),
    )
    d.init(device)
    try:
        return _train(cfg, d, device, out_dir, ckpt_path, log_path, resume, stop_after_epoch,
                      show_progress)  # fmt: skip
    finally:
        d.close()
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:4]
        torch.set_num_threads(saved[4])


def _train(
    cfg: dict[str, Any],
    d: _Dist,
    device: torch.device,
    out_dir: Path,
    ckpt_path: Path,
    log_path: Path,
    resume: bool,
    stop_after_epoch: int | None,
    show_progress: bool,
) -> dict[str, Any]:
    from taxovit import load_taxonomy

    _set_deterministic(bool(cfg["deterministic"]))
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    seed = int(cfg["seed"])
    method = cfg["method"]
    g, o, dc = cfg["grafit"], cfg["optim"], cfg["data"]

    tax = load_taxonomy(cfg["taxonomy"])
    train_set, space = load_split(dc, "train", tax, cfg["train_rank"])
    n_train_classes = len(space.train_names)

    _seed_all(seed)  # identical initialisation on every process
    online, target = build_network(cfg, n_train_classes)
    online.to(device)
    if target is not None:
        target.to(device)
    bank = None
    if method == "grafit":
        bank = MemoryBank(int(g["bank_size"]), int(g["proj_dim"]), device)

    views = int(g["views"]) if method == "grafit" else 1
    in_chans = int(dc["in_chans"])
    tf = build_transform(cfg["augment"], int(dc["img_size"]), in_chans, train=True)
    dataset = make_dataset(train_set, space, tf, views=views, in_chans=in_chans)
    global_batch = int(o["batch_size"])
    if global_batch % d.world:
        raise ConfigError(
            f"optim.batch_size {global_batch} is not divisible by {d.world} processes"
        )
    local_batch = global_batch // d.world
    if len(dataset) < global_batch:
        raise ConfigError(
            f"optim.batch_size {global_batch} is larger than the training set ({len(dataset)})"
        )
    sampler = torch.utils.data.DistributedSampler(
        dataset, num_replicas=d.world, rank=d.rank, shuffle=True, seed=seed, drop_last=True
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=local_batch, sampler=sampler, drop_last=True,
        num_workers=int(dc["num_workers"]), pin_memory=device.type == "cuda",
    )  # fmt: skip
    steps_per_epoch = len(loader)
    epochs = int(o["epochs"])
    total_steps = steps_per_epoch * epochs
    warmup_steps = int(round(float(o["warmup_epochs"]) * steps_per_epoch))

    optimizer = torch.optim.AdamW(
        _param_groups(online, float(o["weight_decay"])), lr=float(o["lr"]),
        betas=tuple(o["betas"]),
    )  # fmt: skip
    min_ratio = float(o["min_lr"]) / float(o["lr"]) if float(o["lr"]) > 0 else 0.0
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total_steps, warmup_steps, min_ratio)
    )

    start_epoch, step = 0, 0
    if resume:
        if not ckpt_path.is_file():
            raise TaxovitError(f"--resume: no checkpoint at {ckpt_path}")
        ck = load_checkpoint(ckpt_path)
        if ck["config"]["method"] != method:
            raise ConfigError(
                f"--resume: checkpoint was trained with method {ck['config']['method']!r}, "
                f"config says {method!r}"
            )
        online.load_state_dict(ck["model"])
        if target is not None:
            target.load_state_dict(ck["target"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        if bank is not None and ck.get("bank") is not None:
            bank.load_state_dict(ck["bank"])
        start_epoch, step = int(ck["epoch"]), int(ck["step"])
        rngs = ck["rng"]
        _set_rng_state(rngs[d.rank] if d.rank < len(rngs) else rngs[0])
    else:
        _seed_all(seed + d.rank)  # different augmentations on every process
        if d.main:
            out_dir.mkdir(parents=True, exist_ok=True)
            if log_path.exists():
                log_path.unlink()

    model: nn.Module = online
    if cfg["model"]["compile"]:
        model = torch.compile(model)
    if d.enabled:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    test_eval = None
    if int(cfg["eval"]["every"]) > 0 and d.main:
        try:
            test_set, _ = load_split(dc, "test", tax, cfg["train_rank"])
            test_eval = (
                _subsample(train_set, cfg["eval"]["train_max"]),
                _subsample(test_set, cfg["eval"]["test_max"]),
            )
        except (TaxovitError, KeyError, TypeError) as exc:
            print(f"[taxovit train] kNN evaluation disabled: {exc}")

    history: list[dict[str, Any]] = []
    weights = losses.GrafitLossWeights(
        float(g["lambda_inst"]), float(g["lambda_knn"]), float(g["lambda_ce"]),
        float(g["sigma"]), None if g["k"] is None else int(g["k"]),
    )  # fmt: skip
    last_epoch = epochs if stop_after_epoch is None else min(epochs, int(stop_after_epoch))
    model.train()
    for epoch in range(start_epoch, last_epoch):
        sampler.set_epoch(epoch)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        n_images = 0
        bar = _progress(show_progress and d.main, epoch, epochs, steps_per_epoch)
        for x, _fine, coarse, _idx in loader:
            x = x.to(device, non_blocking=True)
            coarse = coarse.to(device, non_blocking=True)
            with _autocast(device):
                parts = _step_loss(method, model, target, bank, x, coarse, weights, cfg, d)
            loss = parts["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if o["grad_clip"]:
                nn.utils.clip_grad_norm_(online.parameters(), float(o["grad_clip"]))
            logged = {k: d.all_reduce_mean(v.detach().float()) for k, v in parts.items()}
            value = float(logged["loss"])
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"non-finite loss ({value}) at epoch {epoch + 1}, step {step + 1}; parts: "
                    + ", ".join(f"{k}={float(v):.4g}" for k, v in logged.items() if k != "loss")
                    + ". The run is stopped; "
                    + (
                        f"the last good checkpoint (epoch {epoch}) is kept at {ckpt_path}"
                        if epoch > 0
                        else "no checkpoint was written (it diverged in the first epoch)"
                    )
                    + ". Lower optim.lr or check the data."
                )
            optimizer.step()
            scheduler.step()
            step += 1
            if target is not None:
                _ema_update(online, target, _ema_momentum(g, step, total_steps))
            for k, v in logged.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_images += global_batch
            if bar is not None:
                bar.advance(value)
        if bar is not None:
            bar.close()
        elapsed = time.perf_counter() - t0
        row: dict[str, Any] = {"epoch": epoch + 1, "step": step}
        row.update({k: v / steps_per_epoch for k, v in sums.items()})
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["images_per_s"] = n_images / max(elapsed, 1e-9)
        row["time_s"] = elapsed
        every = int(cfg["eval"]["every"])
        if test_eval is not None and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
            row["knn_top1_fine"] = _knn_accuracy(online, test_eval, space, cfg, device)
        rngs = _gather_objects(d, _rng_state())
        if d.main:
            _atomic_torch_save(
                {
                    "format": "taxovit-train/1",
                    "config": cfg,
                    "epoch": epoch + 1,
                    "step": step,
                    "model": online.state_dict(),
                    "target": None if target is None else target.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "bank": None if bank is None else bank.state_dict(),
                    "rng": rngs,
                    "label_space": _space_dict(space),
                },
                ckpt_path,
            )
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            if show_progress:
                print(_epoch_line(row, epochs))
        history.append(row)
    return {
        "out": str(out_dir),
        "checkpoint": str(ckpt_path),
        "log": str(log_path),
        "epochs_done": max(start_epoch, last_epoch) if history else start_epoch,
        "history": history,
    }


def _gather_objects(d: _Dist, obj: Any) -> list[Any]:
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def _ema_momentum(g: dict[str, Any], step: int, total: int) -> float:
    m0, m1 = float(g["ema"]), float(g["ema_end"])
    return m1 - (m1 - m0) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(total, 1))))


@torch.no_grad()
def _ema_update(online: Network, target: Network, m: float) -> None:
    t_params = dict(target.named_parameters())
    for name, p in online.named_parameters():
        tp = t_params.get(name)
        if tp is not None:
            tp.lerp_(p.detach(), 1.0 - m)


def _step_loss(
    method: str,
    model: nn.Module,
    target: Network | None,
    bank: MemoryBank | None,
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: losses.GrafitLossWeights,
    cfg: dict[str, Any],
    d: _Dist,
) -> dict[str, torch.Tensor]:
    if method == "ce":
        out = model(x)
        ce = F.cross_entropy(out["logits"].float(), labels,
                             label_smoothing=float(cfg["ce"]["label_smoothing"]))  # fmt: skip
        return {"loss": ce, "ce": ce.detach()}
    if method == "transfg":
        from taxovit.models.transfg import transfg_loss

        out = model(x)
        loss = transfg_loss(out["logits"], out["features"], labels,
                            label_smoothing=float(cfg["transfg"]["label_smoothing"]))  # fmt: skip
        return {"loss": loss}
    # grafit: x is (B, T, C, H, W); stack the views view-major
    b, t = x.shape[:2]
    xs = x.transpose(0, 1).reshape(t * b, *x.shape[2:])
    ys = labels.repeat(t)
    out = model(xs)
    with torch.no_grad():
        tz = target(xs)["z"].float()
    online_p = list(out["p"].float().split(b))
    target_z = list(tz.split(b))
    inst = losses.instance_loss(online_p, target_z)
    z = out["z"].float()
    bank_feats, bank_labels = bank.get() if bank is not None else (None, None)
    all_z = d.gather_with_grad(z)
    all_y = d.gather(ys)
    terms, valid = losses.knn_loss_terms(
        z, ys, weights.sigma, bank_feats, bank_labels, weights.k,
        candidates=all_z, candidate_labels=all_y, self_offset=d.rank * z.shape[0],
    )  # fmt: skip
    n_valid = d.all_reduce_sum(valid.sum().float())
    if float(n_valid) > 0:
        # the per-process sum over the global count, x world size: DDP averages gradients
        knn = terms.sum() / n_valid * d.world
    else:
        knn = z.sum() * 0.0
    total = weights.lambda_inst * inst + weights.lambda_knn * knn
    parts = {"inst": inst.detach(), "knn": knn.detach()}
    if weights.lambda_ce > 0:
        ce = F.cross_entropy(out["logits"].float(), ys)
        total = total + weights.lambda_ce * ce
        parts["ce"] = ce.detach()
    parts["loss"] = total
    if bank is not None:
        bank.enqueue(d.gather(tz), all_y)
    return parts


def _knn_accuracy(
    online: Network,
    sets: tuple[SampleSet, SampleSet],
    space: LabelSpace,
    cfg: dict[str, Any],
    device: torch.device,
) -> float:
    train_s, test_s = sets
    db, _ = embed_samples(online, train_s, space, cfg, device)
    q, _ = embed_samples(online, test_s, space, cfg, device)
    scores = knn_classify(q, db, torch.from_numpy(train_s.fine), len(space.fine_names),
                          k=int(cfg["eval"]["knn_k"]),
                          temperature=float(cfg["eval"]["temperature"]))  # fmt: skip
    pred = scores.argmax(dim=1).numpy()
    return float((pred == test_s.fine).mean())


def _epoch_line(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['loss']:.4f}"]
    for k in ("inst", "knn", "ce"):
        if k in row:
            parts.append(f"{k} {row[k]:.4f}")
    parts.append(f"{row['images_per_s']:.0f} img/s")
    if "knn_top1_fine" in row:
        parts.append(f"kNN top-1 (fine) {row['knn_top1_fine']:.4f}")
    return "  ".join(parts)


class _Bar:
    def __init__(self, epoch: int, epochs: int, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn(f"epoch {epoch + 1}/{epochs}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), transient=True,
        )  # fmt: skip
        self.p.start()
        self.task = self.p.add_task("train", total=total, loss="-")

    def advance(self, loss: float) -> None:
        self.p.update(self.task, advance=1, loss=f"{loss:.4f}")

    def close(self) -> None:
        self.p.stop()


def _progress(on: bool, epoch: int, epochs: int, total: int) -> _Bar | None:
    return _Bar(epoch, epochs, total) if on else None
