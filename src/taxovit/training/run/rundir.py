"""The output folder of a run: checked before anything is touched, prepared just before
the first epoch.

Rules (:meth:`RunFolder.check`, every process, before any data is read):

* the folder (``--out``, else the config's ``out``) must be a folder or creatable, and
  ``checkpoint.pt`` / ``log.jsonl`` in it must not be one of the run's inputs
  (:class:`~taxovit._outputs.OutputPlan`);
* a folder that already holds a run (``checkpoint.pt`` or ``log.jsonl``) is never
  overwritten unless asked: ``--resume`` continues it, ``--overwrite`` replaces it;
* ``--resume`` continues only the same config: every key must equal the checkpoint's, except
  :data:`RESUMABLE` (keys that change neither the model, nor the data, nor the objective).

:meth:`RunFolder.start` (main process, after the data, the model and the checkpoint are
loaded) creates the folder, removes the temporaries of a killed save, deletes the old run
(``--overwrite``) or rewrites ``log.jsonl`` from the checkpoint's rows (``--resume``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taxovit._outputs import OutputPlan
from taxovit.errors import TaxovitError
from taxovit.training.methods import beside_files
from taxovit.training.run.checkpoint import (
    CHECKPOINT_NAME,
    LOG_NAME,
    read_log,
    read_run_checkpoint,
    remove_temporaries,
    write_log,
)
from taxovit.training.run.config import PATH_KEYS, Config, ConfigError, input_files
from taxovit.training.run.rules import show

__all__ = ["RESUMABLE", "RunFolder", "config_differences"]

#: keys that may differ between a checkpoint's config and the config given to ``--resume``:
#: the output folder, CPU threads, loader workers and ``torch.compile`` (speed only; more
#: workers draw the augmentations from other random streams), the number of epochs (the
#: rest of the cosine schedules is stretched or shortened), logging and the kNN evaluation
#: (it does not touch the training's random streams).
RESUMABLE = (
    "out",
    "threads",
    "optim.epochs",
    "log.*",
    "eval.*",
    "data.num_workers",
    "model.compile",
)


def _flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


_UNSET = object()


def _same(key: str, a: Any, b: Any) -> bool:
    if key in PATH_KEYS and isinstance(a, str) and isinstance(b, str):
        return os.path.realpath(a) == os.path.realpath(b)
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _resumable(key: str) -> bool:
    return any(key == p or (p.endswith(".*") and key.startswith(p[:-1])) for p in RESUMABLE)


def config_differences(old: Config, new: Config) -> list[str]:
    """``"key: checkpoint A, now B"`` for every key outside :data:`RESUMABLE` that differs."""
    a, b = _flatten(old.to_dict()), _flatten(new.to_dict())
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _UNSET), b.get(key, _UNSET)
        if not _resumable(key) and not _same(key, va, vb):
            sa, sb = (("(not set)" if v is _UNSET else show(v)) for v in (va, vb))
            out.append(f"{key}: checkpoint {sa}, now {sb}")
    return out


@dataclass
class RunFolder:
    """A checked output folder; ``checkpoint`` is the loaded checkpoint when resuming."""

    path: Path
    resume: bool
    plan: OutputPlan
    checkpoint: dict[str, Any] | None = None
    log_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ckpt_path(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    @classmethod
    def check(
        cls, cfg: Config, option: str, config_file: str | None, resume: bool, overwrite: bool
    ) -> RunFolder:
        """Check where the run goes (module docstring); nothing is created or changed."""
        if resume and overwrite:
            raise TaxovitError(
                "--resume and --overwrite exclude each other: --resume "
                "continues the run in the folder, --overwrite replaces it"
            )
        inputs = {"--config": config_file, **input_files(cfg)}
        plan = OutputPlan(inputs)
        folder = cls(plan.folder(option, cfg.out), resume, plan)
        for name in (CHECKPOINT_NAME, LOG_NAME, *beside_files()):
            plan.file(option, folder.path / name, stdout_ok=False)
        if resume:
            folder._check_resume(cfg)
        elif not overwrite and any(
            p.exists() or p.is_symlink() for p in (folder.ckpt_path, folder.log_path)
        ):
            raise TaxovitError(
                f"{option} {cfg.out} already holds a training run ({CHECKPOINT_NAME} or "
                f"{LOG_NAME}); nothing was changed. Use --resume to continue it, another "
                "--out for a new run, or --overwrite to replace it"
            )
        return folder

    def _check_resume(self, cfg: Config) -> None:
        if not self.ckpt_path.is_file():
            raise TaxovitError(f"--resume: no checkpoint at {self.ckpt_path}")
        ck, old, _ = read_run_checkpoint(self.ckpt_path, "--resume")
        needed = [
            "epoch",
            "step",
            "optimizer",
            "scheduler",
            "rng",
            *old.method_class.resume_entries(old.method_class.own(old)),
        ]
        missing = [k for k in needed if ck.get(k) is None]
        if missing:
            raise TaxovitError(
                f"--resume {self.ckpt_path}: incomplete checkpoint, no "
                f"{', '.join(missing)} entry; it can predict but not resume"
            )
        diffs = config_differences(old, cfg)
        if diffs:
            raise ConfigError(
                f"--resume: the config differs from the one {self.ckpt_path} was trained "
                "with:\n  "
                + "\n  ".join(diffs)
                + "\nOnly "
                + ", ".join(RESUMABLE)
                + " may change when resuming; start a new run with another --out, or "
                "replace this one with --overwrite"
            )
        done = int(ck.get("epoch", 0))
        if cfg.optim.epochs < done:
            raise ConfigError(
                f"--resume: optim.epochs is {cfg.optim.epochs} but "
                f"{self.ckpt_path} has already trained {done} epochs"
            )
        rows = ck.get("log")
        self.log_rows = list(rows) if isinstance(rows, list) else read_log(self.log_path, done)
        self.checkpoint = ck

    def start(self) -> None:
        """Create the folder and make it consistent (module docstring); main process only."""
        self.plan.write({})  # the missing folders
        remove_temporaries(self.path)
        if self.resume:
            write_log(self.log_path, self.log_rows)
            return
        for p in (self.ckpt_path, self.log_path, *(self.path / n for n in beside_files())):
            p.unlink(missing_ok=True)
