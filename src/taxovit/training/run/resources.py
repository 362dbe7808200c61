"""What a training epoch costs, for the log: trainable parameters and peak memory.

Peak memory is ``torch.cuda.max_memory_allocated`` on a CUDA device (reset at the start of
each epoch: the epoch's own peak, tensors only) and the process's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the whole process, since it started, never
reset) on the CPU; the log says which (``peak_mem_kind``).
"""

from __future__ import annotations

import resource
import sys
from typing import Any

import torch
from torch import nn

__all__ = ["count_parameters", "peak_memory", "reset_peak_memory"]


def count_parameters(model: nn.Module, trainable: bool = True) -> int:
    """Number of scalars in ``model``'s parameters (only those requiring a gradient when
    ``trainable``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new CUDA peak (nothing to do on the CPU: the RSS peak cannot be reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict[str, Any]:
    """``{"peak_mem_mb": MiB, "peak_mem_kind": "cuda_max_allocated" | "cpu_peak_rss"}``."""
    if device.type == "cuda":
        mb = torch.cuda.max_memory_allocated(device) / 2**20
        return {"peak_mem_mb": mb, "peak_mem_kind": "cuda_max_allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    mb = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    return {"peak_mem_mb": mb, "peak_mem_kind": "cpu_peak_rss"}
