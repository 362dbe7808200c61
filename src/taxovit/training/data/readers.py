"""Raw readers for the training data (numpy only): idx files (the MNIST format), numpy
arrays (``.npz`` or a folder of ``images.npy`` + ``labels.npy``), CSV manifests
``path,label`` and ImageFolder trees ``root/<label>/<image>``.

Errors are :class:`~taxovit.errors.InputError` naming the file (and row/column).
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from taxovit._npy import ZIP_ERRORS, load_npy, read_member
from taxovit.errors import InputError

__all__ = [
    "IMAGE_EXTENSIONS",
    "load_fashion_mnist",
    "read_arrays",
    "read_idx",
    "read_manifest",
    "scan_image_folder",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


#: a gzip stream expands at most ~1032-fold (deflate's limit); a header declaring more data
#: than that from the file's size is refused before anything is decompressed
_GZIP_MAX_RATIO = 1032


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format), gzip-compressed or not (detected from the bytes).

    The header's shape is checked against the file before the data is read: a plain file
    must hold exactly that many bytes; a gzip file is decompressed as a stream, at most the
    declared size plus one byte (a gzip bomb behind a small header costs nothing), and a
    declared size that no gzip file of this size can hold is refused first.
    """
    p = Path(path)
    with p.open("rb") as fh:
        packed = fh.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(p, "rb") if packed else p.open("rb") as fh:
            return _read_idx_stream(fh, p, packed)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"corrupt gzip data: {exc}", file=str(p)) from None


def _read_idx_stream(fh: BinaryIO, p: Path, packed: bool) -> np.ndarray:
    magic = fh.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise InputError("not an idx file (bad magic number)", file=str(p))
    dtype = np.dtype(_IDX_DTYPES[magic[2]])
    dims = fh.read(4 * magic[3])
    if len(dims) < 4 * magic[3]:
        raise InputError("truncated idx header", file=str(p))
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(magic[3]))
    need = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    size = p.stat().st_size
    if packed and need > _GZIP_MAX_RATIO * size:
        raise InputError(
            f"the idx header declares shape {shape} ({need:,} bytes), more than a gzip file "
            f"of {size:,} bytes can hold",
            file=str(p),
        )
    if not packed and need != size - 4 - len(dims):
        raise InputError(
            f"idx payload has {size - 4 - len(dims)} bytes, expected {need} for shape {shape}",
            file=str(p),
        )
    raw = fh.read(need + 1)
    if len(raw) != need:
        got = f"more than {need}" if len(raw) > need else str(len(raw))
        raise InputError(
            f"idx payload has {got} bytes, expected {need} for shape {shape}", file=str(p)
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    raise InputError(f"missing {stem}.gz (or {stem}) in Fashion-MNIST folder", file=str(root))


def load_fashion_mnist(root: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 28, 28), labels int64 (N,))`` of the ``train`` or ``test`` split."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise InputError(f"Fashion-MNIST has splits 'train' and 'test', not {split!r}")
    r = Path(root)
    images = read_idx(_find_idx(r, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(r, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise InputError(
            f"images {images.shape} and labels {labels.shape} do not match", file=str(r)
        )
    return images, labels


def _array_files(p: Path) -> tuple[np.ndarray, np.ndarray]:
    if p.is_dir():
        found = {k: p / f"{k}.npy" for k in ("images", "labels")}
        absent = [f.name for f in found.values() if not f.is_file()]
        if absent:
            raise InputError(f"folder lacks {' and '.join(absent)}", file=str(p))
        return load_npy(found["images"], mmap=True), load_npy(found["labels"])  # headers checked
    loaded = np.load(p, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise InputError(
            "expected a .npz archive with arrays 'images' and 'labels' "
            "(or a folder of images.npy + labels.npy)",
            file=str(p),
        )
    with loaded as z:
        absent = [k for k in ("images", "labels") if k not in z.files]
        if absent:
            raise InputError(f"archive lacks the array(s) {absent}; it has {z.files}", file=str(p))
        return read_member(z.zip, "images"), read_member(z.zip, "labels")


def read_arrays(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, H, W) or (N, H, W, C), labels (N,))`` of an in-memory dataset.

    ``path`` is a ``.npz`` archive with the arrays ``images`` and ``labels``, or a folder
    holding ``images.npy`` (memory-mapped) and ``labels.npy``. Labels are taxonomy node names
    (strings) or integer class indices (mapped like Fashion-MNIST's, by the ``label_index``
    attribute of the taxonomy's nodes). Object arrays are refused (no pickles are loaded).
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", file=str(p))
    try:
        images, labels = _array_files(p)
    except (ValueError, *ZIP_ERRORS) as exc:
        raise InputError(f"cannot read it as numpy arrays: {exc}", file=str(p)) from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise InputError(
            f"'images' must be uint8 (N, H, W) or (N, H, W, C); got {images.dtype} {images.shape}",
            file=str(p),
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise InputError(
            f"'labels' must be (N,) = ({len(images)},); got {labels.shape}", file=str(p)
        )
    if labels.dtype.kind not in "iuU":
        raise InputError(f"'labels' must be integers or strings; got {labels.dtype}", file=str(p))
    return images, labels


def read_manifest(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Rows ``(path, label)`` of a CSV manifest with header ``path,label``.

    Relative image paths are resolved against the manifest's folder. Errors name the file,
    the line (header = line 1) and the column.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("manifest not found", file=str(p))
    rows: list[tuple[str, str]] = []
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise InputError("empty manifest: expected a header 'path,label'", file=str(p), row=1)
        header = [h.strip() for h in header]
        for col in ("path", "label"):
            if col not in header:
                raise InputError(
                    f"header must contain 'path' and 'label', got {','.join(header)!r}",
                    file=str(p),
                    row=1,
                    column=col,
                )
        ip, il = header.index("path"), header.index("label")
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(
                    f"expected {len(header)} fields, got {len(row)}", file=str(p), row=line
                )
            img, label = row[ip].strip(), row[il].strip()
            if not img:
                raise InputError("empty path", file=str(p), row=line, column="path")
            if not label:
                raise InputError("empty label", file=str(p), row=line, column="label")
            full = Path(img) if Path(img).is_absolute() else p.parent / img
            if not full.is_file():
                raise InputError(f"image not found: {full}", file=str(p), row=line, column="path")
            rows.append((str(full), label))
    if not rows:
        raise InputError("manifest has no rows", file=str(p))
    return rows


def scan_image_folder(root: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Rows ``(path, label)`` of an ImageFolder tree ``root/<label>/<image>`` (sorted)."""
    r = Path(root)
    if not r.is_dir():
        raise InputError("image folder not found", file=str(r))
    rows = []
    for d in sorted(x for x in r.iterdir() if x.is_dir()):
        for f in sorted(d.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                rows.append((str(f), d.name))
    if not rows:
        raise InputError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) under class folders", file=str(r)
        )
    return rows
