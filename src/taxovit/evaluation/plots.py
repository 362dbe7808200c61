"""PNG plots for ``taxovit evaluate --plot DIR`` (matplotlib, imported only when plotting).

Every plot is drawn from the report alone: the per-sample quantities the metrics were
computed from travel with it (:attr:`EvaluationReport.components`).
"""

from __future__ import annotations

import io

import numpy as np

from taxovit.errors import TaxovitError
from taxovit.evaluation.report import EvaluationReport
from taxovit.metrics.hierarchical import HierarchicalComponents
from taxovit.taxonomy import Taxonomy

__all__ = [
    "MAX_CONFUSION_CLASSES",
    "check_plot_rank",
    "default_confusion_rank",
    "draw_plots",
    "plot_names",
]

MAX_CONFUSION_CLASSES = 40


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless; never opens a window
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def default_confusion_rank(taxonomy: Taxonomy) -> str | None:
    """The finest rank with at most MAX_CONFUSION_CLASSES taxa (readable), else the coarsest."""
    if not taxonomy.rank_names:
        return None
    counts = taxonomy.summary()["ranks"]
    small = [r for r in taxonomy.rank_names if counts[r] <= MAX_CONFUSION_CLASSES]
    return small[-1] if small else taxonomy.rank_names[0]


def check_plot_rank(taxonomy: Taxonomy, rank: str | None, source: str = "the taxonomy") -> None:
    """Raise :class:`TaxovitError` unless ``rank`` is ``None`` or a rank of ``taxonomy``."""
    if rank is not None and rank not in taxonomy.rank_names:
        raise TaxovitError(
            f"--plot-rank {rank!r} is not a rank of {source}; it has "
            f"{', '.join(taxonomy.rank_names) or 'no ranks'}"
        )


def plot_names(taxonomy: Taxonomy, rank: str | None = None) -> list[str]:
    """The file names :func:`draw_plots` may produce (so outputs can be checked first)."""
    return [
        "accuracy_per_rank.png",
        "mistake_severity.png",
        _confusion_name(taxonomy, rank),
        "reliability.png",
    ]


def _confusion_name(taxonomy: Taxonomy, rank: str | None) -> str:
    title = rank or default_confusion_rank(taxonomy) or "depth 1"
    return "confusion_" + "".join(ch if ch.isalnum() else "_" for ch in title) + ".png"


def draw_plots(
    report: EvaluationReport, taxonomy: Taxonomy, rank: str | None = None
) -> dict[str, bytes]:
    """Accuracy per rank, the mistake-severity histogram, a confusion matrix at ``rank``
    (default :func:`default_confusion_rank`) and, with scores, the reliability diagram,
    as ``{file name: PNG bytes}``."""
    check_plot_rank(taxonomy, rank)
    if report.components is None:
        raise ValueError("this report holds no per-sample data to plot")
    drawn = [_accuracy_plot(report), _severity_plot(report)]
    drawn += [_confusion_plot(report.components, taxonomy, rank), _reliability_plot(report)]
    return dict(d for d in drawn if d is not None)


def _accuracy_plot(report: EvaluationReport) -> tuple[str, bytes] | None:
    """Accuracy per rank (or per depth when the taxonomy has no ranks)."""
    if report.per_rank:
        labels = list(report.per_rank)
        values = [report.per_rank[r].get("accuracy", 0.0) for r in labels]
        xlabel = "rank"
    else:
        levels = report.metrics.get("per_level_accuracy") or {}
        labels, values, xlabel = list(levels), list(levels.values()), "depth"
    if not labels:
        return None
    fig, ax = _pyplot().subplots(figsize=(max(4, 1.1 * len(labels)), 3.5))
    bars = ax.bar(labels, values, color="#4C72B0")
    ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(xlabel)
    from taxovit.metrics.table import label  # the metric table's labels

    ax.set_ylabel(label("accuracy"))
    ax.set_title("Accuracy per " + xlabel)
    return "accuracy_per_rank.png", _png(fig)


def _severity_plot(report: EvaluationReport) -> tuple[str, bytes]:
    """Histogram of the mistakes' LCA heights."""
    comp = report.components
    d = comp.d[~comp.correct]
    fig, ax = _pyplot().subplots(figsize=(5, 3.5))
    if d.size:
        bins = np.arange(0, int(d.max()) + 2) - 0.5
        ax.hist(d, bins=bins, color="#C44E52", rwidth=0.85)
        ax.set_xticks(range(0, int(d.max()) + 1))
    ax.set_xlabel("height of LCA(true, predicted)")
    ax.set_ylabel("mistakes")
    sev = report.metrics.get("mistake_severity")
    from taxovit.metrics.table import label  # the metric table's labels

    shown = label("mistake_severity").capitalize()
    ax.set_title(f"{shown} (mean {sev:.3f})" if sev is not None else "No mistakes")
    return "mistake_severity.png", _png(fig)


def _reliability_plot(report: EvaluationReport) -> tuple[str, bytes] | None:
    """Accuracy against mean confidence per confidence bin (Guo et al. 2017), with counts."""
    rel = report.reliability
    if not rel:
        return None
    conf, acc, count = (np.asarray(rel[k]) for k in ("confidence", "accuracy", "count"))
    used = count > 0
    fig, ax = _pyplot().subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    ax.plot(conf[used], acc[used], marker="o", color="#4C72B0", label="observed")
    for x, y, c in zip(conf[used], acc[used], count[used], strict=True):
        ax.annotate(f"{int(c)}", (x, y), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top-1 probability)")
    ax.set_ylabel("accuracy")
    ece = report.metrics.get("ece")
    ax.set_title("Reliability" + (f" (ECE {ece:.3f})" if ece is not None else ""))
    ax.legend(loc="upper left", fontsize=8)
    return "reliability.png", _png(fig)


def _projected(comp: HierarchicalComponents, taxonomy: Taxonomy, rank: str | None):
    """(true, predicted, title) projected to ``rank``, or to depth 1 without ranks."""
    rank = rank or default_confusion_rank(taxonomy)
    ix = taxonomy.index
    if rank is not None:
        return ix.ancestor_at_rank(comp.y_true, rank), ix.ancestor_at_rank(comp.y_pred, rank), rank
    if taxonomy.is_tree and ix.max_depth >= 1:
        return ix.ancestor_at_depth(comp.y_true, 1), ix.ancestor_at_depth(comp.y_pred, 1), "depth 1"
    return None


def _confusion_matrix(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shown classes, row-normalised matrix); the last column collects predictions outside
    the shown classes (other taxa or too coarse)."""
    classes = np.unique(t)
    if classes.size > MAX_CONFUSION_CLASSES:
        top = np.argsort(-np.bincount(np.searchsorted(classes, t)), kind="stable")
        classes = np.sort(classes[top[:MAX_CONFUSION_CLASSES]])
    k = classes.size
    ti = np.searchsorted(classes, t)
    pi = np.searchsorted(classes, p)
    known_t = (ti < k) & (classes[np.minimum(ti, k - 1)] == t)
    known_p = (pi < k) & (p >= 0) & (classes[np.minimum(pi, k - 1)] == p)
    col = np.where(known_p, pi, k)
    mat = np.zeros((k, k + 1))
    np.add.at(mat, (ti[known_t], col[known_t]), 1)
    rows = mat.sum(axis=1, keepdims=True)
    return classes, np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)


def _confusion_plot(
    comp: HierarchicalComponents, taxonomy: Taxonomy, rank: str | None
) -> tuple[str, bytes] | None:
    """Confusion matrix with labels projected to a rank (or to depth 1 without ranks)."""
    projected = _projected(comp, taxonomy, rank)
    if projected is None:
        return None
    t, p, title_rank = projected
    keep = t >= 0
    if not keep.any():
        return None
    classes, norm = _confusion_matrix(t[keep], p[keep])
    k = classes.size
    names = taxonomy.names(classes)
    size = max(5.0, 0.28 * k + 2)
    fig, ax = _pyplot().subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k + 1), [*names, "(coarser/other)"], rotation=90, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel(f"predicted {title_rank}")
    ax.set_ylabel(f"true {title_rank}")
    ax.set_title(f"Confusion at {title_rank} (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _confusion_name(taxonomy, rank), _png(fig)
