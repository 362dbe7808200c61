"""``TaxonomyMetrics``: taxovit's metrics as a ``torchmetrics.Metric`` for training loops.

The state is :class:`~taxovit.evaluation.streaming.StreamingEvaluator`'s (column sums and
per-class counts), held as sum-reduced tensors, so it synchronises under DDP like any
torchmetrics state and is independent of the number of samples. mAP (which needs every
score) is not offered here.

>>> metric = TaxonomyMetrics(taxonomy, class_names)          # doctest: +SKIP
>>> metric.update(logits, target)  # or class indices (N,)   # doctest: +SKIP
>>> metric.compute()["hierarchical_f1_micro"]                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from taxovit.errors import ArgumentError
from taxovit.evaluation.report import flatten_metrics
from taxovit.evaluation.streaming import StreamingEvaluator
from taxovit.metrics import top_k_columns

__all__ = ["TaxonomyMetrics"]


class TaxonomyMetrics(Metric):
    """Flat, hierarchical and per-rank metrics of class-index predictions or class scores.

    ``class_names``: the taxonomy node of each class index (the model's output order).
    ``update(preds, target)``: ``target`` ``(N,)`` class indices; ``preds`` ``(N,)`` class
    indices, or ``(N, C)`` scores (the prediction is the arg-max; top-k and distance@k then
    come from the scores). Give scores in every update or in none. ``compute()`` returns
    ``{flat metric key: tensor}`` (keys as in :meth:`EvaluationReport.to_frame`; metrics
    that do not exist for the inputs are left out).
    """

    full_state_update = False
    higher_is_better = None

    def __init__(
        self,
        taxonomy: Any,
        class_names: Sequence[str],
        top_k: Sequence[int] = (1, 5),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._ev = StreamingEvaluator(taxonomy, top_k, score_labels=list(class_names))
        self.class_ids = self._ev.score_ids
        self._layouts = {}
        for scored in (False, True):  # the state layout of each kind of update
            probe = StreamingEvaluator(self._ev.taxonomy, top_k, score_labels=list(class_names))
            c0 = int(self.class_ids[0])
            probe.update([c0], [c0], np.ones((1, self.class_ids.size)) if scored else None)
            self._layouts[scored] = (probe.layout, list(probe.sums))
        self._sum_names = self._layouts[True][1]  # the scored columns include the others
        self._count_sizes = {k: v.size for k, v in probe.counts.items()}
        self.add_state(
            "sums", torch.zeros(len(self._sum_names), dtype=torch.float64), dist_reduce_fx="sum"
        )
        total = sum(self._count_sizes.values())
        self.add_state("counts", torch.zeros(total, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_scored", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:  # type: ignore[override]
        t = self._classes(target, "target")
        scores = None
        if preds.ndim == 2:
            scores = preds.detach().float().cpu().numpy().astype(np.float64)
            p = top_k_columns(scores, 1)[:, 0]
        else:
            p = self._classes(preds, "preds")
        self._ev.reset()
        self._ev.update(self.class_ids[t], self.class_ids[p], scores)
        sums = np.array([self._ev.sums.get(n, 0.0) for n in self._sum_names])
        counts = np.concatenate(
            [
                self._ev.counts.get(k, np.zeros(size))  # no scores: no ECE bins
                for k, size in self._count_sizes.items()
            ]
        )
        self.sums += torch.from_numpy(sums).to(self.sums.device)
        self.counts += torch.from_numpy(counts).to(self.counts.device)
        if scores is not None:
            self.n_scored += float(t.size)

    def _classes(self, x: torch.Tensor, name: str) -> np.ndarray:
        a = x.detach().cpu().numpy()
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise ArgumentError(
                f"{name} must be a 1-D tensor of class indices, got {tuple(x.shape)} {x.dtype}"
            )
        if a.size and (a.min() < 0 or a.max() >= self.class_ids.size):
            raise ArgumentError(f"{name} holds class indices outside [0, {self.class_ids.size})")
        return a.astype(np.int64)

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        sums = dict(zip(self._sum_names, self.sums.cpu().numpy().tolist(), strict=True))
        n, scored = sums.get("one", 0.0), float(self.n_scored)
        if n == 0:
            raise ArgumentError("no samples: call update() first")
        if scored not in (0.0, n):
            raise ArgumentError("give scores in every update or in none")
        layout, names = self._layouts[scored == n]
        flat_counts, counts, start = self.counts.cpu().numpy(), {}, 0
        for key, size in self._count_sizes.items():
            counts[key], start = flat_counts[start : start + size], start + size
        self._ev.load_state(layout, {k: sums[k] for k in names}, counts)
        report = self._ev.compute()
        flat = flatten_metrics({**report.metrics, "per_rank": report.per_rank})
        return {k: torch.tensor(v, dtype=torch.float64) for k, v in flat.items() if v is not None}
