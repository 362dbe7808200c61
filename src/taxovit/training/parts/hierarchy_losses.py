"""Hierarchy-aware losses over the classes of a tree taxonomy (written from the papers).

* :func:`soft_label_loss` — Bertinetto et al. 2020, "soft labels": cross-entropy against
  ``y(A | C) ∝ exp(−β · d(A, C) / d_max)``, ``d`` the LCA height of classes A and C.
* :func:`hxe_loss` — the same paper's hierarchical cross-entropy:
  ``−Σ_l λ(C_l) log p(C_l | C_{l+1})`` along the true class's root path
  ``C_0 = class, …, C_h = root``, with ``p(C_l | C_{l+1}) = P(C_l) / P(C_{l+1})`` from summed
  class probabilities and ``λ(C) = exp(−α · depth(C))``, ``depth`` the node's distance from
  the root: the weighting of the authors' released code (``get_exponential_weighting``: "each
  edge is weighted according to its distance from the root as exp(-value*dist)"), with which
  their results were obtained; α > 0 discounts the finer terms, so a larger α trades top-1
  accuracy for milder mistakes. (Their eq. 4 writes ``exp(−α h(C))`` with ``h`` the height;
  read as the height above the leaves that weighting has the opposite effect, and we measured
  it making mistakes worse: ``benchmarks/RESULTS.md``, better mistakes.) The released code
  also divides every weight by their sum over the tree's edges; we do not (a constant factor
  of the loss).
* :func:`rank_ce_loss` — cross-entropy of the marginal probability of the true class's
  ancestor at several ranks, ``−Σ_r w_r log P(anc_r(y))``.

Marginals ``P(node) = Σ_{classes under node} p(class)`` come from one sparse
``(classes × nodes)`` 0/1 matrix: memory O(batch × nodes), never classes × classes × edges.
Every loss is the mean over the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from taxovit.errors import ArgumentError

__all__ = ["HierarchyTables", "hxe_loss", "rank_ce_loss", "soft_label_loss"]


class HierarchyTables:
    """What the losses need about ``class_names`` (taxonomy nodes) in a tree ``taxonomy``:
    the classes-to-nodes membership (sparse), each class's root path with its nodes' depths
    (the HXE weights), and the classes' pairwise LCA heights (for soft labels)."""

    def __init__(self, taxonomy: Any, class_names: Sequence[str]) -> None:
        ix = taxonomy.index
        if not ix.is_tree:
            raise ArgumentError("hierarchy-aware losses need a tree taxonomy; this one is a DAG")
        self.taxonomy = taxonomy
        self.class_ids = np.asarray(taxonomy.ids(list(class_names)), dtype=np.int64)
        paths = [ix.ancestors_of(int(c)) for c in self.class_ids]
        # root paths from the class up: the ancestors sorted by decreasing depth
        paths = [p[np.argsort(-ix.depth[p], kind="stable")] for p in paths]
        nodes = np.unique(np.concatenate(paths))  # every node on some class's path
        self.nodes = nodes
        col = {int(n): j for j, n in enumerate(nodes)}
        rows = np.repeat(np.arange(len(paths)), [p.size for p in paths])
        cols = np.array([col[int(n)] for p in paths for n in p])
        self.membership = torch.sparse_coo_tensor(
            torch.from_numpy(np.stack([rows, cols])),
            torch.ones(rows.size),
            (len(paths), nodes.size),
            check_invariants=True,
        ).coalesce()
        width = max(p.size for p in paths)
        self.path = torch.full((len(paths), width), -1, dtype=torch.long)  # node columns
        for i, p in enumerate(paths):
            self.path[i, : p.size] = torch.tensor([col[int(n)] for n in p])
        self.depth = torch.from_numpy(ix.depth[nodes].astype(np.float32))
        self._lca_height: Tensor | None = None

    @property
    def n_classes(self) -> int:
        return int(self.class_ids.size)

    def lca_height(self) -> Tensor:
        """``(C, C)`` LCA heights of the classes (0 on the diagonal), built once."""
        if self._lca_height is None:
            c = self.class_ids
            a, b = np.repeat(c, c.size), np.tile(c, c.size)
            st = self.taxonomy.index.pair_stats(a, b)
            d = np.where(a == b, 0, st.lca_height).reshape(c.size, c.size)
            self._lca_height = torch.from_numpy(d.astype(np.float32))
        return self._lca_height

    def marginals(self, probs: Tensor) -> Tensor:
        """``(B, nodes)``: the probability mass under every path node."""
        m = self.membership.to(probs.device)
        return torch.sparse.mm(m.t(), probs.t().float()).t()


def soft_label_loss(logits: Tensor, target: Tensor, tables: HierarchyTables, beta: float) -> Tensor:
    """Cross-entropy against the soft labels ``exp(−β d / d_max)`` (normalised per class)."""
    d = tables.lca_height().to(logits.device)
    d_max = float(d.max().clamp_min(1.0))
    soft = torch.softmax(-beta * d / d_max, dim=1)  # row C: the target distribution of C
    return -(soft[target] * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def hxe_loss(
    logits: Tensor, target: Tensor, tables: HierarchyTables, alpha: float, eps: float = 1e-12
) -> Tensor:
    """Hierarchical cross-entropy (module docstring); ``eps`` keeps the logs finite."""
    probs = torch.softmax(logits.float(), dim=1)
    log_m = torch.log(tables.marginals(probs).clamp_min(eps))  # (B, nodes)
    path = tables.path.to(logits.device)[target]  # (B, L): class, parent, ..., root, -1...
    valid = path >= 0
    lp = torch.gather(log_m, 1, path.clamp_min(0))
    child, parent = lp[:, :-1], lp[:, 1:]
    edge = valid[:, 1:]  # an edge (C_l, C_{l+1}) exists where the parent does
    weight = torch.exp(-alpha * tables.depth.to(logits.device)[path[:, :-1].clamp_min(0)])
    terms = torch.where(edge, weight * (child - parent), torch.zeros_like(child))
    return -terms.sum(dim=1).mean()


def rank_ce_loss(
    logits: Tensor,
    target: Tensor,
    tables: HierarchyTables,
    weights: Mapping[str, float],
    eps: float = 1e-12,
) -> Tensor:
    """``−Σ_r w_r log P(anc_r(y))`` over the ranks in ``weights`` (classes with no ancestor
    at a rank add nothing there)."""
    probs = torch.softmax(logits.float(), dim=1)
    log_m = torch.log(tables.marginals(probs).clamp_min(eps))
    col = {int(n): j for j, n in enumerate(tables.nodes)}
    total = logits.new_zeros(())
    for rank, w in weights.items():
        anc = tables.taxonomy.index.ancestor_at_rank(tables.class_ids, rank)
        cols = torch.tensor([col.get(int(a), -1) for a in anc], device=logits.device)[target]
        has = cols >= 0
        picked = torch.gather(log_m, 1, cols.clamp_min(0)[:, None])[:, 0]
        total = total + float(w) * -(torch.where(has, picked, torch.zeros_like(picked))).mean()
    return total
