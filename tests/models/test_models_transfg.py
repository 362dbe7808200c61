"""TransFG: part selection, model paths, losses, and a short real-data training run."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from taxovit.models import (  # noqa: E402
    build_transfg,
    contrastive_loss,
    select_parts,
    select_parts_reference,
    transfg_loss,
)
from taxovit.models.transfg import rollout_cls_row_from_qk  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("torch_one_thread")]


DATA = Path(__file__).resolve().parents[1] / "data" / "fashion-mnist-mini"


def _random_attn(b, h, n, layers, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, n, n, generator=g).mul(3).softmax(-1) for _ in range(layers)]


@pytest.mark.parametrize(("b", "h", "n", "layers"), [(2, 3, 5, 1), (3, 4, 9, 3), (1, 2, 17, 6)])
def test_select_parts_matches_cubic_product(b, h, n, layers):
    attn = _random_attn(b, h, n, layers, seed=n)
    full = attn[0]
    for a in attn[1:]:
        full = a @ full  # A_{L-1} ... A_1
    expected = full[:, :, 0, 1:].argmax(-1)
    got = select_parts(attn)
    assert got.dtype == torch.long and got.shape == (b, h)
    assert torch.equal(got, expected)
    assert torch.equal(select_parts_reference(attn), expected)


def test_select_parts_order_and_no_grad():
    # A deliberately non-commuting pair: the result must follow A_2 A_1, not A_1 A_2.
    n = 4
    a1 = torch.eye(n)[[0, 3, 1, 2]].reshape(1, 1, n, n)  # permutation
    a2 = torch.tensor([[0.1, 0.6, 0.2, 0.1]] + [[0.25] * 4] * 3).reshape(1, 1, n, n)
    row = (a2 @ a1)[0, 0, 0, 1:]
    assert row.argmax() != (a1 @ a2)[0, 0, 0, 1:].argmax()
    x = [a1.requires_grad_(), a2]
    out = select_parts(x)
    assert out.item() == row.argmax().item()
    assert not out.requires_grad


def test_chain_from_qk_matches_explicit_rollout():
    g = torch.Generator().manual_seed(0)
    b, h, n, d, layers = 2, 3, 11, 4, 4
    qks = [(torch.randn(b, h, n, d, generator=g), torch.randn(b, h, n, d, generator=g))]
    qks += [
        (torch.randn(b, h, n, d, generator=g), torch.randn(b, h, n, d, generator=g))
        for _ in range(layers - 1)
    ]
    scale = d**-0.5
    probs = [((q @ k.transpose(-2, -1)) * scale).softmax(-1) for q, k in qks]
    full = probs[0]
    for a in probs[1:]:
        full = a @ full
    for chunk_elems in (1, 2 * b * h * n, 1 << 20):  # 1 row, 2 rows, all rows per block
        row = rollout_cls_row_from_qk(qks, scale, max_chunk_elems=chunk_elems)
        torch.testing.assert_close(row, full[:, :, 0], atol=1e-6, rtol=1e-5)


def _pair_models(**kw):
    torch.manual_seed(0)
    chain = build_transfg("vit_nano", 5, img_size=40, patch_size=8, stride=6, **kw)
    ref = build_transfg(
        "vit_nano", 5, img_size=40, patch_size=8, stride=6, rollout="reference", **kw
    )
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in chain.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    ref.load_state_dict(chain.state_dict())
    return chain, ref


def test_transfg_chain_equals_reference_forward_and_backward():
    chain, ref = _pair_models()
    assert chain.embed_dim == 32 and chain.num_classes == 5
    x = torch.randn(3, 3, 40, 40)
    y = torch.tensor([0, 1, 1])
    outs = []
    for m in (chain, ref):
        m.zero_grad()
        feats = m.forward_features(x)
        logits = m.forward_head(feats)
        transfg_loss(logits, feats, y).backward()
        outs.append(
            (logits.detach(), m.last_part_indices, {n: p.grad for n, p in m.named_parameters()})
        )
    (l1, i1, g1), (l2, i2, g2) = outs
    assert i1.shape == (3, 2)  # one part per head
    assert int(i1.min()) >= 0 and int(i1.max()) < 6 * 6
    assert torch.equal(i1, i2)
    torch.testing.assert_close(l1, l2, atol=1e-5, rtol=1e-5)
    for name in g1:
        torch.testing.assert_close(g1[name], g2[name], atol=1e-5, rtol=1e-4, msg=name)
    # the selection is what select_parts gives on the explicit probabilities
    with torch.no_grad():
        h = ref.embed(x)
        probs = []
        for blk in ref.blocks[:-1]:
            h, p = blk(h, return_probs=True)
            probs.append(p)
    assert torch.equal(select_parts(probs), i1)


def test_transfg_forward_uses_selected_tokens_only():
    chain, _ = _pair_models()
    chain.eval()
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        feats = chain.forward_features(x)
        h, idx = chain.select(chain.embed(x))
        tokens = torch.cat([h[:, :1], h[torch.arange(2)[:, None], idx + 1]], dim=1)
        manual = chain.norm(chain.blocks[-1](tokens)[:, 0])
    torch.testing.assert_close(feats, manual)
    assert chain(x).shape == (2, 5)
    chain.reset_classifier(0)  # identity head: forward gives the features
    with torch.no_grad():
        torch.testing.assert_close(chain(x), feats)


def test_contrastive_loss_hand_computed():
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    y = torch.tensor([0, 0, 1])
    # cos: 1-2 -> 0, 1-3 and 2-3 -> 1/sqrt(2); same pairs: 3 diagonal (0) + (1,2),(2,1) (1 each)
    # different pairs: 4 x (0.70711 - 0.4)
    expected = (2.0 + 4 * (1 / math.sqrt(2) - 0.4)) / 9
    torch.testing.assert_close(contrastive_loss(f, y), torch.tensor(expected))
    # below the margin different-class pairs cost nothing
    torch.testing.assert_close(contrastive_loss(f, y, margin=0.8), torch.tensor(2.0 / 9))
    # all one class, identical directions: zero
    assert abs(contrastive_loss(torch.ones(4, 3), torch.zeros(4, dtype=torch.long)).item()) < 1e-6


def test_transfg_loss_is_ce_plus_contrastive():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    feats = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0, 2])
    # CE by hand, label smoothing 0.1 over 3 classes
    logp = logits.log_softmax(-1)
    target = torch.full((2, 3), 0.1 / 3)
    target[0, 0] += 0.9
    target[1, 2] += 0.9
    ce = -(target * logp).sum(-1).mean()
    con = (0.0 + 0.0 + 2 * (1 / math.sqrt(2) - 0.4)) / 4
    got = transfg_loss(logits, feats, y, label_smoothing=0.1)
    torch.testing.assert_close(got, ce + con)
    torch.testing.assert_close(
        transfg_loss(logits, feats, y), F.cross_entropy(logits, y) + torch.tensor(con)
    )


def _read_idx(name: str, header: int) -> np.ndarray:
    with gzip.open(DATA / name, "rb") as fh:
        return np.frombuffer(fh.read()[header:], dtype=np.uint8)


def test_tiny_transfg_trains_on_fashion_mnist():
    images = _read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = _read_idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    assert images.shape == (600, 1, 28, 28) and labels.shape == (600,)
    x_all = (torch.from_numpy(images.copy()).float() / 255.0 - 0.286) / 0.353
    y_all = torch.from_numpy(labels)

    torch.manual_seed(0)
    model = build_transfg("vit_nano", 10, img_size=28, patch_size=7, stride=5, in_chans=1)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)
    model.train()
    losses = []
    for _ in range(40):
        idx = torch.randint(0, 600, (32,), generator=gen)
        feats = model.forward_features(x_all[idx])
        loss = transfg_loss(model.forward_head(feats), feats, y_all[idx], label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert all(np.isfinite(losses))
    assert last < 0.8 * first, (first, last)


def test_chain_rollout_bf16_close_to_float32():
    g = torch.Generator().manual_seed(3)
    qks = [(torch.randn(1, 2, 9, 4, generator=g), torch.randn(1, 2, 9, 4, generator=g))] * 3
    full = rollout_cls_row_from_qk(qks, 0.5)
    half = rollout_cls_row_from_qk([(q.bfloat16(), k.bfloat16()) for q, k in qks], 0.5)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, atol=2e-2, rtol=0)


def test_transfg_loads_vit_checkpoint_with_overlapping_split(tmp_path):
    from taxovit.models import build_vit, load_pretrained

    src = build_vit("vit_nano", 7, img_size=32, patch_size=8)  # 4x4 grid
    path = tmp_path / "vit.pt"
    torch.save({"model": src.state_dict()}, path)
    model = build_transfg("vit_nano", 5, img_size=40, patch_size=8, stride=6)  # 6x6 grid
    report = load_pretrained(model, path)
    assert report.pos_embed_resampled == ((4, 4), (6, 6))
    assert sorted(report.dropped) == ["head.bias", "head.weight"]
    torch.testing.assert_close(model.blocks[-1].mlp.fc2.weight, src.blocks[-1].mlp.fc2.weight)
