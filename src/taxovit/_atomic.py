"""One way to write a file: all of it or nothing (temporary file in the same folder + rename).

Every output taxovit writes (reports, per-class tables, plots, taxonomies, predictions,
checkpoints) goes through :func:`atomic_write`, so a crash or an error never leaves a
half-written file behind, and an existing file is replaced in one step.

The new file gets the mode an ordinary ``open(path, "w")`` would give it: an existing
file's mode is kept, a new file gets ``0o666`` less the process umask (``mkstemp`` alone
would create it ``0o600``).
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "discard",
    "publish",
    "stage",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def stage(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> str:
    """Write a temporary file next to ``path`` with ``write(fh)`` (binary), flushed, fsynced
    and given the mode ``path`` will have; return its name for :func:`publish`.

    On any exception the temporary file is removed and the exception propagates.
    """
    p = Path(path)
    mode = _target_mode(p)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        discard(tmp)
        raise
    return tmp


def publish(tmp: str, path: str | os.PathLike[str]) -> None:
    """Rename a :func:`stage` d file onto ``path`` (one step: readers see old or new)."""
    os.replace(tmp, path)


def discard(tmp: str) -> None:
    """Remove a staged file that will not be published."""
    Path(tmp).unlink(missing_ok=True)


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[IO[Any]], None],
    *,
    binary: bool = False,
    encoding: str = "utf-8",
) -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, then rename it onto ``path``.

    ``fh`` is opened in binary mode (``binary``) or as text (``encoding``, no newline
    translation). The data is flushed and fsynced before the rename. On any exception the
    temporary file is removed and ``path`` is left as it was.
    """
    if binary:
        tmp = stage(path, write)
    else:

        def write_text(fh: IO[bytes]) -> None:
            text = io.TextIOWrapper(fh, encoding=encoding, newline="", write_through=True)
            write(text)
            text.flush()
            text.detach()

        tmp = stage(path, write_text)
    try:
        publish(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) atomically."""
    atomic_write(path, lambda fh: fh.write(text))
