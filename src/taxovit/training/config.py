"""The training config: every key with its default, merging and validation.

Torch-free: reading a config does not import torch.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from taxovit.errors import TaxovitError

__all__ = ["DEFAULTS", "METHODS", "ConfigError", "TrainingDiverged", "load_config", "merge_config"]

#: the keys of :data:`taxovit.training.objectives.OBJECTIVES` (checked there)
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

    @classmethod
    def at(
        cls, value: float, parts: dict[str, Any], epoch: int, step: int, checkpoint: Path
    ) -> TrainingDiverged:
        """The error for loss ``value`` (logged ``parts``) at 0-based ``epoch`` and ``step``."""
        return cls(
            f"non-finite loss ({value}) at epoch {epoch + 1}, step {step + 1}; parts: "
            + ", ".join(f"{k}={float(v):.4g}" for k, v in parts.items() if k != "loss")
            + ". The run is stopped; "
            + (
                f"the last good checkpoint (epoch {epoch}) is kept at {checkpoint}"
                if epoch > 0
                else "no checkpoint was written (it diverged in the first epoch)"
            )
            + ". Lower optim.lr or check the data."
        )


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
