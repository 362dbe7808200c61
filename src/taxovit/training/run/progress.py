"""Progress reporting: the training loop never prints, it tells a :class:`Reporter`.

:class:`SilentReporter` ignores everything; :class:`ConsoleReporter` shows a transient rich
progress bar during an epoch and one line per finished epoch (see :func:`epoch_line`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConsoleReporter", "Reporter", "SilentReporter", "epoch_line"]


class Reporter:
    """What a training run reports. Every method does nothing here; override what you need.

    Only the main process (rank 0) reports.
    """

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        """Epoch ``epoch`` (counted from 1) of ``epochs`` starts; it has ``steps`` steps."""

    def step(self, loss: float) -> None:
        """One optimiser step is done; ``loss`` is its loss (mean over processes)."""

    def end_epoch(self, row: dict[str, Any], epochs: int) -> None:
        """The epoch is done and saved; ``row`` is its ``log.jsonl`` line."""

    def note(self, message: str) -> None:
        """Something the user should know (e.g. the kNN evaluation is disabled)."""

    def close(self) -> None:
        """The run ended (normally or by an exception)."""


class SilentReporter(Reporter):
    """Reports nothing."""


#: log-row keys that are not parts of a method's loss
_NOT_PARTS = {
    "epoch",
    "step",
    "loss",
    "lr",
    "images_per_s",
    "time_s",
    "trainable_params",
    "peak_mem_mb",
    "peak_mem_kind",
}


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """``epoch 3/10  loss 1.2345  inst ...  812 img/s  5,130 trainable  peak RSS 612 MiB
    kNN top-1 (fine) 0.4000``: the loss and every part the method logged (in its order),
    the peak is CUDA's allocation on a GPU, the RSS on a CPU."""
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['loss']:.4f}"]
    for k, v in row.items():
        if k not in _NOT_PARTS and not k.startswith("knn_") and isinstance(v, int | float):
            parts.append(f"{k} {v:.4f}")
    parts.append(f"{row['images_per_s']:.0f} img/s")
    if "trainable_params" in row:
        parts.append(f"{row['trainable_params']:,} trainable")
    if "peak_mem_mb" in row:
        where = "GPU" if row.get("peak_mem_kind") == "cuda_max_allocated" else "RSS"
        parts.append(f"peak {where} {row['peak_mem_mb']:.0f} MiB")
    if "knn_top1_fine" in row:
        parts.append(f"kNN top-1 (fine) {row['knn_top1_fine']:.4f}")
    return "  ".join(parts)


class ConsoleReporter(Reporter):
    """A transient rich progress bar per epoch, then :func:`epoch_line`, on ``console``
    (default: a rich Console on standard output); notes are prefixed ``[taxovit train]``."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console if console is not None else Console()
        self._bar: Any = None
        self._task: Any = None
        self._left = 0

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.close()
        self._bar = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            transient=True,
            console=self.console,
        )
        self._bar.start()
        self._task = self._bar.add_task("train", total=steps, loss="-")
        self._left = steps

    def step(self, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, loss=f"{loss:.4f}")
            self._left -= 1
            if self._left <= 0:  # the bar goes before the epoch's evaluation starts
                self.close()

    def end_epoch(self, row: dict[str, Any], epochs: int) -> None:
        self.close()
        self._print(epoch_line(row, epochs))

    def note(self, message: str) -> None:
        self._print(f"[taxovit train] {message}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
