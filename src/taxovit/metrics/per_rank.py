"""Per-rank metrics: labels projected to one rank of the taxonomy, then scored flat.

``per_rank_metrics`` answers "how good is the model at the genus level, at the family
level?" Labels are node names or ids; the projection is the ancestor-or-self at the rank
(:meth:`taxovit.taxonomy.index.TaxonomyIndex.ancestor_at_rank`), coded once into
:class:`RankCodes` so that a bootstrap re-weights the same codes (:func:`rank_scores`).
Definitions: the project's Metrics page (``docs/metrics.md``, ``per_rank``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from taxovit.metrics._common import SampleWeights, dense_codes, label_ids
from taxovit.metrics.flat import counts_from_codes, prf_from_counts
from taxovit.metrics.table import value_of
from taxovit.taxonomy import Taxonomy

__all__ = [
    "RankCodes",
    "per_rank_metrics",
    "project_to_rank",
    "rank_codes",
    "rank_codes_of_labels",
    "rank_scores",
]

_RANK_KEYS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
)


def project_to_rank(y: ArrayLike, taxonomy: Taxonomy, rank: str) -> NDArray[np.int64]:
    """Ancestor-or-self of each label at ``rank``.

    Parameters
    ----------
    y : array-like of str or int, shape (n,)
        Labels: node names or node ids of ``taxonomy``.
    taxonomy : Taxonomy
        The taxonomy; ``rank`` must be one of its rank names.
    rank : str
        The rank to project to.

    Returns
    -------
    ndarray of int64, shape (n,)
        Node ids; ``-1`` where the label has no ancestor-or-self at ``rank`` (it is coarser
        or on a path without that rank).  In a DAG the nearest such ancestor wins, then the
        smallest id.

    Raises
    ------
    ArgumentError
        A label that is not a node of the taxonomy, or an unknown rank.

    Examples
    --------
    >>> tax = Taxonomy.from_edges(
    ...     [("Aves", "Corvidae"), ("Corvidae", "Corvus"), ("Aves", "Picidae")],
    ...     ranks={"Corvidae": "family", "Picidae": "family", "Corvus": "genus"})
    >>> tax.names(project_to_rank(["Corvus", "Corvidae"], tax, "family"))
    ['Corvidae', 'Corvidae']
    >>> project_to_rank(["Aves"], tax, "family")  # coarser than a family
    array([-1])
    """
    return taxonomy.index.ancestor_at_rank(label_ids(taxonomy, y), rank)


def per_rank_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    taxonomy: Taxonomy,
    ranks: list[str] | None = None,
) -> dict[str, dict[str, float | int]]:
    """Flat metrics after projecting true and predicted labels to each rank.

    For rank r, samples whose true label has no ancestor-or-self at r (it is coarser) are
    left out (``n_samples`` counts the rest); a prediction with no ancestor at r (too
    coarse) is a miss: a false negative for the true class and a false positive for no
    class, as scikit-learn does for a label outside ``labels=``.

    Parameters
    ----------
    y_true, y_pred : array-like of str or int, shape (n,)
        True and predicted labels (node names or ids).
    taxonomy : Taxonomy
        The taxonomy with ranks.
    ranks : list of str, optional
        The ranks to report; default every rank of the taxonomy.

    Returns
    -------
    dict
        ``{rank: {"n_samples", "accuracy", "precision_macro", "recall_macro", "f1_macro",
        "precision_weighted", "recall_weighted", "f1_weighted"}}``, the averages over the
        classes of rank r seen in either projected array (0/0 = 0).

    Raises
    ------
    ArgumentError
        An unknown label or rank.

    References
    ----------
    The Metrics page, key ``per_rank``; each rank's numbers equal scikit-learn's
    ``accuracy_score`` and ``precision_recall_fscore_support(zero_division=0)`` on the
    projected labels (tested).

    Examples
    --------
    >>> tax = Taxonomy.from_edges(
    ...     [("Aves", "Corvidae"), ("Corvidae", "Corvus"), ("Corvidae", "Pica"),
    ...      ("Aves", "Picidae"), ("Picidae", "Picus")],
    ...     ranks={"Corvidae": "family", "Picidae": "family", "Corvus": "genus",
    ...            "Pica": "genus", "Picus": "genus"})
    >>> m = per_rank_metrics(["Corvus", "Pica", "Picus"], ["Pica", "Pica", "Picus"], tax)
    >>> m["family"]["accuracy"], m["genus"]["accuracy"], m["genus"]["n_samples"]
    (1.0, 0.666..., 3)
    """
    t = label_ids(taxonomy, y_true)
    p = label_ids(taxonomy, y_pred)
    out: dict[str, dict[str, float | int]] = {}
    for rank in ranks if ranks is not None else taxonomy.rank_names:
        tr = project_to_rank(t, taxonomy, rank)
        pr = project_to_rank(p, taxonomy, rank)
        out[rank] = rank_scores(rank_codes(tr, pr))
    return out


class RankCodes(NamedTuple):
    """Labels projected to one rank, coded once (they do not change between resamples).

    Attributes
    ----------
    keep : ndarray of bool, shape (n,)
        The samples whose truth has an ancestor at the rank; the other fields cover those.
    it, ip : ndarray of int, shape (n_kept,)
        Dense codes of the projected truth and prediction.
    correct : ndarray of bool, shape (n_kept,)
        Whether the projections agree.
    has_pred : ndarray of bool, shape (n_kept,)
        Whether the prediction reaches the rank.
    k : int
        The number of codes.

    Examples
    --------
    >>> rank_codes(np.array([5, 7]), np.array([5, 5])).correct
    array([ True, False])
    """

    keep: NDArray[np.bool_]
    it: NDArray[np.integer]
    ip: NDArray[np.integer]
    correct: NDArray[np.bool_]
    has_pred: NDArray[np.bool_]
    k: int


def rank_codes(tr: NDArray[np.int64], pr: NDArray[np.int64]) -> RankCodes:
    """Code projected ids for :func:`rank_scores`.

    Parameters
    ----------
    tr, pr : ndarray of int64, shape (n,)
        The projected true and predicted node ids (:func:`project_to_rank`; ``-1`` = no
        ancestor at the rank).

    Returns
    -------
    RankCodes
        Dense codes over the samples whose truth reaches the rank.

    Examples
    --------
    >>> c = rank_codes(np.array([5, 5, 7, -1]), np.array([5, -1, 5, 7]))
    >>> c.keep, c.correct, c.has_pred, c.k
    (array([ True,  True,  True, False]), array([ True, False, False]), array([ True, False,  True]), 3)
    """
    keep = tr >= 0
    tr, pr = tr[keep], pr[keep]
    if tr.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RankCodes(keep, empty, empty, empty.astype(bool), empty.astype(bool), 0)
    # -1 shifts to code 0 of the dense coding; it is never a true label and never counted
    inv = dense_codes(np.concatenate([tr, pr]) + 1, int(max(tr.max(), pr.max())) + 2)
    return RankCodes(keep, inv[: tr.size], inv[tr.size :], tr == pr, pr >= 0, int(inv.max()) + 1)


def rank_codes_of_labels(
    anc: NDArray[np.int64],
    inv_t: NDArray[np.int64],
    inv_p: NDArray[np.int64],
    is_truth: NDArray[np.bool_],
) -> RankCodes:
    """``rank_codes(anc[inv_t], anc[inv_p])``, coded once per distinct label, not per sample.

    When every truth reaches the rank the dense codes of the labels' ancestors are the
    samples' codes (the same values, in the same order): two gathers per rank instead of a
    dense coding of 2n values; otherwise :func:`rank_codes` decides which samples count.

    Parameters
    ----------
    anc : ndarray of int64, shape (L,)
        Each distinct label's ancestor at the rank (``-1``: none).
    inv_t, inv_p : ndarray of int64, shape (n,)
        The samples' label codes into ``anc``; every code is used by one of them.
    is_truth : ndarray of bool, shape (L,)
        The codes used by a truth.

    Returns
    -------
    RankCodes
        Equal to :func:`rank_codes` of the gathered ids (tested).

    Examples
    --------
    >>> anc = np.array([5, 7, -1])
    >>> c = rank_codes_of_labels(anc, np.array([0, 1]), np.array([0, 2]), np.array([True, True, False]))
    >>> c.correct, c.has_pred
    (array([ True, False]), array([ True, False]))
    """
    if not (anc[is_truth] >= 0).all():
        return rank_codes(anc[inv_t], anc[inv_p])
    # -1 (no ancestor) -> code 0, if present; int32 codes (fewer than a taxonomy's nodes):
    # half the memory of n samples x ranks
    code = dense_codes(anc + 1, int(anc.max()) + 2).astype(np.int32)
    it, ip = code[inv_t], code[inv_p]
    has_pred = ip > 0 if (anc < 0).any() else np.ones(it.size, dtype=bool)
    return RankCodes(np.ones(it.size, dtype=bool), it, ip, it == ip, has_pred, int(code.max()) + 1)


def rank_scores(codes: RankCodes, w: SampleWeights | None = None) -> dict[str, float | int]:
    """The numbers of one rank in :func:`per_rank_metrics`, from its codes.

    Parameters
    ----------
    codes : RankCodes
        From :func:`rank_codes` or :func:`rank_codes_of_labels`.
    w : SampleWeights, optional
        Sample weights over all samples (a bootstrap resample); default 1 each.

    Returns
    -------
    dict
        ``n_samples`` (the weighted count of kept samples, rounded), ``accuracy`` and the
        macro and weighted precision/recall/F1; a too-coarse prediction is nobody's false
        positive.

    Examples
    --------
    >>> r = rank_scores(rank_codes(np.array([5, 5, 7]), np.array([5, -1, 7])))
    >>> r["n_samples"], r["accuracy"], r["recall_macro"]
    (3, 0.666..., 0.75)
    """
    w = SampleWeights(None, codes.keep.size) if w is None else w
    w = w.take(codes.keep)
    res: dict[str, float | int] = {"n_samples": int(round(w.total))}
    if codes.k == 0:
        return res | {key: 0.0 for key in _RANK_KEYS}
    tp, fp, fn, support = counts_from_codes(codes.it, codes.ip, codes.k, w, codes.has_pred)
    res["accuracy"] = value_of(
        "per_rank/r/accuracy", {"rank_correct/r": w.dot(codes.correct), "rank_keep/r": w.total}
    )
    for avg in ("macro", "weighted"):
        pm, rm, fm = prf_from_counts(tp, fp, fn, support, avg)
        res[f"precision_{avg}"], res[f"recall_{avg}"], res[f"f1_{avg}"] = pm, rm, fm
    return res
