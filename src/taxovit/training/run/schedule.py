"""Cosine schedules: the learning rate (linear warm-up, then cosine) and Grafit's EMA momentum.

Both go through :func:`cosine`, half a cosine from ``start`` (progress 0) to ``end``
(progress 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["cosine", "ema_momentum", "warmup_cosine"]


def cosine(start: float, end: float, progress: float) -> float:
    """``end + (start - end) * (1 + cos(pi * progress)) / 2``: ``start`` at 0, ``end`` at 1."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(total_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    """LR multiplier per step (for ``LambdaLR``): linear warm-up over ``warmup_steps``, then
    cosine from 1 to ``min_ratio`` at ``total_steps``."""

    def f(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        return cosine(1.0, min_ratio, min(1.0, (step - warmup_steps) / span))

    return f


def ema_momentum(start: float, end: float, step: int, total_steps: int) -> float:
    """EMA momentum after ``step`` of ``total_steps``: cosine from ``start`` to ``end``."""
    return cosine(start, end, min(1.0, step / max(total_steps, 1)))
