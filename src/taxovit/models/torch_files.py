"""``torch.load`` of a file the user names, safely: the one place taxovit calls it.

``weights_only=True`` (no code is unpickled), after a look at the first bytes (a zip
archive as ``torch.save`` writes, or a legacy pickle); every failure is one
:class:`~taxovit.errors.ModelFileError` naming the file, never torch's own advice to
disable the safe loader.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import torch

from taxovit.errors import ModelFileError

__all__ = ["load_torch_file"]

_ZIP = b"PK\x03\x04"
_PICKLE = b"\x80"  # a pickle's PROTO opcode: the legacy (pre-1.6) torch.save format


def _reason(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc).lower() or \
            "weights only" in str(exc).lower():  # fmt: skip
        return ("it holds Python objects other than tensors, numbers, strings and containers; "
                "taxovit does not load them (that would run code from the file)")
    if isinstance(exc, RecursionError):
        return "its objects are nested too deeply"
    return f"{type(exc).__name__}: {text}"


def load_torch_file(path: str | os.PathLike[str], what: str = "checkpoint") -> Any:
    """The object in a ``torch.save`` file, on the CPU, or :class:`ModelFileError`."""
    spath = os.fspath(path)
    try:
        with open(spath, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot open it: {exc.strerror}", file=spath) from None
    if not head.startswith((_ZIP, _PICKLE)):
        raise ModelFileError(f"cannot read {what}: not a file written by torch.save (a zip "
                             f"archive); it starts with {head!r}", file=spath)  # fmt: skip
    try:
        return torch.load(spath, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any failure of a foreign or hostile file)
        raise ModelFileError(f"cannot read {what}: {_reason(exc)}", file=spath) from None
