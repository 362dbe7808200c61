"""Training methods: one module each, and :data:`METHODS`, the registry.

A method is a :class:`~taxovit.training.methods.base.Method` subclass in its own module: its
config section, network parts, loss, checks and what it saves (see ``base``). Adding one is
one new module plus one line in :data:`METHODS`; the config, the set-up, the loop, the run
folder, the progress reporter and ``predict`` then take it as they are.

Torch-free to import (the config check reads the classes).
"""

from __future__ import annotations

from taxovit.training.methods.base import Method
from taxovit.training.methods.ce import CrossEntropy
from taxovit.training.methods.deit import DeiTDistillation
from taxovit.training.methods.dino import DINO
from taxovit.training.methods.grafit import Grafit
from taxovit.training.methods.hierarchy import HierarchyLoss
from taxovit.training.methods.knn import KnnReadout
from taxovit.training.methods.linear import LinearProbe
from taxovit.training.methods.lora import LoRA
from taxovit.training.methods.mae import MAE
from taxovit.training.methods.mocov3 import MoCoV3
from taxovit.training.methods.transfg import TransFG
from taxovit.training.methods.vpt import VisualPromptTuning
from taxovit.training.run.rules import Section

__all__ = ["DEFAULT_METHOD", "METHODS", "Method", "beside_files", "method_sections"]

#: ``method:`` -> its class
METHODS: dict[str, type[Method]] = {
    "ce": CrossEntropy,
    "grafit": Grafit,
    "transfg": TransFG,
    "linear": LinearProbe,
    "knn": KnnReadout,
    "hierarchy": HierarchyLoss,
    "lora": LoRA,
    "vpt": VisualPromptTuning,
    "deit": DeiTDistillation,
    "mae": MAE,
    "mocov3": MoCoV3,
    "dino": DINO,
}

#: the method of a config without ``method:``
DEFAULT_METHOD = "grafit"


def method_sections() -> list[type[Section]]:
    """The config sections the methods own, once each, in registry order."""
    out: list[type[Section]] = []
    for cls in METHODS.values():
        if cls.section is not None and cls.section not in out:
            out.append(cls.section)
    return out


def beside_files() -> list[str]:
    """Every file a method may write beside ``checkpoint.pt`` (a new run removes them)."""
    return sorted({name for cls in METHODS.values() for name in cls.beside})
