"""NumPy ``.npy`` arrays read with their header checked against the data first.

A ``.npy`` header declares a dtype and a shape; :func:`numpy.load` allocates what it
declares before reading, so a 2 KB file declaring petabytes fails with a memory error, and
an object dtype needs pickle. Here the declared size is checked against the bytes the file
(or ``.npz`` member) holds before anything is allocated, object arrays are refused, and
every problem is one :class:`NpyError` (a ``ValueError``) whose message the caller locates.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import IO, Any

import numpy as np

__all__ = ["MAX_RATIO", "ZIP_ERRORS", "NpyError", "load_npy", "read_member"]

#: deflate expands at most ~1032:1; a member declaring more than this is corrupt
MAX_RATIO = 1100
#: what ``zipfile`` (and ``numpy.load`` through it) raises on a corrupt archive: a damaged
#: header can also declare an unknown zip version or compression (NotImplementedError)
ZIP_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError)


class NpyError(ValueError):
    """A ``.npy`` array that cannot be read safely (the message says why; no location)."""


def _header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) of a ``.npy`` header."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            return fmt.read_array_header_1_0(fh)
        if version == (2, 0):
            return fmt.read_array_header_2_0(fh)
        return fmt._read_array_header(fh, version)  # 3.0: numpy's own reader of that version
    except (ValueError, SyntaxError, EOFError) as exc:
        raise NpyError(f"not a .npy array ({str(exc)[:160]})") from None


def _checked(fh: IO[bytes], available: int) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """The header, and the data's byte count once it fits in the ``available`` bytes."""
    start = fh.tell()
    shape, fortran, dtype = _header(fh)
    if dtype.hasobject:
        raise NpyError(
            f"array of dtype {dtype} holds Python objects, which cannot be read "
            "without pickle; expected numbers or strings"
        )
    nbytes = math.prod(shape) * dtype.itemsize
    left = available - (fh.tell() - start)
    if nbytes > left:
        raise NpyError(
            f"array header declares shape {shape} of {dtype} ({nbytes:,} bytes) but "
            f"only {max(left, 0):,} bytes of data follow; the file is truncated or "
            "corrupt"
        )
    return shape, fortran, dtype, nbytes


def _array(buf: Any, shape: tuple[int, ...], fortran: bool, dtype: np.dtype) -> np.ndarray:
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _archive_size(zf: zipfile.ZipFile) -> int:
    """The archive's size in bytes: a member's declared compressed size cannot exceed it."""
    fp = zf.fp
    if fp is None:
        return 0
    pos = fp.tell()
    end = fp.seek(0, os.SEEK_END)
    fp.seek(pos)
    return end


def read_member(zf: zipfile.ZipFile, key: str) -> np.ndarray:
    """The array ``key`` of an ``.npz`` archive (member ``key.npy``), checked first."""
    name = f"{key}.npy" if f"{key}.npy" in zf.NameToInfo else key
    if not name.endswith(".npy"):
        raise NpyError(
            f"member {name[:80]!r} is not a .npy array; expected {key[:80]}.npy as "
            "numpy.savez writes it"
        )
    info = zf.getinfo(name)
    if info.compress_size > _archive_size(zf) or info.file_size > MAX_RATIO * info.compress_size + (
        1 << 16
    ):
        raise NpyError(
            f"member {name[:80]!r} declares {info.file_size:,} bytes from "
            f"{info.compress_size:,} compressed; the archive is corrupt"
        )
    try:
        with zf.open(info) as fh:
            shape, fortran, dtype, nbytes = _checked(fh, info.file_size)
            buf = bytearray(nbytes)
            if fh.readinto(buf) != nbytes:
                raise EOFError("the member ends early")
    except ZIP_ERRORS as exc:
        raise NpyError(
            f"cannot be read ({str(exc)[:160]}); the file is truncated or corrupt"
        ) from None
    return _array(buf, shape, fortran, dtype)


def load_npy(path: str | os.PathLike[str], mmap: bool = False) -> np.ndarray:
    """A ``.npy`` file, checked first; ``mmap``: memory-mapped read-only."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        shape, fortran, dtype, nbytes = _checked(fh, size)
        offset = fh.tell()
        if mmap and nbytes:
            mm = np.memmap(fh, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
            return _array(mm, shape, fortran, dtype)
        buf = bytearray(nbytes)
        if fh.readinto(buf) != nbytes:
            raise NpyError("the file ends early; it is truncated")
    return _array(buf, shape, fortran, dtype)
