"""Where a command may write, checked before anything is written; then all of it or nothing.

Every command declares its inputs and its outputs on one :class:`OutputPlan`, which applies
the rules users rely on (docs/evaluating.md, "Your files are safe"):

* ``-`` is standard output.
* An output never resolves to one of the command's inputs or to another of its outputs
  (same real path, or the same file through a hard link).
* A directory is never an output file, nor is a path that names one (``newdir/``, ``x/.``). An existing character device or FIFO (``/dev/null``,
  a named pipe, ``/dev/stdout`` through its symlink) is written through, never replaced by a
  regular file. A symlink to a regular file keeps the link: its target is replaced.
* Missing parent folders are created, but only once every output is known to be valid; the
  nearest existing ancestor must be a folder.
* :meth:`OutputPlan.write` writes every regular file to a temporary file beside it first and
  renames them only when all are written; on any error the temporaries and the folders it
  created are removed, and nothing the user had is changed.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from taxovit._atomic import discard, publish, stage
from taxovit.errors import TaxovitError

__all__ = ["Content", "Output", "OutputError", "OutputPlan", "STDOUT"]

STDOUT = "-"
#: what an output receives: text, bytes, or a function that writes to a binary file object
Content = str | bytes | Callable[[IO[bytes]], None]


class OutputError(TaxovitError):
    """An output location that cannot or must not be written (names the option)."""


@dataclass(frozen=True)
class Output:
    """One validated output: ``kind`` is ``stdout``, ``through`` (device/FIFO) or ``file``."""

    option: str
    shown: str  # the path as the user gave it
    target: Path  # where the bytes go (a symlink resolved)
    kind: str


_SEPS = tuple(sep for sep in (os.sep, os.altsep) if sep)


def _names_folder(shown: str) -> bool:
    """A path that can only name a folder: it ends with a separator, or its last part is
    ``.`` or ``..`` (``Path`` would drop them and write a file in their place)."""
    return shown.endswith(_SEPS) or os.path.basename(shown) in (".", "..")


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return real, None
    return real, (st.st_dev, st.st_ino)


def _keys(path: Path) -> list[tuple[str, Any]]:
    real, inode = _identity(path)
    return [("path", real)] + ([("inode", inode)] if inode is not None else [])


def _missing_folders(folder: Path, option: str, shown: str) -> list[Path]:
    """The folders to create for ``folder`` to exist (outermost first); checks the nearest
    existing ancestor is a folder."""
    missing: list[Path] = []
    p = folder
    while not p.exists():
        if p.is_symlink():
            raise OutputError(f"{option} {shown}: {p} is a broken symbolic link")
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option} {shown}: {p} is not a folder")
    return missing[::-1]


class OutputPlan:
    """The inputs and outputs of one command run (see the module docstring)."""

    def __init__(self, inputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
        self._taken: dict[Any, str] = {}  # identity -> who uses it (inputs may share one)
        self._outputs: list[Output] = []
        self._folders: list[Path] = []  # folders to create, outermost first
        for what, path in inputs.items():
            if path is not None and os.fspath(path) != STDOUT:
                for key in _keys(Path(path)):
                    self._taken.setdefault(key, f"{what} {path}")

    def add_inputs(self, what: str, paths: list[str]) -> None:
        """Inputs a command learns of after declaring its outputs (the images a data file
        lists): one that is a declared output file is refused. Only paths named like an
        output are looked up, so a million images cost one set lookup each."""
        names = {o.target.name: o for o in self._outputs if o.kind == "file"}
        for path in paths:
            out = names.get(os.path.basename(path))
            if out is not None and _identity(Path(path))[0] == str(out.target):
                raise OutputError(
                    f"{out.option} {out.shown} is the same file as {what} {path}; "
                    "choose another output path"
                )

    def _claim(self, path: Path, who: str) -> None:
        for key in _keys(path):
            if key in self._taken:
                other = self._taken[key]
                raise OutputError(
                    f"{who} {path} is the same file as {other}; choose another output path"
                )
            self._taken[key] = f"{who} {path}"

    def file(self, option: str, path: str | os.PathLike[str], *, stdout_ok: bool = True) -> Output:
        """Declare an output file given to ``option``; raise :class:`OutputError` if unsafe."""
        shown = os.fspath(path)
        if shown == STDOUT:
            if not stdout_ok:
                raise OutputError(f"{option}: standard output ('-') is not possible here")
            out = Output(option, shown, Path(shown), "stdout")
            if any(o.kind == "stdout" for o in self._outputs):
                raise OutputError(f"{option} -: standard output is already used by another output")
            self._outputs.append(out)
            return out
        if not shown:
            raise OutputError(f"{option}: empty path")
        if _names_folder(shown):
            raise OutputError(
                f"{option} {shown}: names a folder (a path ending in "
                f"{os.sep!r}, '.' or '..'); expected a file path"
            )
        p = Path(shown)
        try:
            mode = os.stat(p).st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = None  # the folder checks below say what is wrong
        except OSError as exc:
            raise OutputError(f"{option} {shown}: {exc.strerror}") from None
        if mode is not None and stat.S_ISDIR(mode):
            raise OutputError(f"{option} {shown}: is a folder; expected a file path")
        through = mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode))
        if mode is not None and not through and not stat.S_ISREG(mode):
            raise OutputError(f"{option} {shown}: not a regular file, device or pipe")
        if not through:
            self._claim(p, option)
        target = p if through else Path(os.path.realpath(p))
        if not through:
            self._plan_folders(_missing_folders(target.parent, option, shown))
        out = Output(option, shown, target, "through" if through else "file")
        self._outputs.append(out)
        return out

    def folder(self, option: str, path: str | os.PathLike[str]) -> Path:
        """Declare an output folder (created by :meth:`write` if missing)."""
        shown = os.fspath(path)
        if not shown or shown == STDOUT:
            raise OutputError(f"{option}: expected a folder path, got {shown!r}")
        p = Path(shown)
        if p.exists() and not p.is_dir():
            raise OutputError(f"{option} {shown}: exists and is not a folder")
        self._plan_folders(_missing_folders(Path(os.path.realpath(p)), option, shown))
        return p

    def _plan_folders(self, folders: list[Path]) -> None:
        for f in folders:
            if f not in self._folders:
                self._folders.append(f)

    def write(self, contents: Mapping[Output, Content]) -> None:
        """Write every declared output that has content, all or nothing (module docstring)."""
        created: list[Path] = []
        staged: list[tuple[str, Path]] = []
        try:
            for folder in self._folders:
                if not folder.exists():
                    folder.mkdir()
                    created.append(folder)
            for out, content in contents.items():
                if out.kind == "file":
                    staged.append((stage(out.target, _writer(content)), out.target))
        except OSError as exc:
            for tmp, _ in staged:
                discard(tmp)
            for folder in reversed(created):
                _rmdir_quietly(folder)
            raise OutputError(f"cannot write {_culprit(exc)}: {exc.strerror or exc}") from None
        for tmp, target in staged:
            publish(tmp, target)
        for out, content in contents.items():
            if out.kind == "through":
                with open(out.target, "wb") as fh:
                    _writer(content)(fh)
        for out, content in contents.items():
            if out.kind == "stdout":
                sys.stdout.flush()
                _writer(content)(sys.stdout.buffer)
                sys.stdout.buffer.flush()


def _writer(content: Content) -> Callable[[IO[bytes]], None]:
    if isinstance(content, str):
        data = content.encode("utf-8")
        return lambda fh: fh.write(data)
    if isinstance(content, bytes):
        return lambda fh: fh.write(content)
    return content


def _culprit(exc: OSError) -> str:
    return str(exc.filename) if exc.filename else "an output"


def _rmdir_quietly(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
