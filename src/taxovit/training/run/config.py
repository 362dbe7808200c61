"""The training config: every key with its default, merging and validation.

Every key has a rule (type, range, list length; :data:`taxovit.training.run.schema.SCHEMA`);
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
from taxovit.training.methods import METHODS
from taxovit.training.run.schema import Config, default_dict, input_keys
from taxovit.training.run.validate import Problem, validate
from taxovit.training.run.yaml_config import read_yaml

__all__ = [
    "DEFAULTS",
    "METHODS",
    "PATH_KEYS",
    "Config",
    "ConfigError",
    "TrainingDiverged",
    "check_files",
    "input_files",
    "load_config",
    "merge_config",
]

#: Every config key with its default (from the typed sections of
#: :mod:`~taxovit.training.run.schema`, where each key's rule and doc sit beside it).
DEFAULTS: dict[str, Any] = default_dict()

#: config keys holding paths of input files or folders
PATH_KEYS = input_keys()
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
    located = sorted(
        ((_line(p.path, lines), i, p.text) for i, p in enumerate(problems)),
        key=lambda t: (t[0] is None, t[0] or 0, t[1]),
    )
    items = [(f"line {line}: " if line else "") + text for line, _, text in located]
    if len(items) == 1:
        raise ConfigError(f"{source}: {items[0]}")
    raise ConfigError(f"{source}: {len(items)} problems:\n  " + "\n  ".join(items))


def _merge(user: Any, source: str) -> tuple[Config, list[Problem]]:
    if isinstance(user, Config):
        user = user.to_dict()
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return validate(user)


def merge_config(
    user: dict[str, Any] | Config | None, source: str = "config", *, files: bool = False
) -> Config:
    """:data:`DEFAULTS` updated by ``user`` (nested), every value checked, as a typed
    :class:`~taxovit.training.run.schema.Config`.

    Each key's default, type and range sit in :mod:`~taxovit.training.run.schema` (a
    method's section in its module); :func:`~taxovit.training.run.schema.describe_keys`
    lists them all. Torch-free.

    Parameters
    ----------
    user : dict, Config or None
        The keys to set, nested by section (``{"optim": {"lr": 3e-4}}``); ``None``: none
        (``taxonomy`` has no default, so a config needs at least that).
    source : str, default "config"
        Names the config in the error message.
    files : bool, default False
        Also check that the input files exist (the taxonomy, ``model.pretrained``, the
        training data; :func:`check_files`).

    Returns
    -------
    Config
        Typed sections (``cfg.optim.lr``) and dotted access (``cfg.get("optim.lr")``).

    Raises
    ------
    ConfigError
        One error listing every problem: an unknown key (with the known ones), a value of
        the wrong type or out of range, a missing required key, a missing input file.

    Examples
    --------
    >>> from taxovit.training import ConfigError, merge_config
    >>> cfg = merge_config({"taxonomy": "birds.json", "optim": {"lr": 3e-4}})
    >>> cfg.optim.lr, cfg.optim.epochs, cfg.get("model.preset")
    (0.0003, 10, 'vit_micro')
    >>> try:
    ...     merge_config({"taxonomy": "birds.json", "optim": {"lr": -1, "batchsize": 4}})
    ... except ConfigError as e:
    ...     print(e)
    config: 2 problems:
      optim.lr: expected a number > 0, got -1
      unknown key 'optim.batchsize' (known: batch_size, betas, ema_weights, ...)
    """
    cfg, problems = _merge(user, source)
    if files:
        problems += file_problems(cfg, _bad(problems))
    _raise(source, problems)
    return cfg


def load_config(path: str | os.PathLike[str], *, files: bool = False) -> Config:
    """Read a YAML config and merge it with :data:`DEFAULTS` (see :func:`merge_config`).

    Relative input paths that do not exist from the current folder are looked up next to the
    config file. A key written twice in one mapping is an error naming both lines; numbers
    such as ``1e-3`` are read as numbers (plain YAML 1.1 would read a string). Torch-free.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file (``configs/*.yaml`` are examples).
    files : bool, default False
        Also check that the input files exist (:func:`check_files`).

    Returns
    -------
    Config
        The checked config.

    Raises
    ------
    ConfigError
        When the file is missing or is not YAML, and one error for every bad key, each
        with its line in the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from taxovit.training import ConfigError, load_config
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "run.yaml")
    ...     with open(os.path.join(d, "birds.json"), "w") as f:
    ...         _ = f.write("{}")
    ...     with open(path, "w") as f:
    ...         print("taxonomy: birds.json", "optim:", "  lr: 3e-4", sep="\\n", file=f)
    ...     cfg = load_config(path)  # birds.json: found next to the config
    ...     found = cfg.taxonomy == os.path.join(d, "birds.json")
    ...     with open(path, "a") as f:
    ...         print("  lr: 1e-3", file=f)
    ...     try:
    ...         load_config(path)
    ...     except ConfigError as e:
    ...         print(str(e).replace(path, "run.yaml"))
    run.yaml: key 'optim.lr' is written twice, at lines 3 and 4
    >>> found, cfg.optim.lr
    (True, 0.0003)
    """
    p = Path(path)
    if not p.is_file():
        what = "is a folder, not a YAML file" if p.is_dir() else "not found"
        raise ConfigError(f"config file {what}: {p}")
    user, lines = read_yaml(p, ConfigError)
    cfg, problems = _merge(user, str(p))
    bad = _bad(problems)
    for key in PATH_KEYS:
        value = cfg.get(key)
        if key not in bad and value and not Path(value).is_absolute() and not Path(value).exists():
            alt = p.parent / value
            if alt.exists():
                cfg.set(key, str(alt))
    if files:
        problems += file_problems(cfg, bad)
    _raise(str(p), problems, lines)
    return cfg


def _bad(problems: list[Problem]) -> set[str]:
    return {p.path for p in problems}


# ------------------------------------------------------------------------------ input files
def _idx_file(root: Path, split: str, what: str) -> Path | None:
    stem = f"{_IDX[split]}-{what}-idx{3 if what == 'images' else 1}-ubyte"
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    return None


def file_problems(
    cfg: Config, bad: set[str] = frozenset(), splits: tuple[str, ...] = ("train",)
) -> list[Problem]:
    """Missing input files: the taxonomy, ``model.pretrained`` (and the other input files
    of :data:`PATH_KEYS`, e.g. a method's ``distill.teacher``), and the data of ``splits``
    (``data.test`` of a manifest or image folder whenever it is set)."""
    out: list[Problem] = []

    def need(key: str, folder: bool | None) -> None:  # None: a file or a folder
        value = cfg.get(key)
        if value is None or key in bad:
            return
        ok = {True: Path(value).is_dir(), False: Path(value).is_file()}.get(
            folder, Path(value).exists()
        )
        if not ok:
            what = {True: "folder", False: "file"}.get(folder, "file or folder")
            found = " (it is a folder)" if not folder and Path(value).is_dir() else ""
            out.append(Problem(key, f"{key}: {what} not found: {value}{found}"))

    for name in PATH_KEYS:  # the files outside data (the data's are split-dependent)
        if not name.startswith("data."):
            need(name, False)
    fmt = cfg.data.format
    key = "data.root" if fmt == "fashion_mnist" else "data.train"
    if cfg.get(key) is None and "data.format" not in bad and key not in bad:
        what = {
            "fashion_mnist": "folder with the idx files",
            "csv": "manifest",
            "npy": ".npz archive or folder of images.npy + labels.npy",
        }.get(fmt, "image folder")
        out.append(Problem(key, f"{key}: required for data.format {fmt} (the {what})"))
    if fmt == "fashion_mnist":
        before = len(out)
        need("data.root", True)
        root = cfg.data.root
        if root is not None and "data.root" not in bad and len(out) == before:
            for split in splits:
                for what in ("images", "labels"):
                    if _idx_file(Path(root), split, what) is None:
                        stem = f"{_IDX[split]}-{what}-idx{3 if what == 'images' else 1}-ubyte"
                        out.append(
                            Problem("data.root", f"data.root: {root} has no {stem}.gz (or {stem})")
                        )
    else:
        kind = None if fmt == "npy" else fmt == "imagefolder"
        need("data.train", kind)
        need("data.test", kind)
    return out


def check_files(cfg: Config, source: str = "config", splits: tuple[str, ...] = ("train",)) -> None:
    """Raise one :class:`ConfigError` naming every input file of ``cfg`` that is missing."""
    _raise(source, file_problems(cfg, set(), splits))


def input_files(cfg: Config) -> dict[str, str]:
    """The existing input files and folders of ``cfg`` by config key (for an OutputPlan:
    no output may overwrite one of them)."""
    from taxovit.taxonomy.io import taxonomy_inputs

    out = {k: cfg.get(k) for k in PATH_KEYS if cfg.get(k) is not None}
    out.update(taxonomy_inputs("taxonomy", out.get("taxonomy")))
    if cfg.data.format == "fashion_mnist" and cfg.data.root is not None:
        for split in _IDX:
            for what in ("images", "labels"):
                f = _idx_file(Path(cfg.data.root), split, what)
                if f is not None:
                    out[f"data.root ({f.name})"] = str(f)
    return {k: v for k, v in out.items() if Path(v).exists()}
