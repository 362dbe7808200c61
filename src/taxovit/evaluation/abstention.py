"""``abstention=True`` / ``--abstention``: what abstaining buys (needs probabilities).

* **Risk–coverage** (selective prediction, Geifman & El-Yaniv 2017): accept the samples in
  decreasing order of confidence (the maximum probability), the given prediction standing;
  at each distinct confidence the ``coverage`` (share accepted) and ``risk`` (share of the
  accepted that are wrong); tied confidences are accepted together. ``aurc``: the mean over
  the n acceptances of the risk at which each is accepted (Geifman et al. 2019's AURC; a
  tie group's samples share its risk). The JSON keeps at most :data:`MAX_POINTS` points,
  evenly spaced in coverage (the last, full coverage, always).
* **Hierarchical back-off** (trees): for each threshold ``tau`` in :data:`TAUS` the
  confident-ancestor rule (:func:`taxovit.decide.confident_ancestor`: from the root, step to
  the child of largest marginal while it is >= tau) predicts a node; per tau the
  ``mean_depth`` of the predictions, ``accuracy`` (the prediction lies on the truth's path:
  right, if coarse), ``exact_accuracy`` (it is the truth) and ``hierarchical_precision``
  (micro; a root prediction adds nothing). At tau = 0 the walk ends at a leaf; at tau = 1 it
  stays at the root unless a child holds all the mass. ``backoff_area``: the area under
  accuracy against mean depth / max depth (trapezoids over the points sorted by depth).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.taxonomy import Taxonomy

__all__ = ["MAX_POINTS", "TAUS", "abstention_section", "backoff_curve", "risk_coverage"]

MAX_POINTS = 201
TAUS: tuple[float, ...] = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 21))


def risk_coverage(
    conf: NDArray[np.float64], wrong: NDArray[np.bool_]
) -> tuple[dict[str, list[float]], float]:
    """The risk–coverage points and the AURC (module docstring)."""
    n = conf.size
    order = np.argsort(-conf, kind="stable")
    c, w = conf[order], wrong[order].astype(np.float64)
    ends = np.append(np.flatnonzero(c[1:] != c[:-1]), n - 1)  # last index of each tie group
    accepted = ends + 1
    risk = np.cumsum(w)[ends] / accepted
    sizes = np.diff(np.append(0, accepted))
    aurc = float((risk * sizes).sum() / n)
    coverage = accepted / n
    if coverage.size > MAX_POINTS:  # thin evenly in coverage, keeping the last point
        want = np.linspace(coverage[0], 1.0, MAX_POINTS)
        keep = np.unique(np.append(np.searchsorted(coverage, want), coverage.size - 1))
        coverage, risk = coverage[keep], risk[keep]
    return {"coverage": coverage.tolist(), "risk": risk.tolist()}, aurc


def backoff_curve(
    probs: NDArray[np.float64],
    score_ids: NDArray[np.int64],
    taxonomy: Taxonomy,
    t: NDArray[np.int64],
) -> tuple[dict[str, list[float]], float]:
    """The back-off points per tau and their area (module docstring); trees only."""
    from taxovit.decide.ancestor import confident_ancestor

    ix = taxonomy.index
    size_true = ix.hset_size(t)
    cols: dict[str, list[float]] = {
        k: [] for k in ("tau", "mean_depth", "accuracy", "exact_accuracy", "hierarchical_precision")
    }
    for tau in TAUS:
        pred = confident_ancestor(probs, score_ids, taxonomy, tau)
        inter = np.minimum(ix.depth[ix.lca(t, pred)], size_true)
        size_pred = ix.hset_size(pred)
        cols["tau"].append(tau)
        cols["mean_depth"].append(float(ix.depth[pred].mean()))
        cols["accuracy"].append(float((ix.lca(t, pred) == pred).mean()))
        cols["exact_accuracy"].append(float((pred == t).mean()))
        cols["hierarchical_precision"].append(
            float(inter.sum() / size_pred.sum()) if size_pred.sum() else 1.0
        )
    depth = np.asarray(cols["mean_depth"]) / max(ix.max_depth, 1)
    acc = np.asarray(cols["accuracy"])
    order = np.argsort(depth, kind="stable")
    area = float(np.trapezoid(acc[order], depth[order])) if depth.size > 1 else 0.0
    return cols, area


def abstention_section(
    probs: NDArray[np.float64] | None,
    score_ids: NDArray[np.int64] | None,
    taxonomy: Taxonomy,
    t: NDArray[np.int64],
    p: NDArray[np.int64],
) -> dict[str, Any]:
    """The report's ``abstention`` section; ``note`` says what is missing without
    probabilities or on a DAG."""
    if probs is None or score_ids is None:
        return {"note": "no probabilities: the predictions need a score for every class"}
    curve, aurc = risk_coverage(probs.max(axis=1), t != p)
    out: dict[str, Any] = {
        "confidence": "maximum probability",
        "aurc": aurc,
        "risk_coverage": curve,
    }
    if not taxonomy.is_tree:
        return out | {"note": "no back-off curve: the confident-ancestor rule needs a tree"}
    back, area = backoff_curve(probs, score_ids, taxonomy, t)
    return out | {"backoff_area": area, "backoff": back}
