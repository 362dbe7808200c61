"""``confused=N`` / ``--confused N``: the most-confused (true, predicted) pairs.

Among the mistakes (predicted node != true node), the ``N`` most frequent pairs, each with
its ``count``, its ``share_of_true`` (count / the true class's samples), the two taxa's
``lca`` (trees; ``null`` on a DAG) and ``split_rank``: the coarsest rank at which their
ancestors differ (``null`` when they never differ at a rank, e.g. a prediction coarser than
every rank where they differ). With ``confused_rank`` both labels are first read at that
rank (samples whose truth or prediction has no ancestor there are left out) and a mistake is
a different taxon at the rank. Ties in the count: the smaller true node id, then predicted
node id, first. One ``np.unique`` over pair codes: no per-sample loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError
from taxovit.taxonomy import Taxonomy

__all__ = ["confused_pairs"]


def _split_ranks(taxonomy: Taxonomy, ranks: list[str], a: NDArray, b: NDArray) -> list[str | None]:
    ix = taxonomy.index
    out: list[str | None] = [None] * a.size
    for rank in ranks:
        ra, rb = ix.ancestor_at_rank(a, rank), ix.ancestor_at_rank(b, rank)
        for i in np.flatnonzero((ra >= 0) & (rb >= 0) & (ra != rb)):
            out[i] = out[i] or rank
    return out


def confused_pairs(
    taxonomy: Taxonomy,
    t: NDArray[np.int64],
    p: NDArray[np.int64],
    n: int,
    ranks: list[str],
    rank: str | None = None,
) -> dict[str, Any]:
    """The report's ``confused_pairs`` section (module docstring); ``ranks``: the report's
    ranks, coarse to fine."""
    ix = taxonomy.index
    if rank is not None:
        if rank not in ix.rank_names:
            raise ArgumentError(
                f"confused_rank: unknown rank {rank!r}; this taxonomy has "
                f"{', '.join(ix.rank_names) or 'no ranks'}"
            )
        t, p = ix.ancestor_at_rank(t, rank), ix.ancestor_at_rank(p, rank)
        keep = (t >= 0) & (p >= 0)
        t, p = t[keep], p[keep]
    support_ids, support = np.unique(t, return_counts=True)
    wrong = t != p
    codes, counts = np.unique(t[wrong] * ix.n + p[wrong], return_counts=True)
    order = np.lexsort((codes, -counts))[:n]  # count descending, then (true, predicted) ids
    a, b, counts = codes[order] // ix.n, codes[order] % ix.n, counts[order]
    lca = taxonomy.names(ix.lca(a, b)) if ix.is_tree and a.size else [None] * a.size
    sup = support[np.searchsorted(support_ids, a)]
    pairs = [
        {
            "true": ta,
            "predicted": pb,
            "count": int(c),
            "share_of_true": float(c / s),
            "lca": la,
            "split_rank": sr,
        }
        for ta, pb, c, s, la, sr in zip(
            taxonomy.names(a),
            taxonomy.names(b),
            counts,
            sup,
            lca,
            _split_ranks(taxonomy, ranks, a, b),
            strict=True,
        )
    ]
    return {
        "rank": rank,
        "n_samples": int(t.size),
        "n_mistakes": int(wrong.sum()),
        "n_distinct_pairs": int(codes.size),
        "pairs": pairs,
    }
