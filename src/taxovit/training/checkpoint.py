"""The files of a training run: ``checkpoint.pt`` (written atomically) and ``log.jsonl``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from taxovit._atomic import atomic_write
from taxovit.errors import TaxovitError

__all__ = ["CHECKPOINT_NAME", "LOG_NAME", "append_log", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
#: the ``format`` entry of every checkpoint
FORMAT = "taxovit-train/1"


def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path``, all or nothing."""
    atomic_write(path, lambda fh: torch.save(obj, fh), binary=True)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint at ``path`` on the CPU (``weights_only``: no code is unpickled)."""
    p = Path(path)
    if not p.is_file():
        raise TaxovitError(f"checkpoint not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise TaxovitError(f"{p}: cannot read checkpoint ({exc})") from None


def append_log(path: str | os.PathLike[str], row: dict[str, Any]) -> None:
    """Append ``row`` as one JSON line."""
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
