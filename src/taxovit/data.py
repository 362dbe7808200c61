"""Datasets for ``taxovit train`` / ``taxovit predict``, with labels mapped onto a taxonomy.

Three sources, each giving one *fine* label per image (a taxonomy node name):

``fashion_mnist``
    the original idx files (``train-images-idx3-ubyte[.gz]`` ... ``t10k-labels-idx1-ubyte[.gz]``)
    in ``root``; label ``i`` is the taxonomy node whose attribute ``label_index`` is ``i`` (or,
    when no node has that attribute, the node named like the i-th Fashion-MNIST class).
``csv``
    a manifest with header ``path,label`` (``label`` = a taxonomy node name; relative paths
    are resolved against the manifest's folder).
``imagefolder``
    ``root/<label>/<image>``: the folder names are taxonomy node names.

The fine labels are then mapped to the *training rank* (``train_rank``, e.g. ``group``) by the
taxonomy's ancestor-or-self at that rank. Augmentation uses ``torchvision.transforms.v2``;
a dataset built with ``views=T`` returns ``T`` independently augmented views per image (for
Grafit's instance loss).

The reading helpers (idx files, manifests) need only numpy; the torch parts are imported
lazily, but this module is still meant for the training side only.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taxovit.errors import InputError, TaxovitError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "LabelSpace",
    "SampleSet",
    "build_transform",
    "fashion_mnist_fine_names",
    "load_fashion_mnist",
    "load_split",
    "make_dataset",
    "read_idx",
    "read_manifest",
    "scan_image_folder",
]

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# ------------------------------------------------------------------------------ raw readers
def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format), gzip-compressed or not (detected from the bytes)."""
    p = Path(path)
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"corrupt gzip data: {exc}", file=str(p)) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InputError("not an idx file (bad magic number)", file=str(p))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError("truncated idx header", file=str(p))
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - header != count * dtype.itemsize:
        raise InputError(
            f"idx payload has {len(raw) - header} bytes, expected {count * dtype.itemsize} "
            f"for shape {shape}",
            file=str(p),
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


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


# ------------------------------------------------------------------------------ label spaces
def fashion_mnist_fine_names(tax: Any) -> list[str]:
    """Taxonomy node names of Fashion-MNIST labels 0..9 (via the ``label_index`` attribute)."""
    by_index: dict[int, str] = {}
    for name in tax.nodes:
        idx = tax.attributes(name).get("label_index")
        if idx is not None:
            by_index[int(idx)] = name
    if by_index:
        missing = [i for i in range(10) if i not in by_index]
        if missing:
            raise TaxovitError(f"taxonomy has no node with label_index {missing}")
        return [by_index[i] for i in range(10)]
    absent = [n for n in FASHION_MNIST_CLASSES if n not in tax]
    if absent:
        raise TaxovitError(
            "taxonomy has no 'label_index' attributes and lacks the Fashion-MNIST class "
            f"names {absent}"
        )
    return list(FASHION_MNIST_CLASSES)


@dataclass
class LabelSpace:
    """Fine classes (taxonomy node names) and their ancestors at the training rank."""

    fine_names: list[str]
    train_rank: str | None
    train_names: list[str]
    fine_to_train: np.ndarray  # (n_fine,) index into train_names

    @classmethod
    def from_taxonomy(
        cls, tax: Any, fine_names: Sequence[str], train_rank: str | None
    ) -> LabelSpace:
        fine_names = list(fine_names)
        missing = [n for n in fine_names if n not in tax]
        if missing:
            raise TaxovitError(f"labels not in the taxonomy: {missing[:10]}")
        if train_rank is None:
            return cls(fine_names, None, list(fine_names), np.arange(len(fine_names)))
        if train_rank not in tax.rank_names:
            raise TaxovitError(
                f"training rank {train_rank!r} is not in the taxonomy (ranks: "
                f"{', '.join(tax.rank_names)})"
            )
        anc = tax.index.ancestor_at_rank(tax.ids(fine_names), train_rank)
        bad = [fine_names[i] for i in np.flatnonzero(anc < 0)]
        if bad:
            raise TaxovitError(f"classes with no ancestor at rank {train_rank!r}: {bad[:10]}")
        uniq = list(dict.fromkeys(anc.tolist()))  # first occurrence in fine-class order
        train_names = tax.names(np.asarray(uniq, dtype=np.int64))
        pos = {u: i for i, u in enumerate(uniq)}
        return cls(fine_names, train_rank, train_names, np.array([pos[a] for a in anc.tolist()]))


@dataclass
class SampleSet:
    """One split: ids, fine label indices, and either in-memory images or file paths."""

    ids: list[str]
    fine: np.ndarray
    images: np.ndarray | None = None
    paths: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.fine)


def _per_class_subset(labels: np.ndarray, n: int | None) -> np.ndarray:
    """Indices of the first ``n`` samples of each class, in the original order."""
    if n is None:
        return np.arange(len(labels))
    keep = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        keep[np.flatnonzero(labels == c)[:n]] = True
    return np.flatnonzero(keep)


def load_split(
    data_cfg: dict[str, Any], split: str, tax: Any, train_rank: str | None
) -> tuple[SampleSet, LabelSpace]:
    """Load ``split`` (``train``/``test``) as described by the ``data`` section of a config.

    The label space is defined by the training split (its fine classes, ordered by taxonomy
    node id), so train and test agree on the class order.
    """
    fmt = data_cfg.get("format", "fashion_mnist")
    per_class = data_cfg.get(f"{split}_per_class")
    if fmt == "fashion_mnist":
        images, labels = load_fashion_mnist(data_cfg["root"], split)
        keep = _per_class_subset(labels, per_class)
        space = LabelSpace.from_taxonomy(tax, fashion_mnist_fine_names(tax), train_rank)
        ids = [f"{split}-{i:05d}" for i in keep]
        return SampleSet(ids, labels[keep], images=images[keep]), space
    if fmt not in ("csv", "imagefolder"):
        raise TaxovitError(f"unknown data format {fmt!r} (fashion_mnist, csv, imagefolder)")

    def rows_of(which: str) -> list[tuple[str, str]]:
        src = data_cfg.get(which)
        if src is None:
            raise TaxovitError(f"data.{which} is required for data.format={fmt!r}")
        return read_manifest(src) if fmt == "csv" else scan_image_folder(src)

    train_rows = rows_of("train")
    train_labels = {lab for _, lab in train_rows}
    missing = sorted(lab for lab in train_labels if lab not in tax)
    if missing:
        raise TaxovitError(f"{data_cfg['train']}: labels not in the taxonomy: {missing[:10]}")
    fine_names = sorted(train_labels, key=tax.id_of)
    space = LabelSpace.from_taxonomy(tax, fine_names, train_rank)
    rows = train_rows if split == "train" else rows_of(split)
    pos = {n: i for i, n in enumerate(fine_names)}
    unknown = sorted({lab for _, lab in rows if lab not in pos})
    if unknown:
        raise TaxovitError(
            f"{data_cfg[split]}: labels absent from the training split: {unknown[:10]}"
        )
    fine = np.array([pos[lab] for _, lab in rows], dtype=np.int64)
    keep = _per_class_subset(fine, per_class)
    root = Path(data_cfg[split])
    ids = []
    for i in keep:
        path = Path(rows[i][0])
        try:
            ids.append(str(path.relative_to(root if root.is_dir() else root.parent)))
        except ValueError:
            ids.append(str(path))
    return SampleSet(ids, fine[keep], paths=[rows[i][0] for i in keep]), space


# ------------------------------------------------------------------------------ torch side
def build_transform(aug: dict[str, Any], img_size: int, in_chans: int, train: bool) -> Any:
    """A ``torchvision.transforms.v2`` pipeline: uint8 image (HWC/HW array or PIL) -> float CHW.

    ``aug`` keys (all optional): ``enabled`` (False: train == eval transform), ``crop_scale``
    ``[lo, hi]`` for RandomResizedCrop, ``hflip`` probability, ``color_jitter`` strength
    (RGB only), ``erasing`` probability, ``mean``/``std`` per channel.
    """
    import torch
    from torchvision.transforms import v2

    mean = list(aug.get("mean") or [0.5] * in_chans)
    std = list(aug.get("std") or [0.5] * in_chans)
    ops: list[Any] = [v2.ToImage()]
    if train and aug.get("enabled", True):
        lo, hi = aug.get("crop_scale", (0.6, 1.0))
        ops.append(v2.RandomResizedCrop(img_size, scale=(float(lo), float(hi)), antialias=True))
        if aug.get("hflip", 0.5):
            ops.append(v2.RandomHorizontalFlip(float(aug.get("hflip", 0.5))))
        cj = float(aug.get("color_jitter", 0.0))
        if cj > 0 and in_chans == 3:
            ops.append(v2.ColorJitter(cj, cj, cj))
        ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
        if float(aug.get("erasing", 0.0)) > 0:
            ops.append(v2.RandomErasing(float(aug["erasing"])))
    else:
        ops += [
            v2.Resize(img_size, antialias=True),
            v2.CenterCrop(img_size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    return v2.Compose(ops)


def make_dataset(
    samples: SampleSet,
    space: LabelSpace,
    transform: Any,
    views: int = 1,
    in_chans: int = 3,
) -> Any:
    """A ``torch.utils.data.Dataset`` yielding ``(image, fine, coarse, index)``.

    ``image`` is ``(C, H, W)`` for ``views == 1`` and ``(views, C, H, W)`` otherwise;
    ``coarse`` is the index of the fine label's ancestor at the training rank.
    """
    import torch
    from torch.utils.data import Dataset

    class _TaxonomyImageDataset(Dataset):
        def __len__(self) -> int:
            return len(samples)

        def _load(self, i: int) -> Any:
            if samples.images is not None:
                img = samples.images[i]
                if img.ndim == 3 and img.shape[-1] != in_chans and in_chans in (1, 3):
                    img = img.mean(axis=-1).astype(np.uint8) if in_chans == 1 else img
                if img.ndim == 2 and in_chans == 3:
                    img = np.repeat(img[..., None], 3, axis=-1)
                return img
            from PIL import Image

            with Image.open(samples.paths[i]) as im:
                return im.convert("L" if in_chans == 1 else "RGB")

        def __getitem__(self, i: int) -> tuple[Any, int, int, int]:
            img = self._load(i)
            fine = int(samples.fine[i])
            coarse = int(space.fine_to_train[fine])
            if views == 1:
                return transform(img), fine, coarse, i
            return torch.stack([transform(img) for _ in range(views)]), fine, coarse, i

    return _TaxonomyImageDataset()
