"""The freeze schedule (``optim.freeze_epochs``): the backbone is frozen for the first N
epochs, only what sits on it (heads, adapters outside it) trains; then it is unfrozen.

The optimiser holds every parameter that is trainable at all from the start, so nothing is
rebuilt when the backbone thaws: AdamW skips a parameter without a gradient (no step, no
weight decay, no moment update), the LR schedule runs on unchanged, and a run resumed from a
checkpoint recomputes the frozen state from its epoch alone.
"""

from __future__ import annotations

from torch import nn

__all__ = ["FreezeSchedule"]


class FreezeSchedule:
    """Freezes the backbone parameters of ``online`` that are trainable now (the objective
    already froze what never trains) during epochs ``0 .. epochs - 1``."""

    def __init__(self, online: nn.Module, epochs: int) -> None:
        self.epochs = int(epochs)
        self.params = [p for p in online.backbone.parameters() if p.requires_grad]

    def apply(self, epoch: int) -> None:
        """Set the backbone's state for ``epoch`` (counted from 0)."""
        if self.epochs <= 0:
            return
        frozen = epoch < self.epochs
        for p in self.params:
            p.requires_grad_(not frozen)
            if frozen:
                p.grad = None
