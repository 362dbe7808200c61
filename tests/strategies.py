"""Hypothesis strategies for random taxonomies (trees and DAGs) shared by the tests."""

from __future__ import annotations

import networkx as nx
from hypothesis import strategies as st

from taxovit import Taxonomy

RANKS = ["kingdom", "order", "family", "genus", "species"]


@st.composite
def taxonomies(
    draw, *, dag: bool | None = None, min_nodes: int = 1, max_nodes: int = 25, ranked: bool = False
) -> Taxonomy:
    """A random single-rooted taxonomy; node names are shuffled so ids are not topological."""
    n = draw(st.integers(min_nodes, max_nodes))
    is_dag = draw(st.booleans()) if dag is None else dag
    names = draw(st.permutations([f"t{i}" for i in range(n)]))
    graph = nx.DiGraph()
    order = draw(st.permutations(range(n)))  # insertion order != topological order
    for i in order:
        graph.add_node(names[i])
    for i in range(1, n):
        if is_dag:
            parents = draw(st.sets(st.integers(0, i - 1), min_size=1, max_size=min(3, i)))
        else:
            parents = {draw(st.integers(0, i - 1))}
        for p in sorted(parents):
            graph.add_edge(names[p], names[i])
    tax = Taxonomy(graph)
    if ranked:
        # rank = RANKS[depth] on trees so that each rank sits at one depth
        depth = tax.index.depth
        for i, name in enumerate(tax.nodes):
            if depth[i] < len(RANKS) and depth[i] > 0:
                tax.graph.nodes[name]["rank"] = RANKS[depth[i]]
        tax = Taxonomy(tax.graph)
    return tax


def node_pairs(tax: Taxonomy, max_size: int = 30):
    n = len(tax.nodes)
    ids = st.integers(0, n - 1)
    return st.lists(st.tuples(ids, ids), min_size=1, max_size=max_size)
