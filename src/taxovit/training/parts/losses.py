"""Grafit losses (Touvron et al., "Grafit: Learning fine-grained image representations with
coarse labels", ICCV 2021): the instance loss (BYOL-style, between views) and the kNN loss
(a soft nearest-neighbour classification loss at the *coarse* rank).

This module imports torch; it is never imported by ``import taxovit``.

Default weights used by :func:`grafit_loss` and by ``taxovit train`` are **ours**, chosen for
small CPU runs; they are not the paper's exact hyper-parameters:

=================  ========  ============================================================
``lambda_inst``    1.0       weight of :func:`instance_loss`
``lambda_knn``     1.0       weight of :func:`knn_loss`
``lambda_ce``      0.0       optional cross-entropy on the training (coarse) rank
``sigma``          0.1       temperature of the kNN loss
``k``              None      use every candidate (no top-k restriction)
=================  ========  ============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "MemoryBank",
    "GrafitLossWeights",
    "grafit_loss",
    "instance_loss",
    "knn_loss",
    "knn_loss_terms",
]


def instance_loss(online: Sequence[Tensor], target: Sequence[Tensor]) -> Tensor:
    """Grafit/BYOL instance loss between ``T`` augmented views of the same images.

    ``online[i]`` is ``q(g(t_i(x)))`` (predictor on the online projector), ``target[j]`` is
    ``g_ξ(t_j(x))`` from the EMA target network; both are ``(B, d)``. The targets are detached
    here, so passing tensors that require grad is harmless.

    Returns ``-Σ_{i≠j} cos(online_i, target_j) / (T (T-1))`` averaged over the batch, a scalar in
    ``[-1, 1]`` (``-1`` when every prediction points exactly at every other view's target).
    """
    if len(online) != len(target):
        raise ValueError(f"online has {len(online)} views but target has {len(target)}")
    t = len(online)
    if t < 2:
        raise ValueError("the instance loss needs at least 2 views")
    on = [F.normalize(o.float(), dim=-1) for o in online]
    tg = [F.normalize(x.detach().float(), dim=-1) for x in target]
    total = on[0].new_zeros(())
    for i in range(t):
        for j in range(t):
            if i != j:
                total = total + (on[i] * tg[j]).sum(dim=-1).mean()
    return -total / (t * (t - 1))


def _check_knn_args(
    embeddings: Tensor,
    labels: Tensor,
    sigma: float,
    bank: Tensor | None,
    bank_labels: Tensor | None,
    k: int | None,
) -> None:
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (B, d), got shape {tuple(embeddings.shape)}")
    if labels.shape != embeddings.shape[:1]:
        raise ValueError("labels must have one entry per embedding")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if (bank is None) != (bank_labels is None):
        raise ValueError("give both bank and bank_labels, or neither")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _allowed(sim: Tensor, self_offset: int, k: int | None) -> Tensor:
    """``(B, N)`` mask of the candidates each anchor may use: not itself, and with ``k``
    only its ``k`` most similar."""
    b, n = sim.shape
    allowed = torch.ones(b, n, dtype=torch.bool, device=sim.device)
    rows = torch.arange(b, device=sim.device)
    allowed[rows, rows + self_offset] = False  # an anchor is not its own neighbour
    if k is not None:
        scored = sim.detach().masked_fill(~allowed, float("-inf"))
        top = scored.topk(min(k, n), dim=1).indices
        in_top = torch.zeros_like(allowed)
        in_top.scatter_(1, top, True)
        allowed &= in_top
    return allowed


def knn_loss_terms(
    embeddings: Tensor,
    labels: Tensor,
    sigma: float,
    bank: Tensor | None = None,
    bank_labels: Tensor | None = None,
    k: int | None = None,
    *,
    candidates: Tensor | None = None,
    candidate_labels: Tensor | None = None,
    self_offset: int = 0,
) -> tuple[Tensor, Tensor]:
    """Per-anchor kNN losses and the mask of anchors that count (see :func:`knn_loss`).

    By default the in-batch candidates are the anchors themselves (``embeddings``); under
    data parallelism pass the embeddings gathered from every process as ``candidates`` and
    the position of this process's first anchor in them as ``self_offset``, so that anchor
    ``i`` excludes candidate ``self_offset + i``. Returns ``(loss (B,), valid (B,) bool)``;
    ``loss`` is 0 where ``valid`` is False.
    """
    _check_knn_args(embeddings, labels, sigma, bank, bank_labels, k)
    if candidates is None:
        candidates, candidate_labels = embeddings, labels
    elif candidate_labels is None:
        raise ValueError("candidates need candidate_labels")
    z = F.normalize(embeddings.float(), dim=-1)  # before the candidates: gradient sum order
    cands = [F.normalize(candidates.float(), dim=-1)]
    cand_labels = [candidate_labels]
    if bank is not None and bank.shape[0] > 0:
        cands.append(F.normalize(bank.detach().float(), dim=-1))
        cand_labels.append(bank_labels.to(labels.device))
    sim = (z @ torch.cat(cands).T) / sigma  # (B, N)
    allowed = _allowed(sim, self_offset, k)
    positive = allowed & (labels[:, None] == torch.cat(cand_labels)[None, :])
    valid = positive.any(dim=1)
    loss = sim.new_zeros(sim.shape[0])
    if valid.any():
        s = sim[valid]
        log_denominator = torch.logsumexp(s.masked_fill(~allowed[valid], float("-inf")), dim=1)
        log_numerator = torch.logsumexp(s.masked_fill(~positive[valid], float("-inf")), dim=1)
        loss = loss.index_put((valid.nonzero(as_tuple=True)[0],), log_denominator - log_numerator)
    return loss, valid


def knn_loss(
    embeddings: Tensor,
    labels: Tensor,
    sigma: float,
    bank: Tensor | None = None,
    bank_labels: Tensor | None = None,
    k: int | None = None,
) -> Tensor:
    """Grafit's kNN loss: soft nearest-neighbour classification at the training rank.

    For anchor ``i`` the candidates are the other rows of ``embeddings`` plus, if given, the
    rows of ``bank`` (recent target embeddings, no gradient) with ``bank_labels``; with ``k``
    only the ``k`` candidates most cosine-similar to the anchor are kept. With
    ``p_ij = softmax_j(cos(x_i, x_j) / sigma)`` over the candidates,

        L(x_i) = -log Σ_{j: y_j = y_i} p_ij

    averaged over the anchors that have at least one same-label candidate. When no anchor
    has one, returns a zero that is still connected to the autograd graph. Computed with
    ``logsumexp`` (stable for small ``sigma``).
    """
    loss, valid = knn_loss_terms(embeddings, labels, sigma, bank, bank_labels, k)
    if not bool(valid.any()):
        return embeddings.sum() * 0.0
    return loss[valid].mean()


@dataclass(frozen=True)
class GrafitLossWeights:
    """Weights of the Grafit objective (our defaults; see the module docstring)."""

    lambda_inst: float = 1.0
    lambda_knn: float = 1.0
    lambda_ce: float = 0.0
    sigma: float = 0.1
    k: int | None = None


def grafit_loss(
    online: Sequence[Tensor],
    target: Sequence[Tensor],
    embeddings: Tensor,
    labels: Tensor,
    weights: GrafitLossWeights = GrafitLossWeights(),
    bank: Tensor | None = None,
    bank_labels: Tensor | None = None,
    logits: Tensor | None = None,
) -> dict[str, Tensor]:
    """``λ_inst·L_inst + λ_knn·L_knn (+ λ_ce·CE)``, all at the training (coarse) rank.

    ``embeddings``/``labels``: the online projector outputs of all views stacked ``(T·B, d)``
    and their coarse labels. ``logits`` (``(T·B, C)``) are needed only when ``lambda_ce > 0``.
    Returns a dict with ``loss`` (the total) and the parts ``inst``, ``knn``, ``ce``.
    """
    inst = instance_loss(online, target)
    knn = knn_loss(embeddings, labels, weights.sigma, bank, bank_labels, weights.k)
    if weights.lambda_ce > 0:
        if logits is None:
            raise ValueError("lambda_ce > 0 needs logits")
        ce = F.cross_entropy(logits.float(), labels)
    else:
        ce = inst.new_zeros(())
    total = weights.lambda_inst * inst + weights.lambda_knn * knn + weights.lambda_ce * ce
    return {"loss": total, "inst": inst.detach(), "knn": knn.detach(), "ce": ce.detach()}


class MemoryBank:
    """FIFO queue of recent target embeddings with their training-rank labels."""

    def __init__(self, size: int, dim: int, device: torch.device | str = "cpu") -> None:
        self.size = int(size)
        self.feats = torch.zeros(self.size, dim, device=device)
        self.labels = torch.full((self.size,), -1, dtype=torch.long, device=device)
        self.ptr = 0
        self.filled = 0

    def enqueue(self, feats: Tensor, labels: Tensor) -> None:
        if self.size == 0:
            return
        feats = feats.detach().float()[-self.size :]
        labels = labels[-self.size :]
        n = feats.shape[0]
        idx = (torch.arange(n, device=self.feats.device) + self.ptr) % self.size
        self.feats[idx] = feats.to(self.feats.device)
        self.labels[idx] = labels.to(self.labels.device)
        self.ptr = (self.ptr + n) % self.size
        self.filled = min(self.size, self.filled + n)

    def get(self) -> tuple[Tensor, Tensor]:
        if self.filled < self.size:
            return self.feats[: self.filled], self.labels[: self.filled]
        return self.feats, self.labels

    def state_dict(self) -> dict[str, Any]:
        return {
            "feats": self.feats.cpu(),
            "labels": self.labels.cpu(),
            "ptr": self.ptr,
            "filled": self.filled,
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.feats.copy_(sd["feats"])
        self.labels.copy_(sd["labels"])
        self.ptr, self.filled = int(sd["ptr"]), int(sd["filled"])
