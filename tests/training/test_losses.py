import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from taxovit.training.parts.losses import (  # noqa: E402
    GrafitLossWeights,
    grafit_loss,
    instance_loss,
    knn_loss,
    knn_loss_terms,
)

pytestmark = pytest.mark.torch


def brute_force_knn_loss(emb, labels, sigma, bank=None, bank_labels=None, k=None):
    """Loop-over-anchors reference, written independently of the vectorised code."""
    z = F.normalize(emb.double(), dim=1)
    cands = [(z[j], int(labels[j]), j) for j in range(len(z))]
    if bank is not None:
        zb = F.normalize(bank.double(), dim=1)
        cands += [(zb[j], int(bank_labels[j]), None) for j in range(len(zb))]
    losses = []
    for i in range(len(z)):
        pool = [(float(z[i] @ v), y) for v, y, j in cands if j != i]
        if k is not None:
            pool = sorted(pool, key=lambda t: -t[0])[:k]
        num = sum(math.exp(s / sigma) for s, y in pool if y == int(labels[i]))
        den = sum(math.exp(s / sigma) for s, _ in pool)
        if num > 0:
            losses.append(-math.log(num / den))
    return sum(losses) / len(losses) if losses else 0.0


def test_knn_loss_hand_computed():
    # three unit vectors: a and b at 90 degrees, c opposite a; labels a=0, b=0, c=1
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    sigma = 1.0
    # anchor a: candidates b (cos 0, same), c (cos -1, other) -> -log(e^0 / (e^0 + e^-1))
    la = -math.log(1 / (1 + math.exp(-1)))
    # anchor b: candidates a (0, same), c (0, other) -> -log(1/2)
    lb = math.log(2)
    # anchor c: no same-label candidate -> excluded
    expected = (la + lb) / 2
    got = knn_loss(emb, labels, sigma)
    assert got.item() == pytest.approx(expected, abs=1e-6)
    terms, valid = knn_loss_terms(emb, labels, sigma)
    assert valid.tolist() == [True, True, False]
    assert terms[2].item() == 0.0


def test_knn_loss_with_bank_hand_computed():
    emb = torch.tensor([[1.0, 0.0]])
    labels = torch.tensor([3])
    bank = torch.tensor([[2.0, 0.0], [0.0, 5.0]])  # scale must not matter (cosine)
    bank_labels = torch.tensor([3, 4])
    sigma = 0.5
    expected = -math.log(math.exp(2) / (math.exp(2) + math.exp(0)))
    assert knn_loss(emb, labels, sigma, bank, bank_labels).item() == pytest.approx(expected)
    # k=1 keeps only the nearest (same label) -> loss 0
    assert knn_loss(emb, labels, sigma, bank, bank_labels, k=1).item() == pytest.approx(0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [None, 1, 3, 50])
@pytest.mark.parametrize("with_bank", [False, True])
def test_knn_loss_matches_brute_force(seed, k, with_bank):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(9, 5, generator=g)
    labels = torch.randint(0, 3, (9,), generator=g)
    bank = bank_labels = None
    if with_bank:
        bank = torch.randn(7, 5, generator=g)
        bank_labels = torch.randint(0, 3, (7,), generator=g)
    sigma = 0.3
    got = knn_loss(emb, labels, sigma, bank, bank_labels, k=k).item()
    want = brute_force_knn_loss(emb, labels, sigma, bank, bank_labels, k=k)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_knn_loss_stable_for_tiny_sigma_and_has_finite_grad():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(16, 8, generator=g, requires_grad=True)
    labels = torch.arange(16) % 4
    loss = knn_loss(emb, labels, sigma=1e-4, k=5)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(emb.grad).all()


def test_knn_loss_no_positive_is_connected_zero():
    emb = torch.randn(4, 3, requires_grad=True)
    labels = torch.arange(4)
    loss = knn_loss(emb, labels, sigma=0.1)
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(emb.grad, torch.zeros_like(emb))


def test_knn_loss_gradient_pulls_same_label_together():
    emb = torch.tensor([[1.0, 0.2], [0.2, 1.0], [1.0, -0.3]], requires_grad=True)
    labels = torch.tensor([0, 0, 1])
    knn_loss(emb, labels, sigma=0.5).backward()
    # gradient descent on anchor 0 moves it towards sample 1 (same label)
    step = emb.detach() - 0.1 * emb.grad
    before = F.cosine_similarity(emb.detach()[0], emb.detach()[1], dim=0)
    after = F.cosine_similarity(step[0], emb.detach()[1], dim=0)
    assert after > before


def test_knn_loss_candidates_with_offset_equals_plain():
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(10, 4, generator=g)
    labels = torch.randint(0, 2, (10,), generator=g)
    full, valid_full = knn_loss_terms(emb, labels, 0.2)
    # second "process" holds rows 5..9 of the gathered candidates
    part, valid_part = knn_loss_terms(
        emb[5:], labels[5:], 0.2, candidates=emb, candidate_labels=labels, self_offset=5
    )
    assert torch.allclose(part, full[5:], atol=1e-6)
    assert torch.equal(valid_part, valid_full[5:])


def test_knn_loss_input_errors():
    with pytest.raises(ValueError):
        knn_loss(torch.randn(3, 2), torch.zeros(3, dtype=torch.long), sigma=0.0)
    with pytest.raises(ValueError):
        knn_loss(torch.randn(3, 2), torch.zeros(2, dtype=torch.long), sigma=0.1)
    with pytest.raises(ValueError):
        knn_loss(torch.randn(3, 2), torch.zeros(3, dtype=torch.long), 0.1, bank=torch.randn(2, 2))


def test_instance_loss_hand_computed():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.0, 1.0]])
    # identical predictions and targets -> -1
    assert instance_loss([a, a], [a, a]).item() == pytest.approx(-1.0)
    # online_0 = a vs target_1 = b (cos 0); online_1 = b vs target_0 = a (cos 0) -> 0
    assert instance_loss([a, b], [a, b]).item() == pytest.approx(0.0)
    # online both a, targets a and b: pairs (0,1)=cos(a,b)=0, (1,0)=cos(a,a)=1 -> -1/2
    assert instance_loss([a, a], [a, b]).item() == pytest.approx(-0.5)


def test_instance_loss_three_views_brute_force():
    g = torch.Generator().manual_seed(2)
    on = [torch.randn(6, 4, generator=g) for _ in range(3)]
    tg = [torch.randn(6, 4, generator=g) for _ in range(3)]
    want = 0.0
    for i in range(3):
        for j in range(3):
            if i != j:
                want += F.cosine_similarity(on[i], tg[j], dim=1).mean().item()
    want = -want / 6
    assert instance_loss(on, tg).item() == pytest.approx(want, abs=1e-6)


def test_instance_loss_no_gradient_to_target():
    on = [torch.randn(4, 3, requires_grad=True) for _ in range(2)]
    tg = [torch.randn(4, 3, requires_grad=True) for _ in range(2)]
    instance_loss(on, tg).backward()
    assert on[0].grad is not None
    assert tg[0].grad is None
    with pytest.raises(ValueError):
        instance_loss(on[:1], tg[:1])


def test_grafit_loss_combines_parts():
    g = torch.Generator().manual_seed(3)
    on = [torch.randn(4, 3, generator=g) for _ in range(2)]
    tg = [torch.randn(4, 3, generator=g) for _ in range(2)]
    emb = torch.randn(8, 3, generator=g)
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    logits = torch.randn(8, 2, generator=g)
    w = GrafitLossWeights(lambda_inst=0.5, lambda_knn=2.0, lambda_ce=0.25, sigma=0.2)
    out = grafit_loss(on, tg, emb, labels, w, logits=logits)
    want = (
        0.5 * instance_loss(on, tg)
        + 2.0 * knn_loss(emb, labels, 0.2)
        + 0.25 * F.cross_entropy(logits, labels)
    )
    assert out["loss"].item() == pytest.approx(want.item(), abs=1e-6)
    with pytest.raises(ValueError):
        grafit_loss(on, tg, emb, labels, w)
