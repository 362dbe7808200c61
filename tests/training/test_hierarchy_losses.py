"""Hierarchy-aware losses against slow per-sample implementations of the papers' formulas."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from taxovit.training.parts.hierarchy_losses import (  # noqa: E402
    HierarchyTables,
    hxe_loss,
    rank_ce_loss,
    soft_label_loss,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from strategies import taxonomies  # noqa: E402

pytestmark = pytest.mark.torch


def _slow_marginal(tax, classes, p, node):
    under = [i for i, c in enumerate(classes) if node == c or node in tax.ancestors(c)]
    return sum(p[i] for i in under)


def _slow_path(tax, c):
    path = [c]
    while tax.parents(path[-1]):
        path.append(tax.parents(path[-1])[0])
    return path


@st.composite
def problem(draw):
    tax = draw(taxonomies(dag=False, min_nodes=3, max_nodes=20, ranked=True))
    leaves = tax.leaves
    classes = draw(st.permutations(leaves))
    b = draw(st.integers(1, 6))
    logits = np.array(
        draw(
            st.lists(
                st.lists(st.floats(-4, 4), min_size=len(classes), max_size=len(classes)),
                min_size=b,
                max_size=b,
            )
        )
    )
    target = np.array(draw(st.lists(st.integers(0, len(classes) - 1), min_size=b, max_size=b)))
    return tax, list(classes), logits, target


@given(problem(), st.sampled_from([0.0, 0.1, 0.5, 2.0]))
@settings(max_examples=40, deadline=None)
def test_hxe_equals_the_formula(prob, alpha) -> None:
    tax, classes, logits, target = prob
    tables = HierarchyTables(tax, classes)
    got = float(hxe_loss(torch.tensor(logits), torch.tensor(target), tables, alpha))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    total = 0.0
    for i, y in enumerate(target):
        path = _slow_path(tax, classes[y])
        for child, parent in zip(path[:-1], path[1:], strict=True):
            lam = math.exp(-alpha * tax.index.depth[tax.id_of(child)])
            pc = max(_slow_marginal(tax, classes, p[i], child), 1e-12)
            pp = max(_slow_marginal(tax, classes, p[i], parent), 1e-12)
            total -= lam * (math.log(pc) - math.log(pp))
    assert got == pytest.approx(total / len(target), rel=1e-5, abs=1e-5)


@given(problem(), st.sampled_from([0.5, 2.0, 10.0]))
@settings(max_examples=40, deadline=None)
def test_soft_labels_equal_the_formula(prob, beta) -> None:
    tax, classes, logits, target = prob
    tables = HierarchyTables(tax, classes)
    got = float(soft_label_loss(torch.tensor(logits), torch.tensor(target), tables, beta))
    ids = tax.ids(classes)
    st_ = tax.index.pair_stats(np.repeat(ids, len(ids)), np.tile(ids, len(ids)))
    d = np.where(np.repeat(ids, len(ids)) == np.tile(ids, len(ids)), 0, st_.lca_height)
    d = d.reshape(len(ids), len(ids)).astype(float)
    d_max = max(d.max(), 1.0)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    total = 0.0
    for i, y in enumerate(target):
        soft = np.exp(-beta * d[y] / d_max)
        soft /= soft.sum()
        total -= float(soft @ logp[i])
    assert got == pytest.approx(total / len(target), rel=1e-5, abs=1e-5)


@given(problem())
@settings(max_examples=30, deadline=None)
def test_rank_ce_and_limits(prob) -> None:
    tax, classes, logits, target = prob
    tables = HierarchyTables(tax, classes)
    lt, tt = torch.tensor(logits), torch.tensor(target)
    ce = float(torch.nn.functional.cross_entropy(lt.float(), tt))
    assert float(hxe_loss(lt, tt, tables, 0.0)) == pytest.approx(
        ce, rel=1e-4, abs=1e-5
    )  # telescopes
    if not tax.rank_names:
        return
    rank = tax.rank_names[0]
    p = torch.softmax(lt.float(), 1).numpy()
    expected = 0.0
    for i, y in enumerate(target):
        anc = tax.index.ancestor_at_rank(tax.ids([classes[y]]), rank)[0]
        if anc >= 0:
            expected -= math.log(max(_slow_marginal(tax, classes, p[i], tax.nodes[anc]), 1e-12))
    got = float(rank_ce_loss(lt, tt, tables, {rank: 0.5}))
    assert got == pytest.approx(0.5 * expected / len(target), rel=1e-4, abs=1e-5)


def test_gradients_flow_and_dag_is_refused() -> None:
    import taxovit
    from taxovit.errors import ArgumentError

    root = Path(__file__).resolve().parents[2] / "taxonomies"
    tax = taxovit.load_taxonomy(root / "fashion_mnist.json")
    tables = HierarchyTables(tax, tax.leaves)
    logits = torch.randn(8, 10, requires_grad=True)
    y = torch.randint(0, 10, (8,))
    (
        hxe_loss(logits, y, tables, 0.5)
        + soft_label_loss(logits, y, tables, 4.0)
        + rank_ce_loss(logits, y, tables, {"group": 1.0})
    ).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    with pytest.raises(ArgumentError, match="tree"):
        HierarchyTables(taxovit.load_taxonomy(root / "imagenet1k.json"), ["n01440764"])


def test_hxe_penalises_a_mistake_in_another_group_more() -> None:
    """The point of HXE (Bertinetto et al. 2020): for a true Shirt, mass on Sneaker (another
    group) costs more than the same mass on T-shirt (same group), and more so as α grows."""
    import taxovit

    tax = taxovit.load_taxonomy(
        Path(__file__).resolve().parents[2] / "taxonomies" / "fashion_mnist.json"
    )
    classes = list(tax.leaves)
    tables = HierarchyTables(tax, classes)
    shirt = torch.tensor([classes.index("Shirt")])

    def loss(other: str, alpha: float) -> float:
        p = np.full(len(classes), 1e-6)
        p[classes.index("Shirt")] = p[classes.index(other)] = 0.5
        return float(hxe_loss(torch.tensor(np.log(p))[None], shirt, tables, alpha))

    def ratio(alpha: float) -> float:
        return loss("Sneaker", alpha) / loss("T-shirt/top", alpha)

    assert loss("Sneaker", 0.0) == pytest.approx(loss("T-shirt/top", 0.0))  # plain CE
    assert 1.0 < ratio(0.5) < ratio(2.0)
