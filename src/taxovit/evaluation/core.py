"""``taxovit.evaluate``: every metric of ``docs/metrics.md`` in one report.

Data flow: label arrays (+ optional scores) -> per-sample context computed once over the
compiled index (:mod:`taxovit.evaluation.context`) -> scalar metrics as weighted statistics
of that context. The point estimate uses weight 1 per sample; a bootstrap resample uses the
number of times each sample was drawn, so the confidence intervals come from exactly the
same code as the point estimates.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit._side import side_thread
from taxovit.errors import ArgumentError
from taxovit.evaluation.arguments import (
    MAX_BOOTSTRAP,
    as_taxonomy,
    check_int,
    check_labels_aligned,
    check_top_k,
)
from taxovit.evaluation.context import SampleContext, as_ranked, context_of_ids
from taxovit.evaluation.report import EvaluationReport, per_class_table
from taxovit.evaluation.score_metrics import (
    CALIBRATION_KEYS,
    MAP_KEYS,
    ScoreInputs,
    reliability_bins,
    score_inputs,
    score_metrics,
)
from taxovit.metrics import SampleWeights, check_scores, node_ids
from taxovit.metrics.flat import average_precision, counts_from_codes, prf_from_counts
from taxovit.metrics.hierarchical import (
    hprf_from_components,
    label_pair,
    per_level_from_components,
    rank_scores,
)
from taxovit.taxonomy import Taxonomy

__all__ = ["DEFAULT_TOP_K", "MAP_KEYS", "SCORE_KEYS", "evaluate", "evaluate_point", "resample_draws"]

DEFAULT_TOP_K: tuple[int, ...] = (1, 5)
SCORE_KEYS = (*MAP_KEYS, *CALIBRATION_KEYS)


def _flat_metrics(ctx: SampleContext, w: SampleWeights) -> dict[str, Any]:
    c = ctx.comp
    n_wrong = w.dot(~c.correct)
    m: dict[str, Any] = {"n_samples": int(round(w.total)), "n_mistakes": int(round(n_wrong))}
    m["accuracy"] = w.mean(c.correct)
    tp, fp, fn, support = counts_from_codes(ctx.inv_t, ctx.inv_p, ctx.n_labels, w)
    for avg in ("micro", "macro", "weighted"):
        p, r, f = prf_from_counts(tp, fp, fn, support, avg)
        m[f"precision_{avg}"], m[f"recall_{avg}"], m[f"f1_{avg}"] = p, r, f
    return m


def _hierarchical_metrics(ctx: SampleContext, w: SampleWeights) -> dict[str, Any]:
    c = ctx.comp
    wrong = ~c.correct
    n_wrong = w.dot(wrong)
    m: dict[str, Any] = {}
    for avg in ("micro", "macro"):
        hp, hr, hf = hprf_from_components(c, avg, w)
        m[f"hierarchical_precision_{avg}"] = hp
        m[f"hierarchical_recall_{avg}"] = hr
        m[f"hierarchical_f1_{avg}"] = hf
    m["mean_lca_height"] = w.mean(c.d)
    m["mistake_severity"] = float(w.take(wrong).dot(c.d[wrong]) / n_wrong) if n_wrong > 0 else None
    m["mistake_severity_depth"] = (
        float(w.take(wrong).dot(ctx.depth_distance[wrong]) / n_wrong) if n_wrong > 0 else None
    )
    m["mean_lca_depth"] = w.mean(c.lca_depth)
    m["mean_lca_depth_distance"] = w.mean(ctx.depth_distance)
    m["tree_induced_error_mean"] = w.mean(c.tie)
    m["tree_induced_error_sum"] = w.dot(c.tie)
    m["per_level_accuracy"] = (
        per_level_from_components(c, ctx.true_depth, w) if ctx.is_tree else None
    )
    return m


def _weighted_metrics(ctx: SampleContext, w: SampleWeights) -> dict[str, Any]:
    """All metrics except mAP as weighted statistics (unit weights give the plain values).
    The per-rank scores are computed beside the others, in a second thread for a large input
    (:func:`taxovit._side.side_thread`)."""
    with side_thread(ctx.comp.y_true.size) as submit:
        per_rank = submit(lambda: {r: rank_scores(c, w) for r, c in ctx.ranks.items()})
        m = _flat_metrics(ctx, w) | _hierarchical_metrics(ctx, w)
        for kk in ctx.top_k:  # from the scores or the ranked candidates (k <= K only)
            has = kk in ctx.hits
            top, dist, dist_depth = _top_k_keys(kk)
            m[top] = w.mean(ctx.hits[kk]) if has else None
            m[dist] = w.mean(ctx.hdist[kk]) if has else None
            m[dist_depth] = w.mean(ctx.hdist_depth[kk]) if has else None
        m["per_rank"] = per_rank.result()
    return m


def _as_scores(
    scores: Any, score_labels: ArrayLike | None, taxonomy: Taxonomy, n: int
) -> tuple[NDArray[np.float64] | None, NDArray[np.int64] | None]:
    if scores is None:
        return None, None
    pd = sys.modules.get("pandas")  # not imported yet: scores cannot be a DataFrame
    if pd is not None and isinstance(scores, pd.DataFrame):
        columns = list(scores.columns)
        if score_labels is not None and list(score_labels) != columns:
            raise ArgumentError(
                "score_labels differ from the scores DataFrame's columns; give one of them "
                "(the columns name the classes)"
            )
        score_labels = columns
        scores = scores.to_numpy(dtype=np.float64)
    try:
        s = check_scores(scores, n_rows=n)
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None
    if score_labels is None:
        raise ArgumentError("scores given as an array need score_labels (the class of each column)")
    ids = node_ids(taxonomy, np.asarray(score_labels).ravel(), "score_labels")
    if ids.size != s.shape[1]:
        raise ArgumentError(f"{ids.size} score_labels for {s.shape[1]} score columns")
    if np.unique(ids).size != ids.size:
        raise ArgumentError("score_labels name a class twice")
    return s, ids


def _top_k_keys(k: int) -> tuple[str, str, str]:
    """The metric keys that need the k best classes of each sample."""
    d = f"avg_hierarchical_distance_at_{k}"
    return f"top{k}_accuracy", d, f"{d}_depth"


def _null_notes(
    ctx: SampleContext, top_k: Sequence[int], point: dict[str, Any], extra: Mapping[str, str] | None
) -> dict[str, str]:
    """Why each null score-based key is null (no scores, or only K ranked candidates; a
    reader's ``extra`` reasons win); adds the keys of the k > K the context left out."""
    keys = [key for k in top_k for key in _top_k_keys(k)]
    notes: dict[str, str] = {}
    if ctx.scores is None and ctx.ranked is None:
        notes = dict.fromkeys([*keys, *SCORE_KEYS], "no scores: the predictions give one label "
                              "per sample")  # fmt: skip
    elif ctx.scores is None and ctx.ranked is not None:
        big_k = ctx.ranked.shape[1]
        for k in top_k:
            if k not in ctx.hits:
                why = f"k = {k} > {big_k}: the predictions list only {big_k} candidates per sample"
                for key in _top_k_keys(k):
                    notes[key], point[key] = why, None
        notes.update(dict.fromkeys(SCORE_KEYS, f"the predictions list only {big_k} candidates "
                                   "per sample, not a score for every class"))  # fmt: skip
    notes |= dict(extra or {})
    return {k: v for k, v in notes.items() if point.get(k) is None}


def _checked_context(
    y_true: ArrayLike, y_pred: ArrayLike, taxonomy: Taxonomy, scores: Any,
    score_labels: ArrayLike | None, ranked: ArrayLike | None, top_k: Sequence[int],
) -> tuple[SampleContext, tuple[int, ...]]:  # fmt: skip
    """The context, and the requested k (with ranked candidates, the context holds only
    the k <= K: the others cannot be computed)."""
    check_labels_aligned(y_true=y_true, y_pred=y_pred, scores=scores, ranked=ranked)
    ks = check_top_k(top_k)
    t, p = label_pair(y_true, y_pred, taxonomy)
    n = t.size
    s, score_ids = _as_scores(scores, score_labels, taxonomy, n)
    r = None
    if ranked is not None:
        if s is not None:
            raise ArgumentError("give scores or ranked candidates, not both")
        r = as_ranked(ranked, n, len(taxonomy.nodes))
    ctx_k = ks if r is None else tuple(k for k in ks if k <= r.shape[1])
    return context_of_ids(t, p, taxonomy, s, score_ids, ctx_k, r), ks


def evaluate(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    scores: Any = None,
    *,
    score_labels: ArrayLike | None = None,
    ranked: ArrayLike | None = None,
    top_k: Sequence[int] = DEFAULT_TOP_K,
    bootstrap: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    notes: Mapping[str, str] | None = None,
    score_kind: str = "probs",
) -> EvaluationReport:
    """Evaluate predictions against a taxonomy: flat, hierarchical and per-rank metrics.

    ``y_true``/``y_pred``: node names or ids (pandas inputs must share one index);
    ``taxonomy``: a :class:`Taxonomy` or a taxonomy file's path. ``scores``: class scores,
    a DataFrame whose columns are class names or an ``(n, C)`` array with ``score_labels``:
    top-k, mAP, distance@k, calibration and per-rank marginals
    (:mod:`~taxovit.evaluation.score_metrics`; ``score_kind`` ``probs`` or ``logits``).
    ``ranked``: instead, the K best candidates per sample, ``(n, K)`` node ids, best first,
    ``-1`` padding; top-k and distance@k for k <= K. ``notes``: more reasons for null keys.
    ``bootstrap=B`` (at most :data:`MAX_BOOTSTRAP`) adds percentile ``ci`` intervals from B
    resamples seeded by ``seed`` >= 0; ``progress`` is called with the resamples done.
    ``mistake_severity`` and ``avg_hierarchical_distance_at_{k}`` use the LCA height
    (``docs/metrics.md``); their ``_depth`` twins use D − depth(LCA), the distance of
    Bertinetto et al. 2020's code and the CRM/HAF tables (equal on trees whose leaves all
    sit at depth D). Bad arguments raise :class:`~taxovit.errors.ArgumentError` (a
    ``ValueError``), unknown labels :class:`~taxovit.errors.UnknownLabelError` (a ``KeyError``).

    >>> report = evaluate(["a1", "a2"], ["a1", "b1"], taxonomy)  # doctest: +SKIP
    >>> report.metrics["mistake_severity"]                       # doctest: +SKIP
    """
    taxonomy = as_taxonomy(taxonomy)
    bootstrap = check_int(bootstrap, "bootstrap", 0, MAX_BOOTSTRAP)
    seed = check_int(seed, "seed", 0)
    if bootstrap and not (isinstance(ci, float | int) and 0 < ci < 1):
        raise ArgumentError(f"ci must lie in (0, 1), got {ci!r}")
    report, ctx, inputs = evaluate_point(
        y_true, y_pred, taxonomy, scores, score_labels=score_labels, ranked=ranked,
        top_k=top_k, notes=notes, score_kind=score_kind,
    )  # fmt: skip
    if bootstrap > 0:
        report.intervals = _bootstrap(ctx, inputs, bootstrap, ci, seed, progress)
        report.bootstrap = {"resamples": int(bootstrap), "ci": ci, "seed": seed,
                            "method": "percentile"}  # fmt: skip
    return report


def evaluate_point(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Any,
    scores: Any = None,
    *,
    score_labels: ArrayLike | None = None,
    ranked: ArrayLike | None = None,
    top_k: Sequence[int] = DEFAULT_TOP_K,
    notes: Mapping[str, str] | None = None,
    score_kind: str = "probs",
) -> tuple[EvaluationReport, SampleContext, ScoreInputs | None]:
    """:func:`evaluate` without intervals, with the per-sample context and score inputs the
    report was computed from (to resample them, e.g. :func:`resample_draws`)."""
    taxonomy = as_taxonomy(taxonomy)
    ctx, top_k = _checked_context(y_true, y_pred, taxonomy, scores, score_labels, ranked, top_k)
    point = _weighted_metrics(ctx, SampleWeights(None, ctx.comp.y_true.size))
    per_rank = point.pop("per_rank")
    inputs = _add_score_metrics(ctx, taxonomy, score_kind, point, per_rank)
    report = EvaluationReport(
        metrics=point,
        per_rank=per_rank,
        taxonomy=taxonomy.summary(),
        notes=_null_notes(ctx, top_k, point, {**_probability_note(inputs), **(notes or {})}),
        reliability=None if inputs is None else reliability_bins(inputs),
        components=ctx.comp,
        _per_class_builder=lambda: per_class_table(ctx, taxonomy),
    )
    return report, ctx, inputs


def _add_score_metrics(ctx: SampleContext, taxonomy: Taxonomy, score_kind: str, point: dict,
                       per_rank: dict) -> ScoreInputs | None:  # fmt: skip
    """mAP and calibration into the point estimate (``None`` keys without scores)."""
    inputs = score_inputs(ctx, taxonomy, score_kind)
    if inputs is None:
        point.update(dict.fromkeys(SCORE_KEYS))
        return None
    ctx.column_ap = average_precision(ctx.true_col, ctx.scores, None)
    _merge_flat(point, per_rank, score_metrics(inputs, ctx.column_ap))
    return inputs


def _merge_flat(point: dict, per_rank: dict, flat: dict[str, Any]) -> None:
    """Put flat keys into the report's dicts (``per_rank/<rank>/<key>`` into per_rank)."""
    for key, value in flat.items():
        if key.startswith("per_rank/"):
            _, rank, name = key.split("/", 2)
            per_rank.setdefault(rank, {})[name] = value
        else:
            point[key] = value


def _probability_note(inputs: ScoreInputs | None) -> dict[str, str]:
    if inputs is None or inputs.note is None:
        return {}
    return dict.fromkeys(CALIBRATION_KEYS, inputs.note + "; pass score_kind='logits' for logits")


def _bootstrap(
    ctx: SampleContext, inputs: ScoreInputs | None, b: int, ci: float, seed: int,
    progress: Callable[[int], None] | None,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals from ``b`` resamples of the n samples, drawn with replacement.

    Each resample is the same weighted statistic as the point estimate, with the draw counts
    as weights; :mod:`taxovit.evaluation.bootstrap` computes a chunk of resamples at once
    (mAP and calibration, which need every score, are recomputed on the drawn rows).
    """
    from taxovit.evaluation.bootstrap import percentile_intervals  # only with --bootstrap

    return percentile_intervals(resample_draws(ctx, inputs, b, seed, progress), ci)


def resample_draws(
    ctx: SampleContext, inputs: ScoreInputs | None, b: int, seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Every metric of ``b`` seeded resamples, ``{flat key: (b,) values}``: the sums through
    :func:`~taxovit.evaluation.bootstrap.bootstrap_draws`, the score metrics recomputed on
    each resample's rows. Two contexts resampled with one seed draw the same rows (paired)."""
    from taxovit.evaluation.bootstrap import bootstrap_draws  # only with --bootstrap

    per_rows = None if inputs is None else (lambda idx: score_metrics(inputs.rows(idx)))
    return bootstrap_draws(ctx, b, seed, progress, per_rows)
