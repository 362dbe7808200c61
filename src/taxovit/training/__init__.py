"""The training wing: ``taxovit train`` and ``taxovit predict`` (imports torch).

``import taxovit`` never imports this package. Data flows one way:
:mod:`~taxovit.training.config` -> :mod:`~taxovit.training.data` ->
:mod:`~taxovit.training.network` -> :mod:`~taxovit.training.objectives` ->
:mod:`~taxovit.training.loop` -> :mod:`~taxovit.training.checkpoint`;
:mod:`~taxovit.training.predict` reads a checkpoint without the loop.
See :mod:`taxovit.training.loop` for what a run writes and the methods.

The config (``taxovit.training.config``) is torch-free; ``train`` is imported from
:mod:`~taxovit.training.loop` on first use, and prediction is
``from taxovit.training.predict import predict``.
"""

from typing import Any

from taxovit.training.config import (
    DEFAULTS,
    ConfigError,
    TrainingDiverged,
    load_config,
    merge_config,
)

__all__ = [
    "DEFAULTS",
    "ConfigError",
    "TrainingDiverged",
    "load_config",
    "merge_config",
    "train",
]


def __getattr__(name: str) -> Any:
    if name == "train":  # imports torch: only when asked for
        from taxovit.training.loop import train

        return train
    raise AttributeError(f"module 'taxovit.training' has no attribute {name!r}")
