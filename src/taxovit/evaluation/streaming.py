"""Streaming evaluation: ``update`` batch by batch, ``merge`` partial states, ``compute``.

The state is what every metric is made of (see :mod:`taxovit.evaluation.bootstrap`): the
sums of the per-sample columns (a few dozen numbers) and per-class counts indexed by node
id (flat labels: 3 × nodes; each rank: 3 × its nodes). It is independent of the number of
samples, and :meth:`StreamingEvaluator.compute` gives every key of :func:`taxovit.evaluate`
on the concatenated batches, exactly for counts and to rounding for means. mAP needs all
scores and is kept only with ``keep_scores=True`` (O(samples)); otherwise it is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.errors import ArgumentError
from taxovit.evaluation.arguments import as_taxonomy, check_top_k
from taxovit.evaluation.bootstrap import Layout, metrics_from_stats, per_sample_columns
from taxovit.evaluation.context import build_context
from taxovit.evaluation.core import DEFAULT_TOP_K, SCORE_KEYS
from taxovit.evaluation.report import EvaluationReport
from taxovit.evaluation.score_metrics import ScoreInputs, score_metrics
from taxovit.metrics import check_scores, components, node_ids

__all__ = ["StreamingEvaluator"]


class StreamingEvaluator:
    """Accumulate predictions in batches; :meth:`compute` returns an EvaluationReport.

    ``score_labels``: the class (node name or id) of each score column, fixed for the whole
    stream; give it to pass ``scores`` to :meth:`update` (top-k accuracy, distance@k, and
    mAP with ``keep_scores``).
    """

    def __init__(self, taxonomy: Any, top_k: Sequence[int] = DEFAULT_TOP_K,
                 keep_scores: bool = False, score_labels: ArrayLike | None = None) -> None:  # fmt: skip
        self.taxonomy = as_taxonomy(taxonomy)
        self.top_k = check_top_k(top_k)
        self.keep_scores = bool(keep_scores)
        self.score_ids = (None if score_labels is None
                          else node_ids(self.taxonomy, np.asarray(score_labels), "score_labels"))  # fmt: skip
        ix = self.taxonomy.index
        self.ranks = tuple(self.taxonomy.rank_names)
        self._rank_pos = {}
        for r in self.ranks:
            at = np.flatnonzero(ix.rank_of == ix.rank_id(r))  # the nodes of rank r
            pos = np.full(ix.n, -1, dtype=np.int64)
            pos[at] = np.arange(at.size)
            self._rank_pos[r] = pos
        self.sums: dict[str, float] = {}
        self.counts: dict[str, NDArray[np.float64]] = {}
        self._kept: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
        self._layout: Layout | None = None

    @property
    def layout(self) -> Layout | None:
        """Which metrics the state holds (``None`` before the first update)."""
        return self._layout

    def reset(self) -> None:
        """Forget every sample (options and taxonomy stay)."""
        self.sums, self.counts, self._kept, self._layout = {}, {}, [], None

    def load_state(self, layout: Layout, sums: dict[str, float],
                   counts: dict[str, NDArray[np.float64]]) -> None:  # fmt: skip
        """Replace the state by ``sums`` and ``counts`` of a run with ``layout`` (e.g. summed
        across processes)."""
        self._layout, self.sums, self.counts, self._kept = layout, dict(sums), dict(counts), []

    # -- accumulate -----------------------------------------------------------------------
    def update(self, y_true: ArrayLike, y_pred: ArrayLike, scores: ArrayLike | None = None) -> None:
        """Add a batch (labels as node names or ids; scores ``(n, len(score_labels))``)."""
        comp = components(y_true, y_pred, self.taxonomy)
        s = None
        if scores is not None:
            if self.score_ids is None:
                raise ArgumentError("scores need score_labels, given when the evaluator is made")
            s = check_scores(scores, n_rows=comp.y_true.size)
        ctx = build_context(comp, self.taxonomy, s, self.score_ids if s is not None else None,
                            self.top_k)  # fmt: skip
        layout = Layout.of(ctx)
        if self._layout is not None and layout.hit_ks != self._layout.hit_ks:
            raise ArgumentError("give scores with every batch or with none")
        self._layout = layout
        cols = per_sample_columns(ctx, np.arange(comp.y_true.size))
        for name, col in cols.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(col.sum())
        self._add_counts(comp.y_true, comp.y_pred)
        if self.keep_scores and s is not None and ctx.true_col is not None:
            self._kept.append((comp.y_true, ctx.true_col, s))

    def _add(self, name: str, ids: NDArray[np.int64], size: int) -> None:
        got = np.bincount(ids, minlength=size).astype(np.float64)
        self.counts[name] = self.counts.get(name, np.zeros(size)) + got

    def _add_counts(self, t: NDArray[np.int64], p: NDArray[np.int64]) -> None:
        n = self.taxonomy.index.n
        self._add("sup", t, n)
        self._add("tp", t[t == p], n)
        self._add("pred", p, n)
        ix = self.taxonomy.index
        for r, pos in self._rank_pos.items():
            size = int(pos.max(initial=-1)) + 1
            tr, pr = (np.where(a >= 0, pos[np.maximum(a, 0)], -1)
                      for a in (ix.ancestor_at_rank(t, r), ix.ancestor_at_rank(p, r)))  # fmt: skip
            keep = tr >= 0
            self._add(f"sup/{r}", tr[keep], size)
            self._add(f"tp/{r}", tr[keep & (tr == pr)], size)
            self._add(f"pred/{r}", pr[keep & (pr >= 0)], size)

    def merge(self, other: StreamingEvaluator) -> StreamingEvaluator:
        """Add another evaluator's state (same taxonomy and options) into this one."""
        if other._layout is None:
            return self
        if self._layout is not None and self._layout != other._layout:
            raise ArgumentError("cannot merge evaluators with different options or score use")
        self._layout = other._layout
        for k, v in other.sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0.0) + v
        self._kept += other._kept
        return self

    # -- results --------------------------------------------------------------------------
    def compute(self) -> EvaluationReport:
        """The report of everything seen so far (no per-class table, no intervals)."""
        if self._layout is None or self.sums.get("one", 0) == 0:
            raise ArgumentError("no samples: call update() first")

        def s(name: str) -> NDArray:
            return np.array([self.sums[name]])

        def counts(suffix: str) -> tuple:
            sup, tp, pred = (self.counts[f"{n}{suffix}"][None, :] for n in ("sup", "tp", "pred"))
            return tp, pred - tp, sup - tp, sup

        flat = {k: v[0] for k, v in metrics_from_stats(self._layout, s, counts).items()}
        metrics, per_rank = _nest(flat)
        for key, value in self._score_metrics().items():
            if key.startswith("per_rank/"):
                _, rank, name = key.split("/", 2)
                per_rank[rank][name] = value
            else:
                metrics[key] = value
        return EvaluationReport(metrics=metrics, per_rank=per_rank,
                                taxonomy=self.taxonomy.summary())  # fmt: skip

    def _score_metrics(self) -> dict[str, Any]:
        """mAP and calibration (flat and per rank) of the kept scores."""
        if not self._kept:
            return dict.fromkeys(SCORE_KEYS)
        true_ids, true_col, scores = (np.concatenate(part) for part in zip(*self._kept, strict=True))
        inputs = ScoreInputs(self.taxonomy, true_ids, true_col, scores, self.score_ids,
                             self.top_k)  # fmt: skip
        return score_metrics(inputs)


_COUNT_KEYS = ("n_samples", "n_mistakes")


def _value(key: str, v: float) -> Any:
    if np.isnan(v):
        return None
    return int(v) if key.split("/")[-1] in _COUNT_KEYS else float(v)


def _nest(flat: dict[str, float]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The report's nested dicts from flat keys (``per_level_accuracy/2``, ``per_rank/r/k``)."""
    metrics: dict[str, Any] = {}
    per_rank: dict[str, dict[str, Any]] = {}
    for key, v in flat.items():
        parts = key.split("/")
        if parts[0] == "per_rank":
            per_rank.setdefault(parts[1], {})[parts[2]] = _value(key, v)
        elif parts[0] == "per_level_accuracy" and len(parts) == 2:
            metrics.setdefault("per_level_accuracy", {})[parts[1]] = _value(key, v)
        else:
            metrics[key] = _value(key, v)
    return metrics, per_rank
