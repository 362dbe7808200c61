"""``subset=`` / ``--subset NODE|FILE``: evaluate only the classes of a clade or a checklist.

The subset is a set of taxonomy nodes: a node name stands for its whole subtree (a clade),
a checklist file lists names one per line (each again standing for its subtree; ``#``
comments and blank lines skipped), or a ``.csv``/``.tsv`` checklist with a header names them
in its ``taxon`` column (else its first column). A name that is no node is an error naming
the file, its line and column.

Then, before any metric:

* samples whose **truth** lies outside the subset are dropped (counted in the report's
  ``subset`` section, ``n_samples_dropped``); predictions are left as they are (a prediction
  outside the subset is a mistake like any other, counted in ``n_predicted_outside``);
* score columns of classes outside the subset are removed; with probabilities each row is
  divided by the mass left on the kept columns; a row whose whole mass was outside
  (sum 0 after the cut) becomes **uniform** over the kept columns, counted in
  ``n_rows_no_mass`` (its top-k is then decided by the tie rule; with logits softmax
  renormalises by itself and no row can lose all its mass); when no column is cut the
  scores are passed as given;
* ranked candidates outside the subset are removed, the rest moved up (their scores too,
  not renormalised: they are a partial list).

Every metric, per-rank marginals included, is then computed as usual on what is left: the
marginals are the same scatter-add over the compiled index, over fewer columns. A subset
that is the whole taxonomy (its root) gives exactly the plain report plus this section.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError, InputError
from taxovit.taxonomy import Taxonomy
from taxovit.taxonomy.text_input import read_text

__all__ = ["Restricted", "Subset", "read_subset", "restrict", "subtree_mask"]

#: the checklist column read from a CSV/TSV with a header (else its first column)
CHECKLIST_COLUMN = "taxon"


@dataclass(frozen=True)
class Subset:
    """The nodes of a subset: ``mask[node]`` is True inside; ``spec`` says where it came
    from (a node name or a file), ``n_listed`` how many names gave it."""

    spec: str
    mask: NDArray[np.bool_]
    n_listed: int


def subtree_mask(taxonomy: Taxonomy, roots: NDArray[np.int64]) -> NDArray[np.bool_]:
    """True at every node under (or equal to) one of ``roots``: a layer-by-layer walk down
    the compiled child index (CSR), vectorised over each layer."""
    ix = taxonomy.index
    mask = np.zeros(ix.n, dtype=bool)
    frontier = np.unique(np.asarray(roots, dtype=np.int64))
    while frontier.size:
        mask[frontier] = True
        start, stop = ix.child_ptr[frontier], ix.child_ptr[frontier + 1]
        lengths = stop - start
        if not lengths.sum():
            break
        offsets = np.repeat(start - np.cumsum(lengths) + lengths, lengths)
        children = ix.child_idx[offsets + np.arange(lengths.sum())]
        frontier = np.unique(children[~mask[children]])
    return mask


def _checklist_names(path: Path) -> list[tuple[str, int, str | None]]:
    """``(name, line, column)`` of each listed name of a checklist file."""
    text = read_text(path, what="a checklist", empty_ok=True)
    lines = text.splitlines()
    if path.suffix.lower() not in (".csv", ".tsv"):
        return [
            (s, i, None)
            for i, line in enumerate(lines, 1)
            if (s := line.strip()) and not s.startswith("#")
        ]
    rows = list(csv.reader(lines, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    if not rows or not rows[0]:
        raise InputError("empty checklist: expected a header line", file=str(path), row=1)
    header = [h.strip() for h in rows[0]]
    col = header.index(CHECKLIST_COLUMN) if CHECKLIST_COLUMN in header else 0
    out = []
    for i, row in enumerate(rows[1:], 2):
        if len(row) <= col:
            if any(c.strip() for c in row):
                raise InputError("too few fields", file=str(path), row=i, column=header[col])
            continue
        if name := row[col].strip():
            out.append((name, i, header[col]))
    return out


def read_subset(taxonomy: Taxonomy, spec: str | os.PathLike[str]) -> Subset:
    """The :class:`Subset` a node name or a checklist file names (a node name wins over a
    file of the same name). Unknown names raise :class:`~taxovit.errors.InputError` naming
    the file, line and column; a spec that is neither a node nor a file an
    :class:`~taxovit.errors.ArgumentError`."""
    text = os.fspath(spec)
    if isinstance(spec, str) and text in taxonomy:
        root = np.array([taxonomy.id_of(text)])
        return Subset(text, subtree_mask(taxonomy, root), 1)
    path = Path(text)
    if not path.is_file():
        raise ArgumentError(
            f"subset {text!r} is neither a node of the taxonomy nor a checklist file"
        )
    listed = _checklist_names(path)
    if not listed:
        raise InputError("the checklist names no taxon", file=str(path))
    lookup = taxonomy.name_to_id
    for name, line, column in listed:
        if name not in lookup:
            raise InputError(
                f"{name!r} is not a node of the taxonomy", file=str(path), row=line, column=column
            )
    ids = np.fromiter((lookup[n] for n, _, _ in listed), np.int64, len(listed))
    return Subset(str(path), subtree_mask(taxonomy, ids), len(listed))


@dataclass
class Restricted:
    """The inputs of :func:`taxovit.evaluate` cut to a subset, and the report's section."""

    y_true: NDArray[np.int64]
    y_pred: NDArray[np.int64]
    scores: NDArray[np.float64] | None
    score_labels: NDArray[np.int64] | None
    ranked: NDArray[np.int64] | None
    ranked_scores: NDArray[np.float64] | None
    section: dict[str, Any]
    keep: NDArray[np.bool_]  # the samples kept, over the inputs' rows


def _cut_scores(
    s: NDArray[np.float64], rows: NDArray[np.int64], keep_col: NDArray[np.bool_], score_kind: str
) -> tuple[NDArray[np.float64], int]:
    """The kept rows and columns (one gather), rows renormalised (probabilities) in place,
    and the rows with no mass left."""
    if keep_col.all():  # nothing cut: the scores as given (a row rescaled would change mAP)
        return s[rows], 0
    kept = s[np.ix_(rows, np.flatnonzero(keep_col))]
    if score_kind == "logits":
        return kept, 0
    total = kept.sum(axis=1)
    empty = ~(total > 0)
    np.divide(kept, np.where(empty, 1.0, total)[:, None], out=kept)
    kept[empty] = 1.0 / kept.shape[1]
    return kept, int(empty.sum())


def _cut_ranked(
    ranked: NDArray[np.int64], rs: NDArray[np.float64] | None, mask: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.float64] | None]:
    """Candidates outside the subset removed, the rest moved up (a stable sort on the cut)."""
    out = (ranked < 0) | ~mask[np.maximum(ranked, 0)]
    order = np.argsort(out, axis=1, kind="stable")
    r = np.take_along_axis(np.where(out, -1, ranked), order, axis=1)
    if rs is None:
        return r, None
    return r, np.take_along_axis(np.where(out, 0.0, rs), order, axis=1)


def restrict(
    taxonomy: Taxonomy,
    subset: Any,
    y_true: Any,
    y_pred: Any,
    scores: Any,
    score_labels: Any,
    ranked: Any,
    ranked_scores: Any,
    score_kind: str,
) -> Restricted:
    """Cut :func:`taxovit.evaluate`'s inputs to ``subset`` (a :class:`Subset`, a node name
    or a checklist path), as the module docstring says."""
    from taxovit.evaluation.arguments import check_labels_aligned
    from taxovit.evaluation.core import _as_scores
    from taxovit.metrics.hierarchical import label_pair

    sub = subset if isinstance(subset, Subset) else read_subset(taxonomy, subset)
    check_labels_aligned(y_true=y_true, y_pred=y_pred, scores=scores, ranked=ranked)
    t, p = label_pair(y_true, y_pred, taxonomy)
    keep = sub.mask[t]
    if not keep.any():
        raise ArgumentError(f"no sample's true label lies in the subset {sub.spec!r}")
    s, ids = _as_scores(scores, score_labels, taxonomy, t.size)
    section: dict[str, Any] = {
        "spec": sub.spec,
        "n_listed": sub.n_listed,
        "n_nodes": int(sub.mask.sum()),
        "n_samples_kept": int(keep.sum()),
        "n_samples_dropped": int((~keep).sum()),
        "n_predicted_outside": int((~sub.mask[p[keep]]).sum()),
    }
    if s is not None and ids is not None:
        keep_col = sub.mask[ids]
        if not keep_col.any():
            raise ArgumentError(f"no score column is a class of the subset {sub.spec!r}")
        s, n_empty = _cut_scores(s, np.flatnonzero(keep), keep_col, score_kind)
        ids = ids[keep_col]
        section |= {
            "n_score_columns_kept": int(keep_col.sum()),
            "n_score_columns_dropped": int((~keep_col).sum()),
            "n_rows_no_mass": n_empty,
            "no_mass_rule": "uniform over the kept score columns",
        }
    r = rs = None
    if ranked is not None:
        from taxovit.evaluation.context import as_ranked

        r = as_ranked(ranked, t.size, len(taxonomy.nodes))[keep]
        rs = None if ranked_scores is None else np.asarray(ranked_scores, dtype=np.float64)[keep]
        r, rs = _cut_ranked(r, rs, sub.mask)
    return Restricted(t[keep], p[keep], s, ids, r, rs, section, keep)
