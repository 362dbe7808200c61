"""What the HTML report shows, as plain JSON-ready data (numpy only; no plotly, no jinja2).

Everything comes from the report's public structure (:meth:`EvaluationReport.to_dict`, its
``per_class`` table, ``components`` and ``reliability``) and the taxonomy, so the same data
feeds the page and the tests. Per-node figures are vectorised over the unique
(true, predicted) pairs, weighted by their counts: no per-sample Python loop.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np

from taxovit.evaluation.metric_info import metric_info
from taxovit.evaluation.report import EvaluationReport, flatten_metrics
from taxovit.taxonomy import Taxonomy

__all__ = ["MAX_CONFUSED_PAIRS", "node_stats", "page_data", "confused_pairs", "unique_pairs"]

#: the most-confused pairs the page carries (the most frequent first)
MAX_CONFUSED_PAIRS = 2000
#: the report's sections that the page draws itself; any other top-level key of the JSON
#: report (slices, long-tail buckets, abstention curves, ...) is shown as a generic table
KNOWN_SECTIONS = ("metrics", "per_rank", "confidence_intervals", "bootstrap", "taxonomy", "notes")
CARD_KEYS = ("accuracy", "top1_accuracy", "hierarchical_f1_micro", "mistake_severity", "ece")
_CARD_LABELS = {"ece": "calibration error (ECE)"}  # a card has room for a short label


def _num(v: Any) -> float | int | None:
    """JSON-safe number: NaN/inf become None, numpy scalars plain Python."""
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def unique_pairs(report: EvaluationReport) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (true node id, predicted node id) pairs and how many samples each has."""
    comp = report.components
    if comp is None:
        raise ValueError("this report holds no per-sample components")
    n = int(max(comp.y_true.max(initial=0), comp.y_pred.max(initial=0))) + 1
    code, count = np.unique(comp.y_true.astype(np.int64) * n + comp.y_pred, return_counts=True)
    t, p = np.divmod(code, n)
    return t, p, count


def _ancestor_table(taxonomy: Taxonomy) -> np.ndarray:
    """``(max_depth + 1, n)``: the ancestor-or-self of every node at every depth (-1 above
    the node's own depth). Trees only."""
    ix = taxonomy.index
    every = np.arange(ix.n)
    return np.stack([ix.ancestor_at_depth(every, d) for d in range(ix.max_depth + 1)])


def node_stats(report: EvaluationReport, taxonomy: Taxonomy) -> dict[str, np.ndarray]:
    """Per node of a tree: ``support`` (samples whose truth lies in its subtree), ``hits``
    (of those, the ones whose prediction lies in it too), ``predicted`` (predictions in its
    subtree); ``recall = hits / support``, ``precision = hits / predicted`` (NaN where 0).

    A prediction above the node (an abstention to a coarser taxon) is not in its subtree: it
    counts against the node's recall, as hierarchical recall counts it."""
    t, p, w = unique_pairs(report)
    anc = _ancestor_table(taxonomy)
    n = taxonomy.index.n
    support, hits, predicted = (np.zeros(n) for _ in range(3))
    for level in anc:
        at, ap = level[t], level[p]
        has_t, has_p = at >= 0, ap >= 0
        support += np.bincount(at[has_t], w[has_t], minlength=n)
        predicted += np.bincount(ap[has_p], w[has_p], minlength=n)
        hit = has_t & (at == ap)
        hits += np.bincount(at[hit], w[hit], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
        precision = np.where(predicted > 0, hits / predicted, np.nan)
    return {
        "support": support,
        "hits": hits,
        "predicted": predicted,
        "recall": recall,
        "precision": precision,
    }


def confused_pairs(
    report: EvaluationReport, taxonomy: Taxonomy, limit: int = MAX_CONFUSED_PAIRS
) -> list[dict[str, Any]]:
    """The most frequent mistakes (true != predicted), most frequent first: count, share of
    the true class's samples, their LCA and the rank (or depth) at which the two split
    (that of the true label's ancestor just below the LCA). ``coarser`` marks a prediction
    that is an ancestor of the truth (an abstention), not a confusion with another taxon."""
    t, p, w = unique_pairs(report)
    wrong = t != p
    t, p, w = t[wrong], p[wrong], w[wrong]
    order = np.lexsort((p, t, -w))[:limit]
    t, p, w = t[order], p[order], w[order]
    ix = taxonomy.index
    per_true = np.bincount(report.components.y_true, minlength=ix.n)
    lca, below = np.full(t.size, -1), np.full(t.size, -1)  # a DAG's LCA is not unique
    lca_depth = ix.pair_stats(t, p).lca_depth if t.size else t
    if taxonomy.is_tree and t.size:
        lca = ix.lca(t, p)
        below = _ancestor_table(taxonomy)[np.minimum(ix.depth[lca] + 1, ix.max_depth), t]
    names = np.asarray(taxonomy.nodes, dtype=object)
    out = []
    for k in range(t.size):
        b = below[k]
        rank = (
            None
            if b < 0
            else (ix.rank_names[ix.rank_of[b]] if ix.rank_of[b] >= 0 else f"depth {ix.depth[b]}")
        )
        out.append(
            {
                "true": names[t[k]],
                "predicted": names[p[k]],
                "count": int(w[k]),
                "share": float(w[k] / per_true[t[k]]),
                "lca": names[lca[k]] if lca[k] >= 0 else f"depth {lca_depth[k]}",
                "split_rank": rank,
                "coarser": bool(lca_depth[k] == ix.depth[p[k]]),
                "t": int(t[k]),
                "p": int(p[k]),
            }
        )
    return out


def _tree(report: EvaluationReport, taxonomy: Taxonomy) -> dict[str, Any] | None:
    """The nodes on the paths of the true and predicted labels, with their per-node
    figures (the sunburst draws those with support; the confusion views name the rest)."""
    if not taxonomy.is_tree:
        return None
    ix = taxonomy.index
    stats = node_stats(report, taxonomy)
    keep = np.flatnonzero((stats["support"] > 0) | (stats["predicted"] > 0))
    ranks = taxonomy.ranks_of(keep)
    return {
        "id": keep.tolist(),
        "name": taxonomy.names(keep),
        "parent": ix.parent[keep].tolist(),
        "rank": [
            r if r is not None else f"depth {d}" for r, d in zip(ranks, ix.depth[keep], strict=True)
        ],
        "depth": ix.depth[keep].tolist(),
        **{k: [_num(x) for x in stats[k][keep]] for k in ("support", "hits", "predicted")},
        **{
            k: [None if np.isnan(x) else round(float(x), 6) for x in stats[k][keep]]
            for k in ("recall", "precision")
        },
    }


def _classes(report: EvaluationReport, taxonomy: Taxonomy) -> dict[str, Any]:
    """The per-class table, with each class's node id (the page filters it by subtree)."""
    table = report.per_class
    columns = [c for c in table.columns if c not in ("depth",)]
    rows = []
    ids = taxonomy.ids(list(table.index))
    for nid, (name, row) in zip(ids.tolist(), table[columns].iterrows(), strict=True):
        rows.append([nid, name, *(_num(v) if not isinstance(v, str) else v for v in row.tolist())])
    return {"columns": ["node id", "class", *columns], "rows": rows}


PER_RANK_COLUMNS = (
    "n_samples",
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "top1_accuracy",
    "ece",
)  # the rest are in the table of every metric


def _per_rank(d: dict[str, Any]) -> dict[str, Any]:
    per_rank = d.get("per_rank") or {}
    keys = [k for k in PER_RANK_COLUMNS if any(r.get(k) is not None for r in per_rank.values())]
    cis = d.get("confidence_intervals") or {}
    has_ci = any(f"per_rank/{r}/accuracy" in cis for r in per_rank)
    rows = []
    for rank, r in per_rank.items():
        ci = cis.get(f"per_rank/{rank}/accuracy") or [None, None]
        rows.append(
            [rank, *(_num(r.get(k)) for k in keys), *([_num(ci[0]), _num(ci[1])] if has_ci else [])]
        )
    labels = [metric_info(f"per_rank/r/{k}").label[2:] for k in keys]
    return {
        "columns": ["rank", *labels, *(["accuracy CI low", "accuracy CI high"] if has_ci else [])],
        "rows": rows,
    }


def _metrics(d: dict[str, Any]) -> dict[str, Any]:
    flat = flatten_metrics({**(d.get("metrics") or {}), "per_rank": d.get("per_rank") or {}})
    cis = d.get("confidence_intervals") or {}
    rows = []
    for key, val in flat.items():
        info = metric_info(key)
        ci = cis.get(key) or [None, None]
        rows.append(
            [
                info.label,
                key,
                _num(val),
                _num(ci[0]),
                _num(ci[1]),
                "higher" if info.higher_is_better else "lower",
            ]
        )
    return {"columns": ["metric", "key", "value", "CI low", "CI high", "better"], "rows": rows}


def cards(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary cards: the headline metrics present, with their intervals."""
    m, cis = d.get("metrics") or {}, d.get("confidence_intervals") or {}
    out = []
    for key in CARD_KEYS:
        if m.get(key) is None:
            continue
        info = metric_info(key)
        out.append(
            {
                "key": key,
                "label": _CARD_LABELS.get(key, info.label),
                "value": _num(m[key]),
                "ci": cis.get(key),
                "higher_is_better": info.higher_is_better,
            }
        )
    return out


def generic_sections(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Any other section of the JSON report as a table: a list of records, a dict of
    records (first column its key) or a dict of scalars."""
    out = []
    for name, val in d.items():
        if name in KNOWN_SECTIONS or not val or not isinstance(val, dict | list):
            continue
        records = (
            val
            if isinstance(val, list)
            else [
                {"key": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in val.items()
            ]
        )
        records = [r if isinstance(r, dict) else {"value": r} for r in records]
        columns: list[str] = []
        for r in records:
            columns += [k for k in r if k not in columns]
        rows = [[_cell(r.get(c)) for c in columns] for r in records]
        out.append({"title": name.replace("_", " "), "columns": columns, "rows": rows})
    return out


def _cell(v: Any) -> Any:
    if isinstance(v, dict | list):
        import json

        return json.dumps(v, default=str)
    return _num(v) if not isinstance(v, str) else v


def page_data(
    report: EvaluationReport,
    taxonomy: Taxonomy,
    inputs: dict[str, Any],
    title: str = "taxovit report",
) -> dict[str, Any]:
    """Everything the evaluation page draws, JSON-ready."""
    import taxovit

    d = report.to_dict()
    comp = report.components
    wrong = ~comp.correct
    heights = np.bincount(comp.d[wrong], minlength=1) if wrong.any() else np.zeros(0, int)
    t, p, w = unique_pairs(report)
    return {
        "title": title,
        "meta": {
            **{k: str(v) for k, v in inputs.items()},
            "taxovit": taxovit.__version__,
            "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        },
        "summary": {
            "samples": d["metrics"].get("n_samples"),
            "mistakes": d["metrics"].get("n_mistakes"),
            "taxonomy": d.get("taxonomy"),
            "bootstrap": d.get("bootstrap"),
        },
        "cards": cards(d),
        "tree": _tree(report, taxonomy),
        "classes": _classes(report, taxonomy),
        "pairs": {"t": t.tolist(), "p": p.tolist(), "n": w.tolist()},
        "confused": confused_pairs(report, taxonomy),
        "per_rank": _per_rank(d),
        "severity": {"height": np.arange(heights.size).tolist(), "count": heights.tolist()},
        "reliability": report.reliability,
        "metrics": _metrics(d),
        "notes": d.get("notes") or {},
        "sections": generic_sections(d),
    }
