"""Process-level runtime: device, determinism, seeds and RNG states, autocast.

:func:`torch_settings_restored` saves the process-wide torch settings a training config may
change (deterministic algorithms, cuDNN flags, CPU threads) and puts them back afterwards.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from taxovit.training.run.config import ConfigError

__all__ = [
    "autocast",
    "resolve_device",
    "rng_state",
    "seed_all",
    "set_deterministic",
    "set_rng_state",
    "torch_settings_restored",
]


def resolve_device(name: str, local_rank: int = 0, what: str = "device") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` as a device; a bare ``cuda`` means the GPU
    ``local_rank`` (one per process under torchrun), which becomes the current CUDA device.
    A device this machine lacks is a :class:`ConfigError` naming ``what`` (the config key or
    the option)."""
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", name):
        raise ConfigError(f"{what} {name!r}: expected auto, cpu, cuda or cuda:N")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{what} {name}: no GPU is available here (use cpu or auto)")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"{what} {name}: there is no GPU {device.index} here "
                f"({torch.cuda.device_count()} GPU(s))"
            )
        torch.cuda.set_device(device)
    return device


def set_deterministic(on: bool) -> None:
    """Deterministic algorithms (warn only) and cuDNN; nothing changes when ``on`` is False."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


@contextmanager
def torch_settings_restored() -> Iterator[None]:
    """Restore determinism, the cuDNN flags and the CPU thread count on exit."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.get_num_threads(),
    )
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:4]
        torch.set_num_threads(saved[4])


def seed_all(seed: int) -> None:
    """Seed python's, numpy's global and torch's random streams."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (the global stream third-party code uses)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """This process's random states (python, numpy, torch, CUDA) in checkpoint-safe types."""
    nps = np.random.get_state()  # noqa: NPY002
    state = {
        "python": random.getstate(),
        "numpy": [nps[0], nps[1].tolist(), int(nps[2]), int(nps[3]), float(nps[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def autocast(device: torch.device, precision: str = "auto") -> torch.autocast:
    """The config's ``precision`` as an autocast context, one code path for every device:
    ``bf16`` autocasts to bfloat16 on ``device`` (CUDA or CPU), ``fp32`` disables it, and
    ``auto`` is ``bf16`` on CUDA and ``fp32`` elsewhere."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)
