"""PNG plots for ``taxovit evaluate --plot DIR`` (matplotlib, imported only when plotting)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from taxovit.evaluation import EvaluationReport
from taxovit.metrics.hierarchical import components
from taxovit.taxonomy import Taxonomy

MAX_CONFUSION_CLASSES = 40


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless; never opens a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def default_confusion_rank(taxonomy: Taxonomy) -> str | None:
    """The finest rank with at most MAX_CONFUSION_CLASSES taxa (readable), else the coarsest."""
    if not taxonomy.rank_names:
        return None
    counts = taxonomy.summary()["ranks"]
    small = [r for r in taxonomy.rank_names if counts[r] <= MAX_CONFUSION_CLASSES]
    return small[-1] if small else taxonomy.rank_names[0]


def write_plots(
    report: EvaluationReport,
    taxonomy: Taxonomy,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    out_dir: str | os.PathLike[str],
    rank: str | None = None,
) -> list[Path]:
    """Write accuracy per rank, the mistake-severity histogram and a confusion matrix at a rank.

    Returns the files written. Each file is written atomically.
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    # 1. accuracy per rank (or per depth when the taxonomy has no ranks)
    if report.per_rank:
        labels = list(report.per_rank)
        values = [report.per_rank[r].get("accuracy", 0.0) for r in labels]
        xlabel = "rank"
    else:
        levels = report.metrics.get("per_level_accuracy") or {}
        labels, values, xlabel = list(levels), list(levels.values()), "depth"
    if labels:
        fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(labels)), 3.5))
        bars = ax.bar(labels, values, color="#4C72B0")
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy")
        ax.set_title("Accuracy per " + xlabel)
        path = out / "accuracy_per_rank.png"
        _save(fig, path)
        plt.close(fig)
        written.append(path)

    # 2. histogram of mistake severity (LCA height over mistakes)
    comp = components(y_true, y_pred, taxonomy)
    d = comp.d[~comp.correct]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if d.size:
        bins = np.arange(0, int(d.max()) + 2) - 0.5
        ax.hist(d, bins=bins, color="#C44E52", rwidth=0.85)
        ax.set_xticks(range(0, int(d.max()) + 1))
    ax.set_xlabel("height of LCA(true, predicted)")
    ax.set_ylabel("mistakes")
    sev = report.metrics.get("mistake_severity")
    ax.set_title(f"Mistake severity (mean {sev:.3f})" if sev is not None else "No mistakes")
    path = out / "mistake_severity.png"
    _save(fig, path)
    plt.close(fig)
    written.append(path)

    # 3. confusion matrix with labels projected to a rank (or to depth 1 without ranks)
    rank = rank or default_confusion_rank(taxonomy)
    if rank is not None:
        t = taxonomy.index.ancestor_at_rank(comp.y_true, rank)
        p = taxonomy.index.ancestor_at_rank(comp.y_pred, rank)
        title_rank = rank
    elif taxonomy.is_tree and taxonomy.index.max_depth >= 1:
        t = taxonomy.index.ancestor_at_depth(comp.y_true, 1)
        p = taxonomy.index.ancestor_at_depth(comp.y_pred, 1)
        title_rank = "depth 1"
    else:
        return written
    keep = t >= 0
    t, p = t[keep], p[keep]
    classes = np.unique(t)
    if classes.size == 0:
        return written
    if classes.size > MAX_CONFUSION_CLASSES:
        top = np.argsort(-np.bincount(np.searchsorted(classes, t)), kind="stable")
        classes = np.sort(classes[top[:MAX_CONFUSION_CLASSES]])
    k = classes.size
    ti = np.searchsorted(classes, t)
    pi = np.searchsorted(classes, p)
    known_t = (ti < k) & (classes[np.minimum(ti, k - 1)] == t)
    known_p = (pi < k) & (p >= 0) & (classes[np.minimum(pi, k - 1)] == p)
    # last column collects predictions outside the shown classes (other taxa or too coarse)
    col = np.where(known_p, pi, k)
    mat = np.zeros((k, k + 1))
    np.add.at(mat, (ti[known_t], col[known_t]), 1)
    rows = mat.sum(axis=1, keepdims=True)
    norm = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
    names = taxonomy.names(classes)
    size = max(5.0, 0.28 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k + 1), [*names, "(coarser/other)"], rotation=90, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel(f"predicted {title_rank}")
    ax.set_ylabel(f"true {title_rank}")
    ax.set_title(f"Confusion at {title_rank} (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    safe = "".join(ch if ch.isalnum() else "_" for ch in title_rank)
    path = out / f"confusion_{safe}.png"
    _save(fig, path)
    plt.close(fig)
    written.append(path)
    return written
