"""``known=`` / ``--known FILE|auto``: novel taxa and the model's label set (open set).

``known`` names the model's classes: ``auto`` (its score columns), a file (one taxon per
line, or a CSV/TSV with a ``taxon`` column; each name is one class, not its subtree) or a
list of names. A node the model can name is a known class or an ancestor of one (it can
back off to it). A sample whose truth is not such a node is **novel** (a new species under
a known genus, added to the taxonomy); its best possible answer is its **deepest known
ancestor** (the deepest ancestor the model can name). A prediction of the root, or of the
node named ``unknown_label`` (default ``unknown``; it must then be a node of the taxonomy,
e.g. a child of the root), is an explicit "unknown". Trees only.

Rows of the metric table (per-sample sums: bootstrap intervals, compare):

* ``n_known``, ``n_novel``; ``known_accuracy`` (exact, over known samples);
  ``known_unknown_rate`` (known samples answered "unknown");
* ``novel_ancestor_accuracy``: novel samples predicted at their deepest known ancestor (an
  explicit unknown counts when that ancestor is the root);
* ``novel_unknown_rate``: novel samples answered "unknown";
* ``novel_known_class_rate``: novel samples named as a known class (a confident wrong
  species: the failure open-set evaluation looks for);
* ``novel_hierarchical_{precision,recall,f1}``: micro hierarchical P/R/F of the prediction
  against the deepest known ancestor (ancestor sets without the root; "unknown" = root).

With probabilities the ``novel`` section adds ``auroc`` and ``fpr_at_95_tpr`` of telling
known (positive) from novel samples by the maximum probability (scikit-learn's
``roc_auc_score`` and ``roc_curve``; FPR at the first threshold reaching 95 % TPR), as the
open-set literature and biobench report them; ``null`` unless both kinds are present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError, InputError
from taxovit.taxonomy import Taxonomy

__all__ = ["Known", "as_known", "novel_columns", "novel_section", "read_known"]


@dataclass(frozen=True)
class Known:
    """``classes[node]``: a known class; ``reach[node]``: a class or an ancestor of one."""

    source: str
    classes: NDArray[np.bool_]
    reach: NDArray[np.bool_]
    unknown_label: str


def _reach(taxonomy: Taxonomy, classes: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Every known class and its ancestors: a walk up the parent array, one layer at a time."""
    parent = taxonomy.index.parent
    reach = classes.copy()
    frontier = np.flatnonzero(classes)
    while frontier.size:
        up = parent[frontier]
        up = np.unique(up[up >= 0])
        frontier = up[~reach[up]]
        reach[frontier] = True
    return reach


def read_known(taxonomy: Taxonomy, path: str | os.PathLike[str]) -> NDArray[np.int64]:
    """The node ids a known-classes file lists (names located on error)."""
    from taxovit.evaluation.subset import _checklist_names

    path = Path(path)
    listed = _checklist_names(path)
    if not listed:
        raise InputError("the file names no class", file=str(path))
    lookup = taxonomy.name_to_id
    for name, line, column in listed:
        if name not in lookup:
            raise InputError(
                f"{name!r} is not a node of the taxonomy", file=str(path), row=line, column=column
            )
    return np.fromiter((lookup[n] for n, _, _ in listed), np.int64, len(listed))


def as_known(
    taxonomy: Taxonomy,
    known: Any,
    score_ids: NDArray[np.int64] | None,
    unknown_label: str = "unknown",
) -> Known:
    """``known`` (``"auto"``, a file, names or a :class:`Known`) as a :class:`Known`."""
    if isinstance(known, Known):
        return known
    if not taxonomy.is_tree:
        raise ArgumentError(
            "known= (novel taxa) needs a tree: a DAG has no single deepest known ancestor"
        )
    if isinstance(known, str) and known == "auto":
        if score_ids is None:
            raise ArgumentError(
                "known='auto' takes the score columns as the known classes, "
                "but the predictions have no scores; give a file of classes"
            )
        ids, source = score_ids, "score columns"
    elif isinstance(known, str | os.PathLike):
        ids, source = read_known(taxonomy, known), os.fspath(known)
    else:
        from taxovit.metrics import node_ids

        ids, source = node_ids(taxonomy, np.asarray(known).ravel(), "known"), "list"
    classes = np.zeros(len(taxonomy.nodes), dtype=bool)
    classes[ids] = True
    return Known(source, classes, _reach(taxonomy, classes), unknown_label)


def _deepest_known_ancestor(
    known: Known, taxonomy: Taxonomy, t: NDArray[np.int64]
) -> NDArray[np.int64]:
    parent, a = taxonomy.index.parent, t.copy()
    while (up := ~known.reach[a] & (parent[a] >= 0)).any():
        a[up] = parent[a[up]]
    return a


def novel_columns(
    known: Known, t: NDArray[np.int64], p: NDArray[np.int64], taxonomy: Taxonomy
) -> dict[str, NDArray[np.float64]]:
    """The per-sample statistics of the ``novel`` rows (module docstring)."""
    ix = taxonomy.index
    unknown = p == ix.root
    if known.unknown_label in taxonomy:
        unknown |= p == taxonomy.id_of(known.unknown_label)
    is_known = known.reach[t]
    novel = ~is_known
    anc = _deepest_known_ancestor(known, taxonomy, t)
    p_eff = np.where(unknown, ix.root, p)
    stats = ix.pair_stats(anc, p_eff)
    f = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
    return {
        "known": f(is_known),
        "novel": f(novel),
        "known_correct": f(is_known & (t == p)),
        "known_unknown": f(is_known & unknown),
        "novel_at_ancestor": f(novel & ((p == anc) | (unknown & (anc == ix.root)))),
        "novel_unknown": f(novel & unknown),
        "novel_known_class": f(novel & known.classes[p]),
        "novel_inter": f(novel * (stats.n_common - 1)),
        "novel_size_pred": f(novel * ix.hset_size(p_eff)),
        "novel_size_anc": f(novel * ix.hset_size(anc)),
    }


def _detection(is_known: NDArray[np.bool_], probs: NDArray[np.float64] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "detection_score": "maximum probability",
        "auroc": None,
        "fpr_at_95_tpr": None,
    }
    if probs is None or is_known.all() or not is_known.any():
        return out
    from sklearn.metrics import roc_auc_score, roc_curve

    conf = probs.max(axis=1)
    fpr, tpr, _ = roc_curve(is_known, conf)
    out["auroc"] = float(roc_auc_score(is_known, conf))
    out["fpr_at_95_tpr"] = float(fpr[np.searchsorted(tpr, 0.95, side="left")])
    return out


def novel_section(
    known: Known,
    columns: dict[str, NDArray],
    probs: NDArray[np.float64] | None,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """The report's ``novel`` section: where the classes came from, the rows' values (copied
    from the report's metrics) and, with probabilities, the open-set detection."""
    from taxovit.metrics.table_questions import NOVEL_METRICS

    head = {
        "known_classes": known.source,
        "n_known_classes": int(known.classes.sum()),
        "unknown_label": known.unknown_label,
    }
    values = {row.key: metrics.get(row.key) for row in NOVEL_METRICS}
    return head | values | _detection(columns["known"] > 0, probs)
