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


_ITEMSIZE = {
    "Double": 8,
    "Long": 8,
    "ComplexFloat": 8,
    "ComplexDouble": 16,
    "Float": 4,
    "Int": 4,
    "Half": 2,
    "BFloat16": 2,
    "Short": 2,
}  # other storages: 1 byte


class _Named:
    """What the scan below makes of any class or call in the pickle: nothing at all."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> _Named:
        return _Named()

    def __setstate__(self, state: Any) -> None:
        pass


class _StorageScan(pickle.Unpickler):
    """Reads a legacy torch pickle without making any object: it only records the storages'
    declared sizes (torch allocates them before it reads their bytes)."""

    def __init__(self, fh: Any) -> None:
        super().__init__(fh)
        self.declared: dict[str, int] = {}

    def find_class(self, module: str, name: str) -> Any:
        return _Named(name)

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            kind = getattr(pid[1], "name", "").removesuffix("Storage")
            if isinstance(pid[4], int):
                self.declared[str(pid[2])] = pid[4] * _ITEMSIZE.get(kind, 1)
        return None


def _declared_bytes(path: str) -> int | None:
    """The bytes a legacy (pre-1.6) torch file's storages declare, or None if the scan fails
    (torch then reports the problem)."""
    try:
        with open(path, "rb") as fh:
            for _ in range(3):  # magic number, protocol version, system info
                _StorageScan(fh).load()
            scan = _StorageScan(fh)
            scan.load()
    except Exception:  # noqa: BLE001  (not this scan's to report)
        return None
    return sum(scan.declared.values())


def _reason(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if (
        isinstance(exc, pickle.UnpicklingError)
        or "weights_only" in str(exc).lower()
        or "weights only" in str(exc).lower()
    ):
        return (
            "it holds Python objects other than tensors, numbers, strings and containers; "
            "taxovit does not load them (that would run code from the file)"
        )
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
        raise ModelFileError(
            f"cannot read {what}: not a file written by torch.save (a zip "
            f"archive); it starts with {head!r}",
            file=spath,
        )
    if head.startswith(_PICKLE):
        declared, size = _declared_bytes(spath), os.path.getsize(spath)
        if declared is not None and declared > size:
            raise ModelFileError(
                f"cannot read {what}: its tensors declare {declared:,} bytes "
                f"but the file has {size:,}; it is corrupt",
                file=spath,
            )
    try:
        return torch.load(spath, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any failure of a foreign or hostile file)
        raise ModelFileError(f"cannot read {what}: {_reason(exc)}", file=spath) from None
