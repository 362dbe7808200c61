"""Datasets for ``taxovit train`` / ``taxovit predict``, with labels mapped onto a taxonomy.

Four sources, each giving one *fine* label per image (a taxonomy node name):

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

The file readers (idx files, manifests, image folders) live in
:mod:`taxovit.training.data.readers` (numpy only) and are re-exported here; the torch parts are
imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from taxovit.errors import TaxovitError
from taxovit.training.data.readers import (
    IMAGE_EXTENSIONS,
    load_fashion_mnist,
    read_arrays,
    read_idx,
    read_manifest,
    scan_image_folder,
)

if TYPE_CHECKING:  # pragma: no cover
    from taxovit.training.run.schema import AugmentConfig, DataConfig

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "LabelSpace",
    "SampleSet",
    "build_transform",
    "fashion_mnist_fine_names",
    "indexed_names",
    "load_fashion_mnist",
    "load_split",
    "make_dataset",
    "read_arrays",
    "read_idx",
    "read_manifest",
    "scan_image_folder",
    "subsample",
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


# ------------------------------------------------------------------------------ label spaces
def indexed_names(tax: Any, n: int) -> list[str]:
    """Taxonomy node names of integer labels ``0..n-1``: the nodes whose attribute
    ``label_index`` is that integer."""
    by_index: dict[int, str] = {}
    for name in tax.nodes:
        idx = tax.attributes(name).get("label_index")
        if idx is not None:
            by_index[int(idx)] = name
    missing = [i for i in range(n) if i not in by_index]
    if missing:
        raise TaxovitError(
            f"taxonomy has no node with label_index {missing[:10]} (integer "
            "labels name their taxonomy node by its 'label_index' attribute)"
        )
    return [by_index[i] for i in range(n)]


def fashion_mnist_fine_names(tax: Any) -> list[str]:
    """Taxonomy node names of Fashion-MNIST labels 0..9 (via the ``label_index`` attribute,
    else the class names)."""
    if any(tax.attributes(name).get("label_index") is not None for name in tax.nodes):
        return indexed_names(tax, 10)
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

    def to_dict(self) -> dict[str, Any]:
        """Plain lists (what a checkpoint stores); :meth:`from_dict` reads it back."""
        return {
            "fine_names": list(self.fine_names),
            "train_rank": self.train_rank,
            "train_names": list(self.train_names),
            "fine_to_train": [int(x) for x in self.fine_to_train],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSpace:
        return cls(
            list(d["fine_names"]),
            d["train_rank"],
            list(d["train_names"]),
            np.asarray(d["fine_to_train"], dtype=np.int64),
        )


@dataclass
class SampleSet:
    """One split: ids, fine label indices, and either in-memory images or file paths."""

    ids: list[str]
    fine: np.ndarray
    images: np.ndarray | None = None
    paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.fine)


def subsample(samples: SampleSet, n: int | None) -> SampleSet:
    """At most ``n`` samples, evenly spaced over ``samples`` (all of them when ``n`` is None)."""
    if n is None or len(samples) <= n:
        return samples
    keep = np.linspace(0, len(samples) - 1, int(n)).round().astype(np.int64)
    return SampleSet(
        [samples.ids[i] for i in keep],
        samples.fine[keep],
        images=None if samples.images is None else samples.images[keep],
        paths=None if samples.paths is None else [samples.paths[i] for i in keep],
    )


def _per_class_subset(labels: np.ndarray, n: int | None) -> np.ndarray:
    """Indices of the first ``n`` samples of each class, in the original order."""
    if n is None:
        return np.arange(len(labels))
    keep = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        keep[np.flatnonzero(labels == c)[:n]] = True
    return np.flatnonzero(keep)


def load_split(
    data: DataConfig, split: str, tax: Any, train_rank: str | None
) -> tuple[SampleSet, LabelSpace]:
    """Load ``split`` (``train``/``test``) as described by the ``data`` section of a config.

    The label space is defined by the training split (its fine classes, ordered by taxonomy
    node id), so train and test agree on the class order.
    """
    fmt = data.format
    per_class = getattr(data, f"{split}_per_class")
    if fmt == "fashion_mnist":
        images, labels = load_fashion_mnist(data.root, split)
        keep = _per_class_subset(labels, per_class)
        space = LabelSpace.from_taxonomy(tax, fashion_mnist_fine_names(tax), train_rank)
        ids = [f"{split}-{i:05d}" for i in keep]
        return SampleSet(ids, labels[keep], images=images[keep]), space
    if fmt == "npy":
        return _array_split(data, split, tax, train_rank)
    if fmt not in ("csv", "imagefolder"):
        raise TaxovitError(f"unknown data format {fmt!r} (fashion_mnist, npy, csv, imagefolder)")

    def rows_of(which: str) -> list[tuple[str, str]]:
        src = getattr(data, which)
        if src is None:
            raise TaxovitError(f"data.{which} is required for data.format={fmt!r}")
        return read_manifest(src) if fmt == "csv" else scan_image_folder(src)

    train_rows = rows_of("train")
    fine_names = _named_classes([lab for _, lab in train_rows], tax, data.train)
    space = LabelSpace.from_taxonomy(tax, fine_names, train_rank)
    rows = train_rows if split == "train" else rows_of(split)
    fine = _label_codes(np.array([lab for _, lab in rows]), fine_names, getattr(data, split))
    keep = _per_class_subset(fine, per_class)
    root = Path(getattr(data, split))
    ids = []
    for i in keep:
        path = Path(rows[i][0])
        try:
            ids.append(str(path.relative_to(root if root.is_dir() else root.parent)))
        except ValueError:
            ids.append(str(path))
    return SampleSet(ids, fine[keep], paths=[rows[i][0] for i in keep]), space


def _array_split(
    data: DataConfig, split: str, tax: Any, train_rank: str | None
) -> tuple[SampleSet, LabelSpace]:
    """``data.format: npy``: ``data.train``/``data.test`` are :func:`read_arrays` sources."""
    for which in {"train", split}:
        if getattr(data, which) is None:
            raise TaxovitError(f"data.{which} is required for data.format='npy'")
    images, labels = read_arrays(getattr(data, split))
    train_labels = labels if split == "train" else read_arrays(data.train)[1]
    if train_labels.dtype.kind in "iu":  # label i is class i (label_index order)
        fine_names = indexed_names(tax, int(train_labels.max()) + 1)
        if labels.min() < 0 or labels.max() >= len(fine_names):
            raise TaxovitError(
                f"{getattr(data, split)}: label indices outside 0..{len(fine_names) - 1}"
            )
        fine = labels.astype(np.int64)
    else:
        fine_names = _named_classes(train_labels.tolist(), tax, data.train)
        fine = _label_codes(labels, fine_names, getattr(data, split))
    keep = _per_class_subset(fine, getattr(data, f"{split}_per_class"))
    ids = [f"{split}-{i:0{len(str(len(fine)))}d}" for i in keep]
    space = LabelSpace.from_taxonomy(tax, fine_names, train_rank)
    return SampleSet(ids, fine[keep], images=np.asarray(images[keep])), space


def _named_classes(train_labels: Sequence[str], tax: Any, where: Any) -> list[str]:
    """The distinct training labels (taxonomy node names), ordered by node id."""
    distinct = set(train_labels)
    missing = sorted(lab for lab in distinct if lab not in tax)
    if missing:
        raise TaxovitError(f"{where}: labels not in the taxonomy: {missing[:10]}")
    return sorted(distinct, key=tax.id_of)


def _label_codes(labels: np.ndarray, fine_names: Sequence[str], where: Any) -> np.ndarray:
    """Class indices of ``labels`` (names) in ``fine_names``, one lookup per distinct label."""
    distinct, inverse = np.unique(labels, return_inverse=True)
    pos = {n: i for i, n in enumerate(fine_names)}
    unknown = [str(x) for x in distinct if x not in pos]
    if unknown:
        raise TaxovitError(f"{where}: labels absent from the training split: {unknown[:10]}")
    codes = np.array([pos[x] for x in distinct.tolist()], dtype=np.int64)
    return codes[inverse.reshape(-1)] if len(labels) else np.zeros(0, dtype=np.int64)


# ------------------------------------------------------------------------------ torch side
def build_transform(aug: AugmentConfig, img_size: int, in_chans: int, train: bool) -> Any:
    """A ``torchvision.transforms.v2`` pipeline: uint8 image (HWC/HW array or PIL) -> float CHW.

    ``aug``: ``enabled`` (False: train == eval transform), ``crop_scale`` ``[lo, hi]`` for
    RandomResizedCrop, ``hflip`` probability, ``color_jitter`` strength (RGB only),
    ``erasing`` probability, ``mean``/``std`` per channel.
    """
    import torch
    from torchvision.transforms import v2

    mean = list(aug.mean or [0.5] * in_chans)
    std = list(aug.std or [0.5] * in_chans)
    ops: list[Any] = [v2.ToImage()]
    if train and aug.enabled:
        lo, hi = aug.crop_scale
        ops.append(v2.RandomResizedCrop(img_size, scale=(float(lo), float(hi)), antialias=True))
        if aug.hflip:
            ops.append(v2.RandomHorizontalFlip(float(aug.hflip)))
        cj = float(aug.color_jitter)
        if cj > 0 and in_chans == 3:
            ops.append(v2.ColorJitter(cj, cj, cj))
        ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
        if float(aug.erasing) > 0:
            ops.append(v2.RandomErasing(float(aug.erasing)))
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
