"""Distributed data parallel helpers (``torchrun``); one process is world size 1, rank 0."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["Dist"]


class Dist:
    """Process-group facts read from the torchrun environment, and the collectives used."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        self.owns_group = False

    def init(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
            self.owns_group = True

    def barrier(self) -> None:
        """Wait for every process (e.g. before tearing the group down)."""
        if self.enabled and dist.is_initialized():
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return t
        return self.all_reduce_sum(t) / self.world

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Concatenate ``t`` from every process (rank order), without gradient."""
        if not self.enabled:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def gather_with_grad(self, t: torch.Tensor) -> torch.Tensor:
        """Like :meth:`gather`; the backward pass sums the gradients of every process."""
        if not self.enabled:
            return t
        return _GatherWithGrad.apply(t)

    def gather_objects(self, obj: Any) -> list[Any]:
        """``obj`` of every process, in rank order (picklable objects)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gradients of every process (works on gloo)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.n = t.shape[0]
        ctx.rank = dist.get_rank()
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]
