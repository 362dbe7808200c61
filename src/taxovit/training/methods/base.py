"""The interface of a training method: :class:`Method`.

A method is one module of this package holding its config section (a
:class:`~taxovit.training.run.rules.Section` dataclass), the network parts it adds, its loss,
its own config checks, what it keeps in the checkpoint or writes beside it, and what
``predict`` does with its network; :data:`taxovit.training.methods.METHODS` maps its name to
its class. The loop, the set-up, the run folder, the progress reporter and ``predict`` only
call this interface.

The class attributes and class methods are read without torch (the config check reads
them); torch is imported inside the methods that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from taxovit.training.run.rules import Problem, Section

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor, device, nn

    from taxovit.training.parts.network import Network
    from taxovit.training.run.distributed import Dist
    from taxovit.training.run.schema import Config

__all__ = ["Method"]


class Method:
    """A training method: the class describes it, an instance trains with it.

    ``Method(cfg, online, dist, device)`` is built after the online network (on ``device``);
    ``loss(model, x, labels)`` returns ``"loss"`` (back-propagated) and detached parts that
    are logged; ``model`` is the online network as trained (possibly compiled/DDP-wrapped).
    """

    #: the name in ``method:``
    name: ClassVar[str] = ""
    #: the config section this method owns (its keys are valid whatever the method)
    section: ClassVar[type[Section] | None] = None
    #: the backbone architecture (:data:`taxovit.models.ARCHITECTURES`)
    arch: ClassVar[str] = "vit"
    #: backbone constructor arguments the method needs (DeiT: a distillation token)
    backbone_args: ClassVar[dict[str, Any]] = {}
    #: False for a read-out without training: the loop takes no step
    trains: ClassVar[bool] = True
    #: config keys of inputs read only while training: ``predict`` ignores them
    training_inputs: ClassVar[tuple[str, ...]] = ()
    #: files the method writes beside ``checkpoint.pt`` (see :meth:`save_beside`)
    beside: ClassVar[tuple[str, ...]] = ()
    #: augmented views per image the loader gives (``x`` is ``(B, views, C, H, W)`` when > 1)
    views: int = 1

    # ----------------------------------------------------------- the class: torch-free
    @classmethod
    def own(cls, cfg: Config) -> Any:
        """This method's section of ``cfg`` (None when it owns none)."""
        return None if cls.section is None else getattr(cfg, cls.section.name)

    @classmethod
    def check(cls, cfg: Config, bad: set[str]) -> list[Problem]:
        """The method's own config checks (``bad``: key paths that already have a problem)."""
        return []

    @classmethod
    def has_head(cls, section: Any) -> bool:
        """Whether the network has a classifier head on the training-rank classes."""
        return True

    @classmethod
    def resume_entries(cls, section: Any) -> tuple[str, ...]:
        """Checkpoint entries (of :meth:`state_dict`) that ``--resume`` needs."""
        return ()

    # ----------------------------------------------------------- the network (torch)
    @classmethod
    def add_parts(cls, net: Network, section: Any, num_classes: int) -> None:
        """Add the method's parts to the network (after the head: the order fixes the
        random initialisation)."""

    @classmethod
    def for_predict(cls, net: Network) -> None:
        """Prepare the trained network for ``predict`` (same outputs, e.g. LoRA merged)."""

    # ----------------------------------------------------------- training (torch)
    def __init__(self, cfg: Config, online: Network, dist: Dist, device: device) -> None:
        self.cfg = cfg

    def make_views(self, x: Tensor, augment: Any) -> Any:
        """The views of a uint8 batch ``x`` on the in-memory path
        (:class:`~taxovit.training.data.memory.MemoryLoader`): ``augment(x)`` once, or
        :attr:`views` times stacked as ``(B, views, C, H, W)``. A method may return other
        views (a list of tensors: multi-crop), with ``augment(x, img_size=..., crop_scale=...)``.
        The DataLoader path gives :attr:`views` views of the config's augmentation."""
        import torch

        if self.views == 1:
            return augment(x)
        return torch.stack([augment(x) for _ in range(self.views)], dim=1)

    def bind(self, taxonomy: Any, space: Any) -> None:
        """Called once the taxonomy and the training label space are known."""

    def see_batch(self, idx: Tensor) -> None:
        """The dataset indices of the next batch (for methods that keep per-image values)."""

    def loss(self, model: nn.Module, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def after_step(self, online: Network, step: int, total_steps: int) -> None:
        """Called after every optimiser step (``step`` counts from 1)."""

    def state_dict(self) -> dict[str, Any]:
        """Top-level checkpoint entries of the method's training state."""
        return {}

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        """Restore from a checkpoint holding :meth:`state_dict`'s entries."""

    def save_beside(self, online: Network, folder: Any, label_space: dict[str, Any]) -> None:
        """Write the files of :attr:`beside` into the run folder ``folder`` (each save)."""
