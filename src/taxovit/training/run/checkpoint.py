"""The files of a training run: ``checkpoint.pt`` (written atomically) and ``log.jsonl``.

:func:`read_run_checkpoint` is the one way to read a checkpoint back for ``taxovit predict``
and ``--resume``: a foreign file (a plain state dict, a list, random bytes), an incomplete
checkpoint, a bad config inside it or non-finite weights are each one clear error.

Consistency of the two files: every checkpoint also holds the log rows of all its epochs
(``"log"``). The checkpoint is written first, then its row is appended to ``log.jsonl``; a
run killed in between loses that line, and ``--resume`` rewrites ``log.jsonl`` from the
checkpoint's rows, so the log always lists exactly the epochs of the checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from taxovit._atomic import atomic_write, atomic_write_text
from taxovit.errors import TaxovitError
from taxovit.training.data.splits import LabelSpace
from taxovit.training.run.config import Config, merge_config

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT",
    "LOG_NAME",
    "append_log",
    "load_checkpoint",
    "load_weights",
    "read_log",
    "read_run_checkpoint",
    "remove_temporaries",
    "save_checkpoint",
    "write_log",
]

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
#: the ``format`` entry of every checkpoint
FORMAT = "taxovit-train/1"
#: entries ``taxovit predict`` needs
REQUIRED = ("config", "label_space", "model")


def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path``, all or nothing."""
    atomic_write(path, lambda fh: torch.save(obj, fh), binary=True)


def load_checkpoint(path: str | os.PathLike[str]) -> Any:
    """The object in the file at ``path``, on the CPU (``weights_only``: no code is
    unpickled)."""
    p = Path(path)
    if not p.is_file():
        raise TaxovitError(f"checkpoint not found: {p}")
    from taxovit.models.torch_files import load_torch_file

    return load_torch_file(p)


def _kind(obj: Any) -> str:
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return f"a plain state dict of {len(obj)} tensors"
        return "a mapping with keys " + ", ".join(sorted(map(str, obj))[:6])
    return f"a {type(obj).__name__}"


def read_run_checkpoint(
    path: str | os.PathLike[str], option: str = "--checkpoint"
) -> tuple[dict[str, Any], Config, LabelSpace]:
    """``(checkpoint, config, label space)`` of a checkpoint written by ``taxovit train``,
    checked: the entries predict needs, a valid config, finite weights."""
    where = f"{option} {path}"
    ck = load_checkpoint(path)
    if not isinstance(ck, dict) or not any(k in ck for k in ("format", *REQUIRED)):
        raise TaxovitError(
            f"{where}: not a checkpoint written by 'taxovit train' (it holds {_kind(ck)})"
        )
    if ck.get("format", FORMAT) != FORMAT:
        raise TaxovitError(
            f"{where}: checkpoint format {ck['format']!r}; this taxovit reads {FORMAT!r}"
        )
    missing = [k for k in REQUIRED if k not in ck]
    if missing:
        raise TaxovitError(f"{where}: incomplete checkpoint, no {' or '.join(missing)} entry")
    if not isinstance(ck["config"], dict):
        raise TaxovitError(f"{where}: its config is {_kind(ck['config'])}, not a mapping")
    cfg = merge_config(ck["config"], f"{where} (its config)")
    try:
        space = LabelSpace.from_dict(ck["label_space"])
        if len(space.fine_to_train) != len(space.fine_names):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise TaxovitError(f"{where}: its label_space entry is malformed") from None
    model = ck["model"]
    if not isinstance(model, dict) or not all(isinstance(v, torch.Tensor) for v in model.values()):
        raise TaxovitError(f"{where}: its model entry is {_kind(model)}, not a state dict")
    bad = [k for k, v in model.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise TaxovitError(
            f"{where}: the model weights are not finite (NaN or inf in {len(bad)} of "
            f"{len(model)} tensors, e.g. {', '.join(bad[:3])}); it cannot predict. Use an "
            "earlier checkpoint, or train again with a lower optim.lr"
        )
    return ck, cfg, space


def load_weights(model: torch.nn.Module, state: dict[str, Any], where: str) -> None:
    """``model.load_state_dict(state)``, with one clear error when they do not match."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in state]
    extra = [k for k in state if k not in ours]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in ours.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or extra or shapes:
        parts = [
            f"{label}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
            for label, items in (
                ("missing", missing),
                ("unexpected", extra),
                ("shape (checkpoint vs config)", shapes),
            )
            if items
        ]
        raise TaxovitError(
            f"{where}: the weights do not match the model its config builds ("
            + "; ".join(parts)
            + ")"
        )
    model.load_state_dict(state)


def append_log(path: str | os.PathLike[str], row: dict[str, Any]) -> None:
    """Append ``row`` as one JSON line."""
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def write_log(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> None:
    """Replace the log by ``rows`` (atomically)."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def read_log(path: str | os.PathLike[str], last_epoch: int) -> list[dict[str, Any]]:
    """The rows of epochs ``1..last_epoch`` in ``path`` (one per epoch, the first kept);
    unreadable lines (a cut-off last line) are skipped."""
    rows: dict[int, dict[str, Any]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            row = json.loads(line)
            epoch = int(row["epoch"])
        except (ValueError, TypeError, KeyError):
            continue
        if 1 <= epoch <= last_epoch:
            rows.setdefault(epoch, row)
    return [rows[e] for e in sorted(rows)]


def remove_temporaries(folder: Path) -> None:
    """Remove what a killed run left of its atomic writes (``.checkpoint.pt.*.tmp``,
    ``.log.jsonl.*.tmp``, ``.adapters.pt.*.tmp``)."""
    from taxovit.training.methods import beside_files

    for name in (CHECKPOINT_NAME, LOG_NAME, *beside_files()):
        for tmp in folder.glob(f".{name}.*.tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)
