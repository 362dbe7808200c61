"""The training config: every key with its default, merging and validation.

Every key has a rule (type, range, list length; :data:`taxovit.training.schema.SCHEMA`);
:func:`merge_config` and :func:`load_config` check the whole config and raise one
:class:`ConfigError` listing every bad key path (with its YAML line) and what was expected.
Whether the input files exist is a separate step, :func:`check_files` (``files=True``), which
``taxovit train`` and ``taxovit predict`` take before doing anything else.

Torch-free: reading a config does not import torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from taxovit.errors import TaxovitError
from taxovit.training.schema import METHODS, Problem, validate
from taxovit.training.yaml_config import read_yaml

__all__ = ["DEFAULTS", "METHODS", "PATH_KEYS", "ConfigError", "TrainingDiverged", "check_files",
           "get_key", "input_files", "load_config", "merge_config"]  # fmt: skip

#: Every config key with its default. Defaults are ours (small CPU runs), not the paper's.
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "deterministic": False,  # torch.use_deterministic_algorithms + cuDNN deterministic
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "threads": None,  # torch CPU threads (null = torch's default; 1 helps on a shared CPU)
    "taxonomy": None,  # path to the taxonomy file (required)
    "train_rank": None,  # rank whose labels are trained on; null = the dataset's own labels
    # ce | grafit | transfg | linear (frozen backbone) | knn (no training) | hierarchy |
    # lora | vpt (frozen backbone + adapters) | deit (distillation from distill.teacher)
    "method": "grafit",
    "precision": "auto",  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    "out": "runs/taxovit",
    "data": {
        "format": "fashion_mnist",  # fashion_mnist | npy | csv | imagefolder
        "root": None,  # fashion_mnist: folder with the idx files
        "train": None,  # npy: .npz or folder of images.npy+labels.npy; csv: manifest; imagefolder: folder
        "test": None,
        "train_per_class": None,  # keep only the first N images of each class
        "test_per_class": None,
        "img_size": 28,
        "in_chans": 1,
        "num_workers": 0,
        "loader": "auto",  # auto (memory when the split is in memory) | memory | dataloader
    },
    "model": {
        "preset": "vit_micro",
        "patch_size": 4,
        "stride": None,
        "pretrained": None,  # local checkpoint for taxovit.models.load_pretrained
        "stem": "patch",  # patch (one strided conv) | conv (small conv stem, then patchify)
        "compile": False,  # torch.compile the online network
        "overrides": {},  # extra build_vit / build_transfg arguments
    },
    "grafit": {
        "views": 2,
        # instance loss: byol (the paper's: predictor + EMA target network) | nce (each image
        # its own class in the kNN loss, in-batch candidates, temperature tau_inst; no target
        # network and no predictor: one forward pass fewer per step)
        "instance": "byol",
        "tau_inst": 0.2,
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
    # method hierarchy: a head on the training classes with a hierarchy-aware loss
    # (taxovit.training.hierarchy_losses); rank_weights {} = weight 1 for every rank
    "hierarchy": {"loss": "hxe", "alpha": 0.1, "beta": 4.0, "rank_weights": {}},
    # method lora (Hu et al. 2022): adapters W x + (alpha/rank) B A dropout(x) on the targets
    # of every block (qkv, proj: attention; fc1, fc2: MLP); backbone frozen, head trained
    "lora": {"rank": 8, "alpha": 16.0, "dropout": 0.0, "targets": ["qkv", "proj"]},
    # method vpt (Jia et al. 2022): prompt tokens after the prefix tokens; depth shallow
    # (before block 0) or deep (a new set before every block); backbone frozen, head trained
    "vpt": {"tokens": 10, "depth": "deep"},
    # method deit (Touvron et al. 2021): (1 - alpha) CE(cls head) + alpha KD(dist head);
    # kind hard (CE on the teacher's argmax) or soft (tau^2 KL at temperature tau); teacher:
    # a taxovit training checkpoint or a file taxovit.models.load_model reads (required)
    "distill": {"teacher": None, "kind": "hard", "tau": 3.0, "alpha": 0.5},
    "optim": {
        "epochs": 10,
        "batch_size": 128,  # global batch (all processes together)
        "lr": 1e-3,
        "min_lr": 1e-5,
        "weight_decay": 0.05,
        "warmup_epochs": 1.0,
        "betas": [0.9, 0.999],
        "grad_clip": 1.0,  # max gradient norm; null or 0 = off
        "ema_weights": None,  # EMA momentum of the weights evaluated/predicted; null = off
        # layer-wise LR decay (BEiT/MAE): lr x decay^(depth + 1 - layer); null = off
        "layer_decay": None,
        "freeze_epochs": 0,  # backbone frozen for the first N epochs, then trained; 0 = off
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

#: config keys holding paths of input files or folders
PATH_KEYS = ("taxonomy", "data.root", "data.train", "data.test", "model.pretrained",
             "distill.teacher")
_IDX = {"train": "train", "test": "t10k"}


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


def _line(path: str, lines: dict[str, int] | None) -> int | None:
    """The YAML line of ``path`` or of the nearest section above it."""
    while lines and path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0]
    return None


def _raise(source: str, problems: list[Problem], lines: dict[str, int] | None = None) -> None:
    """One :class:`ConfigError` for every problem, in file order (none: nothing happens)."""
    if not problems:
        return
    located = sorted(((_line(p.path, lines), i, p.text) for i, p in enumerate(problems)),
                     key=lambda t: (t[0] is None, t[0] or 0, t[1]))  # fmt: skip
    items = [(f"line {line}: " if line else "") + text for line, _, text in located]
    if len(items) == 1:
        raise ConfigError(f"{source}: {items[0]}")
    raise ConfigError(f"{source}: {len(items)} problems:\n  " + "\n  ".join(items))


def _merge(user: Any, source: str) -> tuple[dict[str, Any], list[Problem]]:
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return validate(user, DEFAULTS)


def merge_config(
    user: dict[str, Any] | None, source: str = "config", *, files: bool = False
) -> dict[str, Any]:
    """``DEFAULTS`` updated by ``user`` (nested), every value checked; with ``files``, the
    input files too (:func:`check_files`). Raises one :class:`ConfigError` for all problems."""
    cfg, problems = _merge(user, source)
    if files:
        problems += file_problems(cfg, _bad(problems))
    _raise(source, problems)
    return cfg


def load_config(path: str | os.PathLike[str], *, files: bool = False) -> dict[str, Any]:
    """Read a YAML config and merge it with :data:`DEFAULTS` (see :func:`merge_config`).

    Relative input paths that do not exist from the current folder are looked up next to the
    config file. A key written twice in one mapping is an error naming both lines; numbers
    such as ``1e-3`` are read as numbers (plain YAML 1.1 would read a string).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    user, lines = read_yaml(p, ConfigError)
    cfg, problems = _merge(user, str(p))
    bad = _bad(problems)
    for key in PATH_KEYS:
        value = get_key(cfg, key)
        if key not in bad and value and not Path(value).is_absolute() and not Path(value).exists():
            alt = p.parent / value
            if alt.exists():
                _set_key(cfg, key, str(alt))
    if files:
        problems += file_problems(cfg, bad)
    _raise(str(p), problems, lines)
    return cfg


def _bad(problems: list[Problem]) -> set[str]:
    return {p.path for p in problems}


def get_key(cfg: dict[str, Any], key: str) -> Any:
    """The value at the dotted ``key`` (``"optim.lr"``)."""
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def _set_key(cfg: dict[str, Any], key: str, value: Any) -> None:
    *sections, last = key.split(".")
    for part in sections:
        cfg = cfg[part]
    cfg[last] = value


# ------------------------------------------------------------------------------ input files
def _idx_file(root: Path, split: str, what: str) -> Path | None:
    stem = f"{_IDX[split]}-{what}-idx{3 if what == 'images' else 1}-ubyte"
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    return None


def file_problems(
    cfg: dict[str, Any], bad: set[str] = frozenset(), splits: tuple[str, ...] = ("train",)
) -> list[Problem]:
    """Missing input files: the taxonomy, ``model.pretrained``, and the data of ``splits``
    (``data.test`` of a manifest or image folder whenever it is set)."""
    out: list[Problem] = []

    def need(key: str, folder: bool | None) -> None:  # None: a file or a folder
        value = get_key(cfg, key)
        if value is None or key in bad:
            return
        ok = {True: Path(value).is_dir(), False: Path(value).is_file()}.get(
            folder, Path(value).exists())  # fmt: skip
        if not ok:
            what = {True: "folder", False: "file"}.get(folder, "file or folder")
            found = " (it is a folder)" if not folder and Path(value).is_dir() else ""
            out.append(Problem(key, f"{key}: {what} not found: {value}{found}"))

    need("taxonomy", False)
    need("model.pretrained", False)
    need("distill.teacher", False)
    fmt = cfg["data"]["format"]
    key = "data.root" if fmt == "fashion_mnist" else "data.train"
    if get_key(cfg, key) is None and "data.format" not in bad and key not in bad:
        what = {"fashion_mnist": "folder with the idx files", "csv": "manifest",
                "npy": ".npz archive or folder of images.npy + labels.npy"}.get(
            fmt, "image folder")  # fmt: skip
        out.append(Problem(key, f"{key}: required for data.format {fmt} (the {what})"))
    if fmt == "fashion_mnist":
        before = len(out)
        need("data.root", True)
        root = cfg["data"]["root"]
        if root is not None and "data.root" not in bad and len(out) == before:
            for split in splits:
                for what in ("images", "labels"):
                    if _idx_file(Path(root), split, what) is None:
                        stem = f"{_IDX[split]}-{what}-idx{3 if what == 'images' else 1}-ubyte"
                        out.append(Problem("data.root", f"data.root: {root} has no {stem}.gz "
                                                        f"(or {stem})"))  # fmt: skip
    else:
        kind = None if fmt == "npy" else fmt == "imagefolder"
        need("data.train", kind)
        need("data.test", kind)
    return out


def check_files(
    cfg: dict[str, Any], source: str = "config", splits: tuple[str, ...] = ("train",)
) -> None:
    """Raise one :class:`ConfigError` naming every input file of ``cfg`` that is missing."""
    _raise(source, file_problems(cfg, set(), splits))


def input_files(cfg: dict[str, Any]) -> dict[str, str]:
    """The existing input files and folders of ``cfg`` by config key (for an OutputPlan:
    no output may overwrite one of them)."""
    from taxovit.taxonomy.io import taxonomy_inputs

    out = {k: get_key(cfg, k) for k in PATH_KEYS if get_key(cfg, k) is not None}
    out.update(taxonomy_inputs("taxonomy", out.get("taxonomy")))
    if cfg["data"]["format"] == "fashion_mnist" and cfg["data"]["root"] is not None:
        for split in _IDX:
            for what in ("images", "labels"):
                f = _idx_file(Path(cfg["data"]["root"]), split, what)
                if f is not None:
                    out[f"data.root ({f.name})"] = str(f)
    return {k: v for k, v in out.items() if Path(v).exists()}
