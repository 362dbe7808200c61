"""The compiled index against slow obvious implementations on random trees and DAGs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import taxonomies

from taxovit import Taxonomy, TaxonomyError

SETTINGS = settings(max_examples=150, deadline=None)


def longest_depth(g: nx.DiGraph, root: str) -> dict[str, int]:
    depth = {root: 0}
    for n in nx.topological_sort(g):
        for c in g.successors(n):
            depth[c] = max(depth.get(c, 0), depth[n] + 1)
    return depth


def longest_height(g: nx.DiGraph) -> dict[str, int]:
    height: dict[str, int] = {}
    for n in reversed(list(nx.topological_sort(g))):
        height[n] = max((height[c] + 1 for c in g.successors(n)), default=0)
    return height


def anc_or_self(g: nx.DiGraph, n: str) -> set[str]:
    return nx.ancestors(g, n) | {n}


@given(taxonomies())
@SETTINGS
def test_depth_height_match_longest_paths(tax: Taxonomy) -> None:
    depth = longest_depth(tax.graph, tax.root)
    height = longest_height(tax.graph)
    ix = tax.index
    assert [depth[n] for n in tax.nodes] == ix.depth.tolist()
    assert [height[n] for n in tax.nodes] == ix.height.tolist()
    assert ix.max_depth == max(depth.values())
    assert ix.is_tree == tax.is_tree


@given(st.data(), taxonomies())
@SETTINGS
def test_pair_stats_match_brute_force(data, tax: Taxonomy) -> None:
    g = tax.graph
    depth = longest_depth(g, tax.root)
    height = longest_height(g)
    n = len(tax.nodes)
    pairs = data.draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=20)
    )
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    stats = tax.index.pair_stats(a, b)
    for i, (x, y) in enumerate(zip(tax.names(a), tax.names(b), strict=True)):
        ca = anc_or_self(g, x) & anc_or_self(g, y)
        assert tax.root in ca
        assert stats.n_common[i] == len(ca)
        assert stats.lca_height[i] == min(height[c] for c in ca)
        assert stats.lca_depth[i] == max(depth[c] for c in ca)
        tie = min(nx.shortest_path_length(g, c, x) + nx.shortest_path_length(g, c, y) for c in ca)
        assert stats.distance[i] == tie
        hx = anc_or_self(g, x) - {tax.root}
        assert tax.index.hset_size(np.array([a[i]]))[0] == len(hx)
    # the same query in the other order is symmetric
    rev = tax.index.pair_stats(b, a)
    for x, y in zip(stats, rev, strict=True):
        np.testing.assert_array_equal(x, y)


@given(st.data(), taxonomies(dag=False, max_nodes=60))
@SETTINGS
def test_tree_lca_matches_networkx(data, tax: Taxonomy) -> None:
    n = len(tax.nodes)
    pairs = data.draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=30)
    )
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    got = tax.names(tax.index.lca(a, b))
    want = [
        nx.lowest_common_ancestor(tax.graph, x, y)
        for x, y in zip(tax.names(a), tax.names(b), strict=True)
    ]
    assert got == want


@given(st.data(), taxonomies(dag=False, max_nodes=40))
@SETTINGS
def test_ancestor_at_depth(data, tax: Taxonomy) -> None:
    ix = tax.index
    d = data.draw(st.integers(0, ix.max_depth + 1))
    ids = np.arange(len(tax.nodes))
    got = ix.ancestor_at_depth(ids, d)
    for i, name in enumerate(tax.nodes):
        path = nx.shortest_path(tax.graph, tax.root, name)
        assert got[i] == (tax.id_of(path[d]) if d < len(path) else -1)


@given(taxonomies(ranked=True, max_nodes=40))
@SETTINGS
def test_ancestor_at_rank(tax: Taxonomy) -> None:
    ix = tax.index
    ids = np.arange(len(tax.nodes))
    for rank in tax.rank_names:
        got = ix.ancestor_at_rank(ids, rank)
        for i, name in enumerate(tax.nodes):
            cands = [
                (nx.shortest_path_length(tax.graph, c, name), tax.id_of(c))
                for c in anc_or_self(tax.graph, name)
                if tax.rank(c) == rank
            ]
            assert got[i] == (min(cands)[1] if cands else -1)


@given(taxonomies(dag=True, ranked=False, max_nodes=30), st.data())
@SETTINGS
def test_ancestor_at_rank_dag_nearest_then_smallest_id(tax: Taxonomy, data) -> None:
    names = tax.nodes
    for name in names:
        if name != tax.root and data.draw(st.booleans()):
            tax.graph.nodes[name]["rank"] = "r"
    tax = Taxonomy(tax.graph)
    if "r" not in tax.rank_names:
        return
    got = tax.index.ancestor_at_rank(np.arange(len(names)), "r")
    for i, name in enumerate(tax.nodes):
        cands = [
            (nx.shortest_path_length(tax.graph, c, name), tax.id_of(c))
            for c in anc_or_self(tax.graph, name)
            if tax.rank(c) == "r"
        ]
        assert got[i] == (min(cands)[1] if cands else -1)


def test_hand_example() -> None:
    tax = Taxonomy.from_edges(
        [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")]
    )
    a = tax.ids(["a1", "a1", "a2", "b1"])
    b = tax.ids(["a1", "a2", "b1", "b1"])
    s = tax.index.pair_stats(a, b)
    assert s.lca_height.tolist() == [0, 1, 2, 0]
    assert s.distance.tolist() == [0, 2, 4, 0]
    assert s.lca_depth.tolist() == [2, 1, 0, 2]
    assert tax.names(tax.index.lca(a, b)) == ["a1", "A", "root", "b1"]


def test_lca_refuses_dag() -> None:
    tax = Taxonomy.from_edges([("r", "a"), ("r", "b"), ("a", "c"), ("b", "c")])
    with pytest.raises(TaxonomyError, match="not unique"):
        tax.index.lca(np.array([0]), np.array([1]))


def test_deep_chain_and_wide_star() -> None:
    chain = Taxonomy.from_edges([(f"n{i}", f"n{i + 1}") for i in range(3000)])
    assert chain.index.max_depth == 3000
    last = chain.id_of("n3000")
    assert chain.index.lca(np.array([last]), np.array([chain.id_of("n10")]))[0] == chain.id_of(
        "n10"
    )
    star = Taxonomy.from_edges([("r", f"c{i}") for i in range(5000)])
    s = star.index.pair_stats(np.arange(1, 5001), np.arange(5000, 0, -1))
    assert set(s.distance.tolist()) == {2}  # i + j = 5001: never the same leaf


def test_dag_ancestor_lists_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import taxovit.taxonomy.index as index_module

    diamond = nx.DiGraph([("r", "a"), ("r", "b"), ("a", "c"), ("b", "c")])
    # the load-time bound counts depth + 1 per node (1 + 2 + 2 + 3 = 8); the lists hold 9
    monkeypatch.setattr(index_module, "MAX_ANCESTOR_ENTRIES", 7)
    with pytest.raises(TaxonomyError, match="at least 8 ancestor entries"):
        Taxonomy(diamond)
    monkeypatch.setattr(index_module, "MAX_ANCESTOR_ENTRIES", 8)
    tax = Taxonomy(diamond)
    with pytest.raises(TaxonomyError, match="at least 9 ancestor entries"):
        tax.index.pair_stats(np.array([3]), np.array([1]))
    monkeypatch.setattr(index_module, "MAX_ANCESTOR_ENTRIES", 9)
    assert Taxonomy(diamond).index.pair_stats(np.array([3]), np.array([1])).n_common.tolist() == [2]


def _naive_lca(tax: Taxonomy, x: int, y: int) -> int:
    """The deepest common ancestor-or-self, walking parents one pair at a time."""
    up = tax.index.parent
    path = {x}
    while up[x] >= 0:
        x = int(up[x])
        path.add(x)
    while y not in path:
        y = int(up[y])
    return y


@st.composite
def wide_trees(draw) -> Taxonomy:
    """Trees with a few very wide nodes, so path codes take more than 53 (or 62) bits."""
    depth = draw(st.integers(1, 9))
    fan = draw(st.lists(st.integers(1, 300), min_size=depth, max_size=depth))
    edges, level = [], ["r"]
    for d, f in enumerate(fan):
        parent = level[draw(st.integers(0, len(level) - 1))]
        level = [f"{parent}.{d}.{i}" for i in range(f)] + level[:3]
        edges += [(parent, c) for c in level[:f]]
    return Taxonomy.from_edges(edges)


@given(st.data(), st.one_of(taxonomies(dag=False, max_nodes=80), wide_trees()))
@SETTINGS
def test_path_code_lca_matches_sparse_table_and_naive(data, tax: Taxonomy) -> None:
    ix = tax.index
    n = len(tax.nodes)
    a = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=40)))
    b = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=a.size, max_size=a.size)))
    want = [_naive_lca(tax, int(x), int(y)) for x, y in zip(a, b, strict=True)]
    assert ix._sparse_lca(a, b).tolist() == want
    assert ix.lca(a, b).tolist() == want
    # broadcast (n, 1) x (n, K) as the ranked metrics ask, against the flat query
    grid = ix.pair_stats(a[:, None], b[None, :])
    flat = ix.pair_stats(np.repeat(a, b.size), np.tile(b, a.size))
    for x, y in zip(grid, flat, strict=True):
        np.testing.assert_array_equal(x.ravel(), y)


def test_path_codes_routes() -> None:
    """Narrow trees use the float exponent, wide ones the thresholds, too wide the sparse table."""
    narrow = Taxonomy.from_edges([("r", "a"), ("a", "b"), ("r", "c")])
    assert narrow.index._paths.exponent_depth is not None
    wide = Taxonomy.from_edges([(f"n{i}", f"n{i + 1}") for i in range(58)])  # 58 one-bit fields
    assert wide.index._paths.thresholds is not None
    deep = Taxonomy.from_edges([(f"n{i}", f"n{i + 1}") for i in range(70)])
    assert deep.index._paths is None
    last = deep.id_of("n70")
    assert deep.index.lca(np.array([last]), np.array([deep.id_of("n9")])).tolist() == [
        deep.id_of("n9")
    ]
    assert wide.index.lca(np.array([wide.id_of("n58")]), np.array([wide.id_of("n3")])).tolist() == [
        wide.id_of("n3")
    ]
