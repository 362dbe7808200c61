"""``taxovit.evaluate``: every metric of ``docs/metrics.md`` in one report.

Data flow: label arrays (+ optional scores) -> per-sample context computed once over the
compiled index (:mod:`taxovit.evaluation.context`) -> per-sample statistics
(:mod:`taxovit.evaluation.statistics`) -> their sums -> every key's value by its row of the
metric table (:mod:`taxovit.metrics.table`). The point estimate sums with weight 1 per
sample; a bootstrap resample with the number of times each sample was drawn, so the
confidence intervals come from exactly the same code as the point estimates.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.errors import ArgumentError
from taxovit.evaluation.arguments import (
    MAX_BOOTSTRAP,
    as_taxonomy,
    check_int,
    check_labels_aligned,
    check_top_k,
)
from taxovit.evaluation.context import (
    SampleContext,
    as_ranked,
    context_of_ids,
    ranked_confidence,
)
from taxovit.evaluation.questions import Questions, ask
from taxovit.evaluation.report import EvaluationReport, nest_metrics, per_class_table
from taxovit.evaluation.score_metrics import (
    CALIBRATION_KEYS,
    MAP_KEYS,
    ScoreInputs,
    reliability_bins,
    score_inputs,
)
from taxovit.evaluation.statistics import batch_of_one, statistics_of
from taxovit.metrics import check_scores, node_ids
from taxovit.metrics.hierarchical import label_pair
from taxovit.metrics.ranking import average_precision
from taxovit.metrics.table import compute
from taxovit.taxonomy import Taxonomy

__all__ = [
    "DEFAULT_TOP_K",
    "MAP_KEYS",
    "SCORE_KEYS",
    "evaluate",
    "evaluate_point",
    "paired_resample_draws",
    "resample_draws",
]

DEFAULT_TOP_K: tuple[int, ...] = (1, 5)
SCORE_KEYS = (*MAP_KEYS, *CALIBRATION_KEYS)


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
        notes = dict.fromkeys(
            [*keys, *SCORE_KEYS], "no scores: the predictions give one label per sample"
        )
    elif ctx.scores is None and ctx.ranked is not None:
        big_k = ctx.ranked.shape[1]
        for k in top_k:
            if k not in ctx.hits:
                why = f"k = {k} > {big_k}: the predictions list only {big_k} candidates per sample"
                for key in _top_k_keys(k):
                    notes[key], point[key] = why, None
        notes.update(
            dict.fromkeys(
                SCORE_KEYS,
                f"the predictions list only {big_k} candidates "
                "per sample, not a score for every class",
            )
        )
    notes |= dict(extra or {})
    return {k: v for k, v in notes.items() if point.get(k) is None}


def _checked_context(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    scores: Any,
    score_labels: ArrayLike | None,
    ranked: ArrayLike | None,
    top_k: Sequence[int],
) -> tuple[SampleContext, tuple[int, ...]]:
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
    ranked_scores: ArrayLike | None = None,
    top_k: Sequence[int] = DEFAULT_TOP_K,
    bootstrap: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    notes: Mapping[str, str] | None = None,
    score_kind: str = "probs",
    **questions: Any,
) -> EvaluationReport:
    """Evaluate predictions against a taxonomy: flat, hierarchical and per-rank metrics.

    Parameters
    ----------
    y_true, y_pred : array-like of node names or ids
        True and predicted labels (pandas inputs must share one index).
    taxonomy : Taxonomy or path
        A :class:`Taxonomy` or a taxonomy file's path.
    scores : DataFrame or array of shape (n, C), optional
        Class scores (DataFrame columns: class names; an array needs ``score_labels``):
        top-k, mAP, distance@k, calibration, per-rank marginals.
    score_labels : array-like, optional
        The class of each column of an array ``scores``.
    ranked : array of shape (n, K), optional
        Instead of ``scores``: each sample's K best node ids, best first, ``-1`` padded;
        top-k and distance@k for k <= K.
    ranked_scores : array of shape (n, K), optional
        The probabilities of ``ranked`` (in [0, 1], at most 1 per row): ``ece`` and
        ``ece_adaptive`` of the first candidate (Brier and log loss need every class).
    top_k : sequence of int
        The k of top-k accuracy and distance@k.
    bootstrap : int
        B resamples (at most :data:`MAX_BOOTSTRAP`) for percentile ``ci`` intervals,
        seeded by ``seed`` >= 0; ``progress`` is called with the resamples done.
    ci, seed, progress : float, int, callable
        Interval level, resampling seed, progress callback.
    notes : mapping, optional
        More reasons for null keys.
    score_kind : {"probs", "logits"}
        What ``scores`` are (logits: softmax).
    **questions
        The evaluators' questions (:class:`Questions`): ``subset``, ``costs``, ``known``,
        ``train_counts``, ``confused``, ``abstention``, ``groups``...

    Returns
    -------
    EvaluationReport
        ``metrics`` (``mistake_severity`` and ``avg_hierarchical_distance_at_{k}`` use the
        LCA height; their ``_depth`` twins D − depth(LCA)), per-rank and per-class tables.

    Raises
    ------
    ArgumentError
        Bad arguments (a ``ValueError``).
    UnknownLabelError
        A label not in the taxonomy (a ``KeyError``).

    References
    ----------
    Bertinetto et al., "Making Better Mistakes", CVPR 2020 (``docs/metrics.md``).

    Examples
    --------
    >>> import taxovit
    >>> tax = taxovit.Taxonomy.from_edges(
    ...     [("Aves", "Corvus"), ("Aves", "Parus"), ("Corvus", "C. corax"),
    ...      ("Corvus", "C. corone"), ("Parus", "P. major")],
    ...     ranks={"Corvus": "genus", "Parus": "genus", "C. corax": "species",
    ...            "C. corone": "species", "P. major": "species"})
    >>> report = taxovit.evaluate(["C. corax", "C. corone", "P. major"],
    ...                           ["C. corax", "C. corax", "P. major"], tax)
    >>> report.metrics["accuracy"], report.metrics["mistake_severity"]
    (0.666..., 1.0)
    """
    taxonomy = as_taxonomy(taxonomy)
    bootstrap, seed = _check_resampling(bootstrap, ci, seed)
    data = (y_true, y_pred, scores, score_labels, ranked, ranked_scores)
    q, data, cut = Questions.of(questions).cut(taxonomy, data, score_kind)
    y_true, y_pred, scores, score_labels, ranked, ranked_scores = data
    report, ctx, inputs = evaluate_point(
        y_true,
        y_pred,
        taxonomy,
        scores,
        score_labels=score_labels,
        ranked=ranked,
        top_k=top_k,
        notes=notes,
        score_kind=score_kind,
        ranked_scores=ranked_scores,
        questions=q,
    )
    if bootstrap > 0:
        report.intervals = _bootstrap(ctx, inputs, bootstrap, ci, seed, progress)
        report.bootstrap = {
            "resamples": int(bootstrap),
            "ci": ci,
            "seed": seed,
            "method": "percentile",
        }
    q.finish(
        report,
        taxonomy,
        data,
        cut,
        dict(
            top_k=top_k, bootstrap=bootstrap, ci=ci, seed=seed, score_kind=score_kind, notes=notes
        ),
    )
    return report


def _check_resampling(bootstrap: Any, ci: Any, seed: Any) -> tuple[int, int]:
    bootstrap = check_int(bootstrap, "bootstrap", 0, MAX_BOOTSTRAP)
    if bootstrap and not (isinstance(ci, float | int) and 0 < ci < 1):
        raise ArgumentError(f"ci must lie in (0, 1), got {ci!r}")
    return bootstrap, check_int(seed, "seed", 0)


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
    ranked_scores: ArrayLike | None = None,
    questions: Questions | None = None,
) -> tuple[EvaluationReport, SampleContext, ScoreInputs | None]:
    """:func:`evaluate` without intervals, with the per-sample context and score inputs the
    report was computed from (to resample them, e.g. :func:`resample_draws`)."""
    taxonomy = as_taxonomy(taxonomy)
    ctx, top_k = _checked_context(y_true, y_pred, taxonomy, scores, score_labels, ranked, top_k)
    asked = ask(taxonomy, ctx, questions or Questions())
    notes = {**_ranked_confidence(ctx, ranked_scores), **(notes or {})}
    inputs = score_inputs(ctx, taxonomy, score_kind)
    if inputs is not None:  # kept for the per-class table
        ctx.column_ap = average_precision(ctx.true_col, ctx.scores, None)
    stats = ctx.statistics = statistics_of(ctx, inputs)
    if inputs is not None:
        inputs.forget_marginals()  # (n x nodes) per rank: in the statistics now
    point, per_rank = nest_metrics(
        compute(stats.layout, batch_of_one(stats.point_sums()), stats.rows)
    )
    report = EvaluationReport(
        metrics=point,
        per_rank=per_rank,
        taxonomy=taxonomy.summary(),
        notes=_null_notes(ctx, top_k, point, {**_probability_note(inputs), **(notes or {})}),
        reliability=None if inputs is None else reliability_bins(inputs, stats.terms.get("")),
        components=ctx.comp,
        _per_class_builder=lambda: per_class_table(ctx, taxonomy),
    )
    asked.answer(report, ctx, inputs)
    return report, ctx, inputs


def _ranked_confidence(ctx: SampleContext, ranked_scores: ArrayLike | None) -> dict[str, str]:
    """Set ``ctx.ranked_conf`` from the candidates' scores when they are probabilities (each
    in [0, 1], a row's listed ones summing to at most 1); otherwise a note for the ECE."""
    if ranked_scores is None:
        return {}
    if ctx.ranked is None:
        raise ArgumentError("ranked_scores need ranked candidates")
    conf, probs = ranked_confidence(ctx.ranked, ranked_scores)
    if not probs.all():
        why = "the candidates' scores are not probabilities (each in [0, 1], summing to <= 1)"
        return dict.fromkeys(("ece", "ece_adaptive"), why)
    ctx.ranked_conf = conf
    return {}


def _probability_note(inputs: ScoreInputs | None) -> dict[str, str]:
    if inputs is None or inputs.note is None:
        return {}
    return dict.fromkeys(CALIBRATION_KEYS, inputs.note + "; pass score_kind='logits' for logits")


def _bootstrap(
    ctx: SampleContext,
    inputs: ScoreInputs | None,
    b: int,
    ci: float,
    seed: int,
    progress: Callable[[int], None] | None,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals from ``b`` resamples of the n samples, drawn with replacement.

    Each resample is the metric table's value of the statistics' sums weighted by the draw
    counts (:mod:`taxovit.evaluation.bootstrap` computes a chunk of resamples at once). mAP
    and ``ece_adaptive``, which need every score, get no interval.
    """
    from taxovit.evaluation.bootstrap import percentile_intervals  # only with --bootstrap

    return percentile_intervals(resample_draws(ctx, inputs, b, seed, progress), ci)


def resample_draws(
    ctx: SampleContext,
    inputs: ScoreInputs | None,
    b: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Every sum-decomposable metric of ``b`` seeded resamples, ``{flat key: (b,) values}``
    (NaN for mAP and ``ece_adaptive``) through
    :func:`~taxovit.evaluation.bootstrap.bootstrap_draws`. Two contexts resampled with one
    seed draw the same rows (paired; :func:`paired_resample_draws` draws them once)."""
    return paired_resample_draws([(ctx, inputs)], b, seed, progress)[0]


def paired_resample_draws(
    evaluated: Sequence[tuple[SampleContext, ScoreInputs | None]],
    b: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    keys: Any = None,
) -> list[dict[str, NDArray[np.float64]]]:
    """:func:`resample_draws` of several models on the same samples, the rows of each
    resample drawn once (:func:`~taxovit.evaluation.bootstrap.paired_draws`); ``keys``: only
    these metrics (``None``: all)."""
    from taxovit.evaluation.bootstrap import paired_draws  # only with --bootstrap

    sts = [
        ctx.statistics if ctx.statistics is not None else statistics_of(ctx, inputs, rows=False)
        for ctx, inputs in evaluated
    ]
    return paired_draws(sts, b, seed, progress, keys)
