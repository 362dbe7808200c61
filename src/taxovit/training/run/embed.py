"""Embeddings of a split with the eval transform, and the kNN accuracy on the fine labels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from taxovit.training.data.memory import images_tensor, normalize, use_memory
from taxovit.training.data.splits import LabelSpace, SampleSet, build_transform, make_dataset
from taxovit.training.parts.network import Network
from taxovit.training.run.neighbors import knn_classify
from taxovit.training.run.runtime import autocast
from taxovit.training.run.schema import AugmentConfig, Config, DataConfig

__all__ = ["embed_samples", "knn_metrics"]


@torch.no_grad()
def embed_samples(
    network: Network,
    samples: SampleSet,
    space: LabelSpace,
    cfg: Config,
    device: torch.device,
    batch_size: int | None = None,
    with_logits: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """L2-normalised backbone CLS features (CPU, float32) of ``samples`` with the eval
    transform, and the head's logits when ``with_logits``."""
    precision = cfg.precision
    was_training = network.training
    network.eval()
    feats, logits = [], []
    for x in _batches(samples, space, cfg.data, cfg.augment, batch_size or cfg.eval.batch_size):
        with autocast(device, precision):
            out = network(x.to(device, non_blocking=True))
        feats.append(F.normalize(out["features"].float(), dim=1).cpu())
        if with_logits and "logits" in out:
            logits.append(out["logits"].float().cpu())
    network.train(was_training)
    return torch.cat(feats), (torch.cat(logits) if logits else None)


def _batches(
    samples: SampleSet, space: LabelSpace, d: DataConfig, aug: AugmentConfig, batch_size: int
) -> Iterator[torch.Tensor]:
    """Eval-transformed image batches of ``samples``: tensor ops on an in-memory split
    (``data.loader``), else a ``DataLoader`` with the ``transforms.v2`` eval transform."""
    if use_memory(d, samples):
        images = images_tensor(samples.images, d.in_chans)
        for start in range(0, len(images), batch_size):
            yield normalize(images[start : start + batch_size], aug, d.img_size)
        return
    tf = build_transform(aug, d.img_size, d.in_chans, train=False)
    ds = make_dataset(samples, space, tf, views=1, in_chans=d.in_chans)
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        num_workers=d.num_workers,
        generator=torch.Generator(),
    )  # (its own generator: evaluating never moves the training's random streams)
    for x, *_ in loader:
        yield x


def knn_metrics(
    online: Network,
    sets: tuple[SampleSet, SampleSet],
    space: LabelSpace,
    cfg: Config,
    device: torch.device,
    metric: Any | None = None,
) -> dict[str, float]:
    """The kNN classifier's (``eval.knn_k``, ``eval.temperature``) results on the fine labels:
    ``sets = (train, test)``, test images vote with train images. ``knn_top1_fine`` always;
    with ``metric`` (a :class:`~taxovit.integrations.torchmetrics.TaxonomyMetrics` over the
    fine classes) also ``knn_hierarchical_f1_fine`` and ``knn_mistake_severity_fine``."""
    train_s, test_s = sets
    db, _ = embed_samples(online, train_s, space, cfg, device)
    q, _ = embed_samples(online, test_s, space, cfg, device)
    scores = knn_classify(
        q,
        db,
        torch.from_numpy(train_s.fine),
        len(space.fine_names),
        k=cfg.eval.knn_k,
        temperature=cfg.eval.temperature,
    )
    target = torch.from_numpy(test_s.fine)
    out = {"knn_top1_fine": float((scores.argmax(dim=1) == target).float().mean())}
    if metric is not None:
        metric.reset()
        metric.update(scores.argmax(dim=1), target)
        got = metric.compute()
        out["knn_hierarchical_f1_fine"] = float(got["hierarchical_f1_micro"])
        severity = got.get("mistake_severity")  # absent when there is no mistake
        out["knn_mistake_severity_fine"] = None if severity is None else float(severity)
    return out
