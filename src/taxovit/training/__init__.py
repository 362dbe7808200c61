"""The training wing: ``taxovit train`` and ``taxovit predict`` (imports torch).

``import taxovit`` never imports this package. Its sub-packages: ``run`` (the config, the
set-up, the loop, the checkpoint, the run folder, ``predict``), ``data`` (splits and
loaders), ``methods`` (one module per training method and the registry,
:data:`~taxovit.training.methods.METHODS`) and ``parts`` (the network and the parts and
losses the methods assemble). Data flows one way:
:mod:`~taxovit.training.run.config` -> :mod:`~taxovit.training.data.splits` ->
:mod:`~taxovit.training.parts.network` + the method (:mod:`taxovit.training.methods`) ->
:mod:`~taxovit.training.run.loop` -> :mod:`~taxovit.training.run.checkpoint`;
:mod:`~taxovit.training.run.predict` reads a checkpoint without the loop.
See :mod:`taxovit.training.run.loop` for what a run writes.

The config (``taxovit.training.run.config``, typed sections of
:mod:`~taxovit.training.run.schema`) and the method classes are torch-free to import; ``train`` is imported from
:mod:`~taxovit.training.run.loop` on first use, and prediction is
``from taxovit.training.run.predict import predict``.
"""

from typing import Any

from taxovit.training.run.config import (
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
        from taxovit.training.run.loop import train

        return train
    raise AttributeError(f"module 'taxovit.training' has no attribute {name!r}")
