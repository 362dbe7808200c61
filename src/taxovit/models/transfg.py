"""TransFG (He et al., "TransFG: A Transformer Architecture for Fine-Grained Recognition",
AAAI 2022): part selection by attention rollout, and the contrastive loss.

The first ``L - 1`` blocks run on every token. For each image and head, the patch token with
the largest entry in the CLS row of ``A_{L-1} A_{L-2} ... A_1`` (attention probabilities,
per head, no identity term, no head averaging) is selected; the last block then runs on
``[CLS, selected tokens]`` only, followed by the final norm and the classifier on CLS.

Two ways to get the selection:

``rollout="chain"`` (default)
    The blocks stay on the fused ``scaled_dot_product_attention`` path. Each block hands back
    its (detached) ``q`` and ``k`` -- views of tensors that SDPA keeps for the backward pass
    anyway -- and after block ``L - 1`` the CLS row is computed under ``no_grad`` as a chain of
    row-vector times matrix products, ``r = e_0^T A_{L-1}``, ``r <- r A_l`` for
    ``l = L-2 .. 1``, recomputing each ``A_l = softmax(q k^T / sqrt(d))`` in blocks of query
    rows so that at most ``rollout_chunk_elems`` probabilities exist at any time (default:
    four hidden states' worth). Cost O(L * H * N^2 * d) time (about one extra ``q k^T`` per
    layer, in the autocast dtype) and O(chunk) extra memory.

``rollout="reference"``
    What TransFG's reference code does: the first ``L - 1`` blocks materialise the attention
    probabilities (explicit softmax attention, kept for backward) and the full ``N x N``
    product is formed, O(L * H * N^3). Kept for comparison and benchmarking.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from taxovit.models.vit import VisionTransformer

__all__ = [
    "ROLLOUT_KINDS",
    "TransFG",
    "contrastive_loss",
    "rollout_cls_row_from_qk",
    "select_parts",
    "select_parts_reference",
    "transfg_loss",
]

ROLLOUT_KINDS = ("chain", "reference")


def _check_attentions(attentions: Sequence[Tensor]) -> None:
    if len(attentions) == 0:
        raise ValueError("select_parts needs at least one attention map")
    shape = attentions[0].shape
    if len(shape) != 4 or shape[-1] != shape[-2] or shape[-1] < 2:
        raise ValueError(f"attention maps must be (B, H, N, N) with N >= 2, got {tuple(shape)}")
    for a in attentions:
        if a.shape != shape:
            raise ValueError(f"attention maps differ in shape: {tuple(a.shape)} vs {tuple(shape)}")


def select_parts(attentions: Sequence[Tensor]) -> Tensor:
    """Part indices from attention probabilities (TransFG's part selection module).

    The CLS row is computed as a chain of vector-matrix products, O(L H N^2).

    Parameters
    ----------
    attentions : sequence of Tensor
        Attention probabilities ``[A_1, ..., A_{L-1}]``, each ``(B, H, N, N)`` (CLS first).

    Returns
    -------
    Tensor
        ``(B, H)`` LongTensor: per image and head, the 0-based index (among the ``N - 1``
        patch tokens) of the largest entry of the CLS row of ``A_{L-1} ... A_1``.

    Raises
    ------
    ValueError
        When ``attentions`` is empty or the maps are not all ``(B, H, N, N)`` alike.

    References
    ----------
    .. [1] He et al., "TransFG: A Transformer Architecture for Fine-Grained
    Recognition", AAAI 2022.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import select_parts, select_parts_reference
    >>> _ = torch.manual_seed(0)
    >>> maps = [torch.softmax(torch.randn(2, 3, 5, 5), dim=-1) for _ in range(3)]
    >>> select_parts(maps).shape
    torch.Size([2, 3])
    """
    _check_attentions(attentions)
    with torch.no_grad():
        r = attentions[-1][:, :, :1, :].float()  # e_0^T A_{L-1}: (B, H, 1, N)
        for a in reversed(attentions[:-1]):
            r = r @ a.float()
        return r[:, :, 0, 1:].argmax(dim=-1)


def select_parts_reference(attentions: Sequence[Tensor]) -> Tensor:
    """Same result as :func:`select_parts` via the full cubic product (TransFG's reference).

    Parameters
    ----------
    attentions : sequence of Tensor
        Attention probabilities ``[A_1, ..., A_{L-1}]``, each ``(B, H, N, N)`` (CLS first).

    Returns
    -------
    Tensor
        ``(B, H)`` LongTensor: per image and head, the 0-based index (among the ``N - 1``
        patch tokens) of the largest entry of the CLS row of ``A_{L-1} ... A_1``.

    Raises
    ------
    ValueError
        When ``attentions`` is empty or the maps are not all ``(B, H, N, N)`` alike.

    References
    ----------
    .. [1] He et al., "TransFG: A Transformer Architecture for Fine-Grained
    Recognition", AAAI 2022.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import select_parts, select_parts_reference
    >>> _ = torch.manual_seed(0)
    >>> maps = [torch.softmax(torch.randn(2, 3, 5, 5), dim=-1) for _ in range(3)]
    >>> torch.equal(select_parts_reference(maps), select_parts(maps))
    True
    """
    _check_attentions(attentions)
    with torch.no_grad():
        prod = attentions[0]
        for a in attentions[1:]:
            prod = a @ prod
        return prod[:, :, 0, 1:].argmax(dim=-1)


def _row_times_softmax(r: Tensor, q: Tensor, k: Tensor, chunk: int) -> Tensor:
    """``r @ softmax(q k^T)`` for ``r`` of shape (B, H, 1, N), ``q`` already scaled.

    Rows are processed ``chunk`` at a time; the softmax normaliser of each row is folded into
    ``r`` so that one ``(B, H, chunk, N)`` buffer is the only large temporary.
    """
    n = q.shape[-2]
    kt = k.transpose(-2, -1)
    out = None
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        logits = (q[:, :, s:e] @ kt).float()  # matmul in the input dtype (bf16 under autocast)
        logits.sub_(logits.amax(dim=-1, keepdim=True)).exp_()
        w = r[..., s:e] / logits.sum(dim=-1).unsqueeze(-2)  # (B, H, 1, c)
        part = w @ logits
        out = part if out is None else out.add_(part)
        del logits
    assert out is not None
    return out


def rollout_cls_row_from_qk(
    qks: Sequence[tuple[Tensor, Tensor]], scale: float, max_chunk_elems: int | None = None
) -> Tensor:
    """CLS row of ``A_{L-1} ... A_1`` (``(B, H, N)``, float32) with ``A_l`` recomputed from
    ``(q_l, k_l)`` (each ``(B, H, N, d)``), one layer and one block of query rows at a time,
    holding at most about ``max_chunk_elems`` probabilities (default: 4 x B x N x H x d, i.e.
    four hidden states' worth)."""
    if len(qks) == 0:
        raise ValueError("need the q, k of at least one layer")
    with torch.no_grad():
        q, k = qks[-1]
        b, h, n, d = q.shape
        if max_chunk_elems is None:
            max_chunk_elems = max(1 << 16, 4 * b * h * n * d)
        chunk = max(1, min(n, max_chunk_elems // max(1, b * h * n)))
        r = torch.softmax((q[:, :, :1] * scale) @ k.transpose(-2, -1), dim=-1, dtype=torch.float32)
        for q, k in reversed(qks[:-1]):
            r = _row_times_softmax(r, (q * scale).contiguous(), k.contiguous(), chunk)
        return r[:, :, 0]


class TransFG(VisionTransformer):
    """ViT with TransFG's part selection module in front of the last block.

    Same API as :class:`~taxovit.models.vit.VisionTransformer` (``forward_features`` gives
    the final-normed CLS feature of the part layer, the one the contrastive loss uses).
    The last block sees ``[CLS, one selected patch token per head]``. Usually built by
    :func:`~taxovit.models.build_transfg` (448-pixel images, overlapping patches).

    Parameters
    ----------
    *args, **kwargs
        The arguments of :class:`~taxovit.models.VisionTransformer` (``depth >= 2``; no
        ``reg_tokens`` and not ``distilled``: parts are selected after the CLS token).
    rollout : {"chain", "reference"}, default "chain"
        How the selection is computed (the module docstring): vector-times-matrix chains on
        the fused attention, or the full product of explicit attention maps.
    rollout_chunk_elems : int or None, default None
        With ``"chain"``: at most about this many attention probabilities exist at a time
        (``None``: four hidden states' worth).

    Attributes
    ----------
    last_part_indices : Tensor or None
        ``(B, H)`` int64: the patch (0-based among the patch tokens) each head selected in
        the latest forward pass; ``None`` before the first.
    arch : str
        ``"transfg"``, this class's key in :data:`~taxovit.models.ARCHITECTURES`.

    Raises
    ------
    ValueError
        On an unknown ``rollout``, ``depth < 2``, registers or a distillation token, and
        the :class:`~taxovit.models.VisionTransformer` constructor's errors.

    References
    ----------
    .. [1] He et al., "TransFG: A Transformer Architecture for Fine-Grained
       Recognition", AAAI 2022.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import TransFG
    >>> model = TransFG(img_size=32, patch_size=8, stride=6, num_classes=3, embed_dim=32,
    ...                 depth=3, num_heads=2)
    >>> model.grid_size  # overlapping patches: (32 - 8) // 6 + 1 per side
    (5, 5)
    >>> model(torch.zeros(4, 3, 32, 32)).shape, model.last_part_indices.shape
    (torch.Size([4, 3]), torch.Size([4, 2]))
    """

    arch = "transfg"

    def __init__(
        self,
        *args,
        rollout: str = "chain",
        rollout_chunk_elems: int | None = None,
        **kwargs,
    ) -> None:
        if rollout not in ROLLOUT_KINDS:
            raise ValueError(f"rollout must be one of {ROLLOUT_KINDS}, got {rollout!r}")
        super().__init__(*args, **kwargs)
        if self.depth < 2:
            raise ValueError("TransFG needs depth >= 2 (L-1 selection layers + the part layer)")
        if self.num_prefix_tokens != 1:
            raise ValueError(
                "TransFG selects parts after the CLS token only: no distillation or register tokens"
            )
        self.rollout = rollout
        self.rollout_chunk_elems = rollout_chunk_elems
        self.last_part_indices: Tensor | None = None

    def select(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Run the first ``L - 1`` blocks on embedded tokens; return (tokens, part indices)."""
        if self.rollout == "chain":
            qks = []
            for blk in self.blocks[:-1]:
                x, qk = blk(x, return_qk=True)
                qks.append(qk)
            scale = self.blocks[0].attn.scale
            row = rollout_cls_row_from_qk(qks, scale, self.rollout_chunk_elems)
            del qks
            idx = row[:, :, 1:].argmax(dim=-1)
        else:
            probs = []
            for blk in self.blocks[:-1]:
                x, p = blk(x, return_probs=True)
                probs.append(p)
            idx = select_parts_reference(probs)
        return x, idx

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.embed(x)
        x, idx = self.select(x)
        self.last_part_indices = idx
        parts = torch.gather(x, 1, (idx + 1).unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = torch.cat([x[:, :1], parts], dim=1)  # (B, 1 + H, D)
        x = self.blocks[-1](x)
        return self.norm(x[:, 0])


def contrastive_loss(features: Tensor, labels: Tensor, margin: float = 0.4) -> Tensor:
    """TransFG's contrastive loss over L2-normalised features, all ordered pairs (i = j too).

    ``[sum_{y_i = y_j} (1 - cos_ij) + sum_{y_i != y_j} max(cos_ij - margin, 0)] / B^2``.

    Parameters
    ----------
    features : Tensor
        ``(B, D)`` features.
    labels : Tensor
        ``(B,)`` class labels.
    margin : float
        Cosine similarity below which different-class pairs cost nothing.

    Returns
    -------
    Tensor
        The scalar loss (float32).

    Raises
    ------
    ValueError
        When the shapes are not ``(B, D)`` and ``(B,)``.

    References
    ----------
    .. [1] He et al., "TransFG: A Transformer Architecture for Fine-Grained
    Recognition", AAAI 2022.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import contrastive_loss
    >>> contrastive_loss(torch.eye(2), torch.tensor([0, 0]))
    tensor(0.5000)
    >>> contrastive_loss(torch.eye(2), torch.tensor([0, 1]))
    tensor(0.)
    """
    if features.ndim != 2 or labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"expected features (B, D) and labels (B,), got {tuple(features.shape)} "
            f"and {tuple(labels.shape)}"
        )
    b = features.shape[0]
    f = F.normalize(features.float(), dim=-1)
    cos = f @ f.t()
    same = labels[:, None] == labels[None, :]
    per_pair = torch.where(same, 1.0 - cos, (cos - margin).clamp_min(0.0))
    return per_pair.sum() / (b * b)


def transfg_loss(
    logits: Tensor, features: Tensor, labels: Tensor, label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy (optionally label-smoothed) + 1.0 x :func:`contrastive_loss`.

    Parameters
    ----------
    logits : Tensor
        ``(B, C)`` class scores.
    features : Tensor
        ``(B, D)`` CLS features.
    labels : Tensor
        ``(B,)`` class labels.
    label_smoothing : float
        Cross-entropy's label smoothing.

    Returns
    -------
    Tensor
        The scalar loss.

    Raises
    ------
    ValueError
        When the shapes of ``features`` and ``labels`` do not match.

    References
    ----------
    .. [1] He et al., "TransFG: A Transformer Architecture for Fine-Grained
    Recognition", AAAI 2022.

    Examples
    --------
    >>> import torch
    >>> from taxovit.models import transfg_loss
    >>> transfg_loss(torch.zeros(2, 3), torch.eye(2), torch.tensor([0, 0]))  # log 3 + 0.5
    tensor(1.5986)
    """
    ce = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    return ce + contrastive_loss(features, labels)
