"""The training config as typed sections: each key's default, rule (type, range) and
one-line doc in one place (:func:`~taxovit.training.run.rules.key`).

The core sections are here (:class:`DataConfig`, :class:`ModelConfig`, :class:`OptimConfig`,
:class:`AugmentConfig`, :class:`EvalConfig`, :class:`LogConfig`, and the top-level keys of
:class:`Config`); each method's section lives in its module
(:mod:`taxovit.training.methods`), which also checks it; :mod:`taxovit.training.run.validate`
checks a user config into a :class:`Config`. Defaults are ours (small CPU runs), not a
paper's.

Torch-free: the model presets are read from :mod:`taxovit.models.presets` (data).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from taxovit.models.presets import PRESETS
from taxovit.training.methods import DEFAULT_METHOD, METHODS, method_sections
from taxovit.training.run.rules import (
    KeyOf,
    Problem,
    Section,
    boolean,
    choice,
    integer,
    key,
    mapping,
    number,
    numbers_list,
    ok,
    one_of,
    path,
    text,
)

__all__ = [
    "AugmentConfig",
    "Config",
    "DataConfig",
    "EvalConfig",
    "LogConfig",
    "ModelConfig",
    "OptimConfig",
    "Section",
    "TopConfig",
    "default_dict",
    "describe_keys",
    "input_keys",
    "section_classes",
]

DATA_FORMATS = ("fashion_mnist", "npy", "csv", "imagefolder")
_FRACTION = number(0, 1)
_OPEN_FRACTION = number(0, 1, hi_open=True)


@dataclass
class DataConfig(Section):
    """``data:``, the training and test splits."""

    name = "data"
    format: str = key(
        "fashion_mnist", choice(DATA_FORMATS), "fashion_mnist | npy | csv | imagefolder"
    )
    root: str | None = key(
        None, path(null=True), "fashion_mnist: folder with the idx files", input_file=True
    )
    train: str | None = key(
        None,
        path(null=True),
        "npy: .npz or folder of images.npy + labels.npy; csv: manifest; imagefolder: folder",
        input_file=True,
    )
    test: str | None = key(None, path(null=True), "the test split, as data.train", input_file=True)
    train_per_class: int | None = key(
        None, integer(1, null=True), "keep only the first N training images of each class"
    )
    test_per_class: int | None = key(None, integer(1, null=True), "the same for the test split")
    img_size: int = key(28, integer(1), "image side the network sees (pixels)")
    in_chans: int = key(1, one_of((1, 3), "1 (grey) or 3 (RGB)"), "image channels")
    num_workers: int = key(0, integer(0), "DataLoader worker processes")
    loader: str = key(
        "auto",
        choice(("auto", "memory", "dataloader")),
        "auto (memory when the split is in memory) | memory | dataloader",
    )


@dataclass
class ModelConfig(Section):
    """``model:``, the backbone."""

    name = "model"
    preset: str = key(
        "vit_micro",
        choice((*PRESETS, "auto")),
        "a taxovit.models preset, or auto (the architecture of model.pretrained)",
    )
    patch_size: int = key(4, integer(1), "patch side (pixels)")
    stride: int | None = key(None, integer(1, null=True), "patch stride; null = patch_size")
    pretrained: str | None = key(
        None,
        path(null=True),
        "local checkpoint for taxovit.models.load_pretrained",
        input_file=True,
    )
    stem: str = key(
        "patch",
        choice(("patch", "conv")),
        "patch (one strided conv) | conv (small conv stem, then patchify)",
    )
    compile: bool = key(False, boolean(), "torch.compile the online network")
    overrides: dict[str, Any] = key({}, mapping(), "extra build_vit / build_transfg arguments")


@dataclass
class OptimConfig(Section):
    """``optim:``, AdamW and its schedules."""

    name = "optim"
    epochs: int = key(10, integer(1), "training epochs")
    batch_size: int = key(128, integer(1), "global batch (all processes together)")
    lr: float = key(1e-3, number(0, lo_open=True), "peak learning rate")
    min_lr: float = key(1e-5, number(0), "learning rate at the end of the cosine")
    weight_decay: float = key(0.05, number(0), "AdamW weight decay (not on biases, norms)")
    warmup_epochs: float = key(1.0, number(0), "linear warm-up (epochs, may be fractional)")
    betas: list[float] = key([0.9, 0.999], numbers_list(_OPEN_FRACTION, 2), "AdamW betas")
    grad_clip: float | None = key(1.0, number(0, null=True), "max gradient norm; null or 0 = off")
    ema_weights: float | None = key(
        None,
        number(0, 1, hi_open=True, null=True),
        "EMA momentum of the weights evaluated/predicted; null = off",
    )
    layer_decay: float | None = key(
        None,
        number(0, 1, lo_open=True, null=True),
        "layer-wise LR decay (BEiT/MAE): lr x decay^(depth + 1 - layer); null = off",
    )
    freeze_epochs: int = key(
        0, integer(0), "backbone frozen for the first N epochs, then trained; 0 = off"
    )

    def problems(self, bad: set[str]) -> list[Problem]:
        out = []
        if ok(bad, "optim.lr", "optim.min_lr") and self.min_lr > self.lr:
            out.append(
                Problem("optim.min_lr", f"optim.min_lr: {self.min_lr} is above optim.lr {self.lr}")
            )
        n = self.freeze_epochs
        if ok(bad, "optim.freeze_epochs", "optim.epochs") and n and n >= self.epochs:
            out.append(
                Problem(
                    "optim.freeze_epochs",
                    f"optim.freeze_epochs: {n} leaves no "
                    f"epoch with the backbone trained (optim."
                    f"epochs {self.epochs}); expected fewer",
                )
            )
        return out


@dataclass
class AugmentConfig(Section):
    """``augment:``, the training augmentations (and the normalisation of every split)."""

    name = "augment"
    enabled: bool = key(True, boolean(), "augment the training images")
    crop_scale: list[float] = key(
        [0.6, 1.0],
        numbers_list(number(0, 1, lo_open=True), 2, ordered=True),
        "random resized crop: area range",
    )
    hflip: float = key(0.5, _FRACTION, "horizontal flip probability")
    color_jitter: float = key(0.0, number(0), "brightness/contrast/saturation strength (RGB)")
    erasing: float = key(0.0, _FRACTION, "random erasing probability")
    mean: list[float] | None = key(
        None, numbers_list(number(), null=True), "per channel; null = 0.5"
    )
    std: list[float] | None = key(
        None, numbers_list(number(0, lo_open=True), null=True), "per channel; null = 0.5"
    )


@dataclass
class EvalConfig(Section):
    """``eval:``, the kNN evaluation on the fine labels after epochs."""

    name = "eval"
    every: int = key(1, integer(0), "kNN evaluation every N epochs (0 = never)")
    knn_k: int = key(20, integer(1), "neighbours that vote")
    temperature: float = key(0.07, number(0, lo_open=True), "vote weights exp(cos / T)")
    train_max: int | None = key(
        5000, integer(1, null=True), "training images embedded for the kNN evaluation"
    )
    test_max: int | None = key(2000, integer(1, null=True), "test images evaluated")
    batch_size: int = key(512, integer(1), "embedding batch")


@dataclass
class LogConfig(Section):
    """``log:``."""

    name = "log"
    progress: bool = key(True, boolean(), "progress bar and one line per epoch")


#: the core sections, in file order (the methods' sections follow ``model``)
CORE_SECTIONS: tuple[type[Section], ...] = (
    DataConfig,
    ModelConfig,
    OptimConfig,
    AugmentConfig,
    EvalConfig,
    LogConfig,
)


@dataclass
class TopConfig(Section):
    """The top-level keys."""

    seed: int = key(0, integer(0, 2**32 - 1), "seed of every random stream")
    deterministic: bool = key(
        False, boolean(), "torch.use_deterministic_algorithms + cuDNN deterministic"
    )
    device: str = key(
        "auto",
        text(r"auto|cpu|cuda(:[0-9]+)?", "auto, cpu, cuda or cuda:N"),
        "auto | cpu | cuda | cuda:N",
    )
    threads: int | None = key(
        None, integer(1, null=True), "torch CPU threads (null = torch's default)"
    )
    taxonomy: str | None = key(
        None, path(null=True), "path to the taxonomy file (required)", input_file=True
    )
    train_rank: str | None = key(
        None, text(null=True), "rank whose labels are trained on; null = the dataset's own"
    )
    method: str = key(
        DEFAULT_METHOD, KeyOf(METHODS), "the training method (taxovit.training.methods)"
    )
    precision: str = key(
        "auto",
        choice(("auto", "fp32", "bf16")),
        "auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16",
    )
    out: str = key("runs/taxovit", path(), "output folder")


class Config:
    """A checked training config: the top-level keys and every section as attributes
    (``cfg.optim.lr``, ``cfg.grafit.views``); :meth:`to_dict` is what a checkpoint stores."""

    def __init__(self, top: TopConfig, sections: dict[str, Section]) -> None:
        self.__dict__.update(top.to_dict())
        self._top, self._sections = top, sections
        self.__dict__.update(sections)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            pass
        elif name in self._sections:
            self._sections[name] = value
        elif name in {f.name for f in dataclasses.fields(self._top)}:
            setattr(self._top, name, value)
        else:
            raise AttributeError(f"the training config has no key {name!r}")
        object.__setattr__(self, name, value)

    @property
    def method_class(self) -> Any:
        """The class of ``method`` (:data:`taxovit.training.methods.METHODS`)."""
        return METHODS[self.method]

    def to_dict(self) -> dict[str, Any]:
        out = self._top.to_dict()
        out.update({name: s.to_dict() for name, s in self._sections.items()})
        return out

    def get(self, dotted: str) -> Any:
        """The value at ``dotted`` (``"optim.lr"``)."""
        obj: Any = self
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return obj

    def set(self, dotted: str, value: Any) -> None:
        """Set the value at ``dotted``."""
        *sections, last = dotted.split(".")
        obj: Any = self
        for part in sections:
            obj = getattr(obj, part)
        setattr(obj, last, value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"


def section_classes() -> dict[str, type[Section]]:
    """Section name -> class, in file order."""
    first, rest = CORE_SECTIONS[:2], CORE_SECTIONS[2:]
    return {s.name: s for s in (*first, *method_sections(), *rest)}


def input_keys() -> tuple[str, ...]:
    """Dotted keys of every input file or folder (``key(..., input_file=True)``)."""
    top = tuple(TopConfig.input_files())
    return top + tuple(
        f"{n}.{k}" for n, cls in section_classes().items() for k in cls.input_files()
    )


def describe_keys() -> list[tuple[str, Any, str, str]]:
    """``(dotted key, default, expected, doc)`` of every key, in file order: the reference
    of the config (each key's default, type and range, and doc, from its one definition)."""
    out = []
    defaults = default_dict()
    for where, cls in (("", TopConfig), *((n + ".", c) for n, c in section_classes().items())):
        values = defaults[where[:-1]] if where else defaults
        out += [(where + k, values[k], rule.expected, doc) for k, rule, doc in cls.rules()]
    return out


def default_dict() -> dict[str, Any]:
    """Every key with its default (the ``DEFAULTS`` mapping)."""
    return Config(TopConfig(), {n: cls() for n, cls in section_classes().items()}).to_dict()
