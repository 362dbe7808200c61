"""The metric table: one row per report key (or key family), the one definition of each metric.

A row names the key, its display label, its direction (is a higher or a lower value the
better one), what it needs (labels only, ranked candidates, a full score matrix, a tree),
the per-sample statistics it is made of and the function that turns their *sums* into the
value. Every path evaluates that same function:

* the point estimate: sums with weight 1 per sample (a batch of one);
* the bootstrap: sums weighted by each resample's draw counts (a batch of B);
* the streaming evaluator and the torchmetrics metric: sums accumulated batch by batch;
* ``compare``: the point estimates and resamples of two models.

``sums(name)`` returns ``(b,)`` (a per-sample column summed) or ``(b, K)`` (per-class
counts, e.g. ``tp``, or per-bin sums, e.g. ``ece_conf``) arrays, one row per weighting; a
value function returns ``(b,)`` values, NaN for ``null``. Rows whose ``resample`` is False
(mAP, ``ece_adaptive``) are not functions of sums: they need every score, their value comes
from ``rows`` and they get no bootstrap interval. The per-sample statistics are made in
:mod:`taxovit.evaluation.statistics`; their names are those in ``stats``. ``{k}``,
``{level}`` and ``{rank}`` mark a family; :func:`expand` lists the keys of a layout.
Torch-free and numpy-only. Pattern: scikit-learn's ``_classification.py`` (one counting
function, thin wrappers) and ``tests/test_common.py`` (tests driven by a list of metrics).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.metrics._common import safe_divide

__all__ = [
    "METRICS",
    "RANK_METRICS",
    "Metric",
    "compute",
    "direction",
    "expand",
    "label",
    "lookup",
    "prf_rows",
    "value_of",
]

HIGHER, LOWER, NEITHER = "higher", "lower", "neither"
#: what a row needs: labels only, the k best candidates (scores or a ranked top-K file), a
#: score for every class (probabilities for calibration), the top-1 probability (full
#: probabilities, or a top-K file whose scores are probabilities), a tree (not a DAG)
LABELS, CANDIDATES, SCORES, PROBS, TREE = "labels", "candidates", "scores", "probabilities", "tree"
CONFIDENCE = "top-1 probability"


@dataclass(frozen=True)
class Metric:
    """One row of the table (module docstring)."""

    key: str
    label: str
    direction: str
    needs: tuple[str, ...]
    stats: tuple[str, ...]
    value: Callable[..., NDArray[np.float64]]
    group: str
    resample: bool = True
    integer: bool = False
    shown: bool = True  # in the table view of ``taxovit evaluate`` (not: counts, duplicates)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.key))

    def evaluate(self, sums: Callable[[str], NDArray], **params: Any) -> NDArray[np.float64]:
        """The value(s) of this row from ``sums`` (``params`` fill its placeholders)."""
        return np.asarray(self.value(*(sums(s.format(**params)) for s in self.stats)), dtype=float)


# ----------------------------------------------------------------------------- value functions


def _ratio(num: NDArray, den: NDArray) -> NDArray[np.float64]:
    """``num / den``, 0 where ``den`` is 0 (every 0/0 is 0)."""
    return safe_divide(num, den)


def _ratio_or_null(num: NDArray, den: NDArray) -> NDArray[np.float64]:
    """``num / den``, NaN (``null``) where ``den`` is 0, e.g. a severity without mistakes."""
    den = np.asarray(den, dtype=float)
    return np.where(den > 0, np.asarray(num, dtype=float) / np.where(den > 0, den, 1), np.nan)


def _count(x: NDArray) -> NDArray[np.float64]:
    return np.round(np.asarray(x, dtype=float))


def prf_rows(tp: NDArray, pred: NDArray, sup: NDArray, average: str) -> tuple[NDArray, ...]:
    """Precision, recall, F1 of per-class counts, one row per weighting (``(b, K)`` each).

    Per class ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F = 2TP/(2TP+FP+FN)`` with
    ``FP = pred − TP``, ``FN = sup − TP``, every 0/0 = 0; ``micro`` pools the counts,
    ``macro`` is the plain mean and ``weighted`` the support-weighted mean over the classes
    *seen* (some count non-zero), as scikit-learn's label set is the labels present
    (``precision_recall_fscore_support(zero_division=0)``). A single row is averaged over
    its seen classes only, in scikit-learn's summation order.
    """
    tp, pred, sup = (np.atleast_2d(np.asarray(x, dtype=np.float64)) for x in (tp, pred, sup))
    fp, fn = pred - tp, sup - tp
    if average == "micro":
        tps, fps, fns = tp.sum(1), fp.sum(1), fn.sum(1)
        return (
            safe_divide(tps, tps + fps),
            safe_divide(tps, tps + fns),
            safe_divide(2.0 * tps, (tps + fns) + (tps + fps)),
        )
    seen = (tp != 0) | (fp != 0) | (fn != 0)
    if tp.shape[0] == 1:  # the point estimate: mean over the seen classes, as sklearn sums
        keep = seen[0]
        tp, fp, fn, sup, seen = tp[:, keep], fp[:, keep], fn[:, keep], sup[:, keep], seen[:, keep]
    per_class = (
        safe_divide(tp, tp + fp),
        safe_divide(tp, tp + fn),
        safe_divide(2.0 * tp, (tp + fn) + (tp + fp)),
    )
    weights = seen if average == "macro" else seen * sup
    total = weights.sum(1)
    if tp.shape[0] == 1 and tp.shape[1] and total[0] > 0:
        w = weights[0].astype(float)
        return tuple(
            np.array([np.average(x[0], weights=w) if average == "weighted" else np.mean(x[0])])
            for x in per_class
        )
    return tuple(safe_divide((x * weights).sum(1), total) for x in per_class)


#: the last prf_rows call: precision, recall and F1 rows read the same count arrays one
#: after the other, so each computes all three once (the arrays are held, compared by identity)
_PRF_LAST: list = [None, None]


def _prf(which: int, average: str) -> Callable[..., NDArray]:
    def value(tp: NDArray, pred: NDArray, sup: NDArray) -> NDArray:
        key, result = _PRF_LAST
        if key is None or not (
            key[0] is tp and key[1] is pred and key[2] is sup and key[3] == average
        ):
            result = prf_rows(tp, pred, sup, average)
            _PRF_LAST[:] = [(tp, pred, sup, average), result]
        return result[which]

    return value


def _hf_micro(inter: NDArray, size_pred: NDArray, size_true: NDArray) -> NDArray:
    hp, hr = _ratio(inter, size_pred), _ratio(inter, size_true)
    return _ratio(2 * hp * hr, hp + hr)


def _ece(conf: NDArray, acc: NDArray, n: NDArray) -> NDArray:
    """``Σ_b |acc_b − conf_b| / n`` from the per-bin sums of the correctness and confidence
    (Guo et al. 2017; Naeini et al. 2015)."""
    return _ratio(np.sum(np.abs(np.atleast_2d(acc) - np.atleast_2d(conf)), axis=1), n)


def _from_rows(rows: Any, key: str) -> NDArray:
    """A row metric's value: computed from every score by
    :func:`taxovit.evaluation.statistics.row_metrics` (mAP: one-vs-rest average precision;
    ``ece_adaptive``: equal-mass bins of the sorted confidences), not from sums."""
    v = rows.get(key)
    return np.array([np.nan if v is None else v])


# ----------------------------------------------------------------------------- the table

_FLAT, _HIER, _CAL, _RANK = "flat", "hierarchical", "calibration", "rank"


def _flat_rows() -> list[Metric]:
    rows = [
        Metric(
            "n_samples",
            "samples",
            NEITHER,
            (LABELS,),
            ("one",),
            _count,
            _FLAT,
            integer=True,
            shown=False,
        ),
        Metric(
            "n_mistakes",
            "mistakes",
            LOWER,
            (LABELS,),
            ("wrong",),
            _count,
            _FLAT,
            integer=True,
            shown=False,
        ),
        Metric("accuracy", "accuracy", HIGHER, (LABELS,), ("correct", "one"), _ratio, _FLAT),
    ]
    for avg in ("micro", "macro", "weighted"):
        for i, name in enumerate(("precision", "recall", "f1")):
            shown = "F1" if name == "f1" else name
            rows.append(
                Metric(
                    f"{name}_{avg}",
                    f"{shown} ({avg})",
                    HIGHER,
                    (LABELS,),
                    ("tp", "pred", "sup"),
                    _prf(i, avg),
                    _FLAT,
                    shown=avg != "micro" or name == "precision",
                )
            )
    return rows


def _hier_rows() -> list[Metric]:
    h = (LABELS,)
    rows = [
        Metric(
            "hierarchical_precision_micro",
            "hier. precision (micro)",
            HIGHER,
            h,
            ("inter", "size_pred"),
            _ratio,
            _HIER,
        ),
        Metric(
            "hierarchical_recall_micro",
            "hier. recall (micro)",
            HIGHER,
            h,
            ("inter", "size_true"),
            _ratio,
            _HIER,
        ),
        Metric(
            "hierarchical_f1_micro",
            "hier. F1 (micro)",
            HIGHER,
            h,
            ("inter", "size_pred", "size_true"),
            _hf_micro,
            _HIER,
        ),
    ]
    for name, col in (("precision", "hp"), ("recall", "hr"), ("f1", "hf")):
        shown = "F1" if name == "f1" else name
        rows.append(
            Metric(
                f"hierarchical_{name}_macro",
                f"hier. {shown} (macro)",
                HIGHER,
                h,
                (col, "one"),
                _ratio,
                _HIER,
            )
        )
    return rows + [
        Metric("mean_lca_height", "mean LCA height", LOWER, h, ("d", "one"), _ratio, _HIER),
        Metric(
            "mistake_severity", "mistake severity", LOWER, h, ("d", "wrong"), _ratio_or_null, _HIER
        ),
        Metric(
            "mistake_severity_depth",
            "mistake severity (D − depth of LCA)",
            LOWER,
            h,
            ("depth_distance", "wrong"),
            _ratio_or_null,
            _HIER,
        ),
        Metric("mean_lca_depth", "mean LCA depth", HIGHER, h, ("lca_depth", "one"), _ratio, _HIER),
        Metric(
            "mean_lca_depth_distance",
            "mean LCA depth distance",
            LOWER,
            h,
            ("depth_distance", "one"),
            _ratio,
            _HIER,
        ),
        Metric(
            "tree_induced_error_mean",
            "tree-induced error (mean)",
            LOWER,
            h,
            ("tie", "one"),
            _ratio,
            _HIER,
        ),
        Metric(
            "tree_induced_error_sum",
            "tree-induced error (sum)",
            LOWER,
            h,
            ("tie",),
            lambda x: np.asarray(x, dtype=float),
            _HIER,
        ),
        Metric(
            "per_level_accuracy/{level}",
            "accuracy at depth {level}",
            HIGHER,
            (LABELS, TREE),
            ("level_hit/{level}", "level_mask/{level}"),
            _ratio,
            _HIER,
        ),
        Metric(
            "top{k}_accuracy",
            "top-{k} accuracy",
            HIGHER,
            (CANDIDATES,),
            ("hits/{k}", "one"),
            _ratio,
            _FLAT,
        ),
        Metric(
            "avg_hierarchical_distance_at_{k}",
            "avg. hier. distance @{k}",
            LOWER,
            (CANDIDATES,),
            ("hdist/{k}", "one"),
            _ratio,
            _HIER,
        ),
        Metric(
            "avg_hierarchical_distance_at_{k}_depth",
            "avg. hier. distance @{k} (D − depth)",
            LOWER,
            (CANDIDATES,),
            ("hdist_depth/{k}", "one"),
            _ratio,
            _HIER,
        ),
    ]


def _score_rows() -> list[Metric]:
    s, p = (SCORES,), (PROBS,)
    maps = [
        ("map_macro", "mAP (macro)"),
        ("map_weighted", "mAP (weighted)"),
        ("map_micro", "mAP (micro)"),
        ("map_macro_present", "mAP (macro, classes present)"),
    ]
    rows = [
        Metric(key, shown, HIGHER, s, ("rows",), _from_rows, _FLAT, resample=False)
        for key, shown in maps
    ]
    return rows + [
        Metric(
            "ece",
            "expected calibration error (15 bins)",
            LOWER,
            (CONFIDENCE,),
            ("ece_conf", "ece_acc", "one"),
            _ece,
            _CAL,
        ),
        Metric(
            "ece_adaptive",
            "expected calibration error (adaptive)",
            LOWER,
            (CONFIDENCE,),
            ("rows",),
            _from_rows,
            _CAL,
            resample=False,
        ),
        Metric("brier", "Brier score", LOWER, p, ("brier", "one"), _ratio, _CAL),
        Metric("nll", "negative log-likelihood", LOWER, p, ("nll", "one"), _ratio, _CAL),
    ]


def _rank_rows() -> list[Metric]:
    r, sr, pr = (LABELS,), (PROBS, TREE), "per_rank/{rank}/"
    rows = [
        Metric(
            pr + "n_samples",
            "samples",
            NEITHER,
            r,
            ("rank_keep/{rank}",),
            _count,
            _RANK,
            integer=True,
        ),
        Metric(
            pr + "accuracy",
            "accuracy",
            HIGHER,
            r,
            ("rank_correct/{rank}", "rank_keep/{rank}"),
            _ratio,
            _RANK,
        ),
    ]
    for avg in ("macro", "weighted"):
        for i, name in enumerate(("precision", "recall", "f1")):
            shown = "F1" if name == "f1" else name
            rows.append(
                Metric(
                    pr + f"{name}_{avg}",
                    f"{shown} ({avg})",
                    HIGHER,
                    r,
                    ("tp/{rank}", "pred/{rank}", "sup/{rank}"),
                    _prf(i, avg),
                    _RANK,
                )
            )
    return rows + [
        Metric(
            pr + "top{k}_accuracy",
            "top-{k} (marginals)",
            HIGHER,
            sr,
            ("rank_hits/{rank}/{k}", "rank_keep/{rank}"),
            _ratio_or_null,
            _RANK,
        ),
        Metric(
            pr + "ece",
            "ECE (marginals)",
            LOWER,
            sr,
            ("ece_conf/{rank}", "ece_acc/{rank}", "rank_keep/{rank}"),
            _ece_or_null,
            _RANK,
        ),
        Metric(
            pr + "ece_adaptive",
            "adaptive ECE (marginals)",
            LOWER,
            sr,
            ("rows",),
            _from_rows,
            _RANK,
            resample=False,
        ),
        Metric(
            pr + "brier",
            "Brier score (marginals)",
            LOWER,
            sr,
            ("brier/{rank}", "rank_keep/{rank}"),
            _ratio_or_null,
            _RANK,
        ),
        Metric(
            pr + "nll",
            "NLL (marginals)",
            LOWER,
            sr,
            ("nll/{rank}", "rank_keep/{rank}"),
            _ratio_or_null,
            _RANK,
        ),
    ]


def _ece_or_null(conf: NDArray, acc: NDArray, n: NDArray) -> NDArray:
    return np.where(np.asarray(n) > 0, _ece(conf, acc, n), np.nan)


#: every key of the report's ``metrics`` (in report order)
METRICS: tuple[Metric, ...] = (*_flat_rows(), *_hier_rows(), *_score_rows())
#: every key of the report's ``per_rank`` entries, as ``per_rank/{rank}/<key>``
RANK_METRICS: tuple[Metric, ...] = tuple(_rank_rows())
# the optional questions' rows (costs, novel taxa, ...): their own module, imported here
# once the row type and value functions above exist
from taxovit.metrics.table_questions import QUESTION_METRICS, QUESTION_ROWS  # noqa: E402

_ALL = METRICS + RANK_METRICS + QUESTION_ROWS
_PARAM = {"k": r"\d+", "level": r"\d+", "rank": r"[^/]+"}
_PATTERNS = [
    (
        re.compile(
            "^"
            + re.sub(r"\\\{(\w+)\\\}", lambda g: f"(?P<{g[1]}>{_PARAM[g[1]]})", re.escape(m.key))
            + "$"
        ),
        m,
    )
    for m in _ALL
]


def lookup(key: str) -> tuple[Metric, dict[str, str]]:
    """The row of a concrete flat key (``top5_accuracy``, ``per_rank/genus/ece``,
    ``per_level_accuracy/2``) and its parameters; ``KeyError`` for a key without a row."""
    for pattern, row in _PATTERNS:
        if (m := pattern.match(key)) is not None:
            return row, m.groupdict()
    if key == "per_level_accuracy":  # the family's one null key on a DAG
        return lookup("per_level_accuracy/1")[0], {"level": ""}
    raise KeyError(f"{key!r} has no row in the metric table (taxovit.metrics.table)")


def label(key: str) -> str:
    """The display label of a flat key (``top-5 accuracy``)."""
    row, params = lookup(key)
    return row.label.format(**params)


def direction(key: str) -> str:
    """``higher``, ``lower`` (the better value) or ``neither`` (a count of samples)."""
    return lookup(key)[0].direction


# ----------------------------------------------------------------------------- evaluation


def expand(row: Metric, layout: Any, rank: str | None = None) -> Iterator[dict[str, Any]]:
    """The parameter sets of ``row`` that exist in ``layout`` (top-k: its k; per level: the
    depths of a tree; ``rank``: the one rank being expanded)."""
    params = row.params
    if "level" in params:
        yield from ({"level": lv} for lv in range(1, layout.max_depth + 1) if layout.is_tree)
    elif "k" in params:
        yield from ({"k": k} | ({"rank": rank} if rank else {}) for k in layout.top_k)
    else:
        yield {"rank": rank} if rank else {}


def _available(row: Metric, layout: Any, params: dict[str, Any]) -> bool:
    if row.group == _RANK and PROBS in row.needs:
        return params["rank"] in layout.scored_ranks
    if "k" in params and CANDIDATES in row.needs:
        return params["k"] in layout.hit_ks
    if CONFIDENCE in row.needs:
        return layout.probs or layout.confidence
    return (SCORES not in row.needs or layout.scored) and (PROBS not in row.needs or layout.probs)


def compute(
    layout: Any, sums: Callable[[str], NDArray], rows: Any = None, keys: Any = None
) -> dict[str, NDArray]:
    """Every key of ``layout`` as ``(b,)`` arrays (NaN: ``null``), in report order.

    ``sums(name)``: the weighted sums of the statistic ``name`` (module docstring); ``rows``:
    the values of the row metrics (``None``: NaN, e.g. in a bootstrap resample); ``keys``:
    only these keys (``None``: all; the statistics of the others are never asked for). Keys
    a layout cannot have are left out (per-rank score keys without probabilities) or NaN
    (score keys without scores; ``per_level_accuracy`` on a DAG)."""
    b = np.shape(sums("one"))[0] if np.ndim(sums("one")) else 1
    nan = np.full(b, np.nan)
    out: dict[str, NDArray] = {}
    for block in _blocks(METRICS):
        if "level" in block[0].params and not layout.is_tree:
            out["per_level_accuracy"] = nan  # null on a DAG
        for params in expand(block[0], layout):
            for row in block:
                if keys is None or row.key.format(**params) in keys:
                    out[row.key.format(**params)] = _value(row, layout, params, sums, rows, nan)
    questions = [QUESTION_METRICS[q] for q in getattr(layout, "questions", ())]
    for row in (row for flat, _ in questions for row in flat):
        if keys is None or row.key in keys:
            out[row.key] = row.evaluate(sums)
    for rank in layout.ranks:
        for row in RANK_METRICS + tuple(row for _, per_rank in questions for row in per_rank):
            if PROBS in row.needs and not (layout.probs and layout.is_tree):
                continue  # no probabilities: the rank's score keys are not in the report
            for params in expand(row, layout, rank):
                if keys is None or row.key.format(**params) in keys:
                    out[row.key.format(**params)] = _value(row, layout, params, sums, rows, nan)
    return out


def _blocks(rows: tuple[Metric, ...]) -> list[list[Metric]]:
    """Consecutive rows of one family (``top{k}_accuracy`` and the distances @k) form a
    block, expanded parameter by parameter: the report's key order."""
    out: list[list[Metric]] = []
    for row in rows:
        if out and row.params and out[-1][-1].params == row.params:
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _value(
    row: Metric, layout: Any, params: dict, sums: Callable, rows: Any, nan: NDArray
) -> NDArray:
    if not _available(row, layout, params):
        return nan
    if not row.resample:
        return nan if rows is None else row.value(rows, row.key.format(**params))
    return row.evaluate(sums, **params)


def value_of(key: str, sums: dict[str, Any]) -> float | None:
    """The value of one concrete key from a dict of (unweighted) sums: what the public
    functions of :mod:`taxovit.metrics` return (``None`` for null)."""
    row, params = lookup(key)

    def batch_of_one(name: str) -> NDArray:
        x = np.asarray(sums[name], dtype=float)
        return x[None] if x.ndim else x.reshape(1)

    v = float(row.evaluate(batch_of_one, **params)[0])
    return None if np.isnan(v) else v


# ----------------------------------------------------------------------------- documentation


def describe() -> list[dict[str, str]]:
    """One dict per row (key, label, better, needs, statistics, interval): what
    ``taxovit metrics`` prints and the docs' metric table (docs/metrics.md) is generated from."""
    out = []
    for row in _ALL:
        interval = (
            "percentile bootstrap of the sums"
            if row.resample
            else "none: needs every score (no sum over samples)"
        )
        out.append(
            {
                "key": row.key,
                "label": row.label,
                "better": row.direction,
                "needs": ", ".join(row.needs),
                "statistics": ", ".join(row.stats),
                "interval": interval,
            }
        )
    return out


def markdown() -> str:
    """The table as Markdown (what ``<!-- metric-table -->`` in docs/metrics.md becomes)."""
    cols = ("key", "label", "better", "needs", "interval")
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for d in describe():
        lines.append("| " + " | ".join(f"`{d[c]}`" if c == "key" else d[c] for c in cols) + " |")
    return "\n".join(lines) + "\n"
