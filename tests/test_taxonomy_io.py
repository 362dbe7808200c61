"""Loaders and writers: lossless round trips on random trees/DAGs and clear errors."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import taxonomies

from taxovit import InputError, Taxonomy, TaxonomyError, load_taxonomy, save_taxonomy
from taxovit.taxonomy import detect_format, dumps_taxonomy

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def same_graph(a: Taxonomy, b: Taxonomy) -> None:
    assert a.root == b.root
    assert set(a.graph.edges) == set(b.graph.edges)
    assert dict(a.graph.nodes(data=True)) == dict(b.graph.nodes(data=True))


@st.composite
def attributed(draw, **kw) -> Taxonomy:
    tax = draw(taxonomies(**kw))
    for name in tax.nodes:
        if draw(st.booleans()):
            tax.graph.nodes[name]["rank"] = draw(st.sampled_from(["order", "family", "genus"]))
        if draw(st.booleans()):
            tax.graph.nodes[name]["note"] = draw(st.text("ab ,\"'\n", min_size=1, max_size=6))
    return Taxonomy(tax.graph)


@pytest.mark.parametrize(("fmt", "suffix"), [("nested", ".json"), ("edges", ".csv"), ("node-link", ".json")])
@given(tax=attributed())
@SETTINGS
def test_round_trip_lossless(tmp_path: Path, fmt: str, suffix: str, tax: Taxonomy) -> None:
    path = tmp_path / f"t{suffix}"
    save_taxonomy(tax, path, format=fmt)
    assert detect_format(path) == fmt
    back = load_taxonomy(path)
    same_graph(tax, back)
    assert back.is_tree == tax.is_tree


@given(tax=taxonomies(dag=False, min_nodes=2))
@SETTINGS
def test_rank_columns_round_trip_trees(tmp_path: Path, tax: Taxonomy) -> None:
    # one rank per depth, the root's included so that its name survives
    for name, depth in zip(tax.nodes, tax.index.depth, strict=True):
        tax.graph.nodes[name]["rank"] = f"level{depth}"
    tax = Taxonomy(tax.graph)
    path = tmp_path / "t.tsv"
    path.write_text(dumps_taxonomy(tax, "ranks", delimiter="\t"))
    assert detect_format(path) == "ranks"
    same_graph(tax, load_taxonomy(path))


def test_nested_dag_repeated_name_is_one_node(tmp_path: Path) -> None:
    path = tmp_path / "dag.json"
    path.write_text(
        '{"name": "root", "children": ['
        '{"name": "A", "children": [{"name": "x", "rank": "sp", "children": [{"name": "x1"}]}]},'
        '{"name": "B", "children": [{"name": "x", "children": [{"name": "x2"}]}]}]}'
    )
    tax = load_taxonomy(path)
    assert not tax.is_tree
    assert sorted(tax.parents("x")) == ["A", "B"]
    assert sorted(tax.children("x")) == ["x1", "x2"]
    assert tax.rank("x") == "sp"


def test_rank_csv_builds_tree_and_root(tmp_path: Path) -> None:
    path = tmp_path / "birds.csv"
    path.write_text(
        "order,family,genus,species\n"
        "Procellariiformes,Diomedeidae,Phoebastria,Phoebastria nigripes\n"
        "Procellariiformes,Diomedeidae,Phoebastria,Phoebastria immutabilis\n"
        "Passeriformes,Corvidae,Corvus,\n"
    )
    tax = load_taxonomy(path)
    assert tax.root == "root"
    assert tax.rank_names == ["order", "family", "genus", "species"]
    assert tax.rank("Corvus") == "genus" and "Corvus" in tax.leaves
    assert tax.summary()["leaves"] == 3


def test_rank_csv_same_name_two_parents_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("family,genus\nF1,G\nF2,G\n")
    with pytest.raises(InputError) as err:
        load_taxonomy(path)
    msg = str(err.value)
    assert "bad.csv" in msg and "line 3" in msg and "'genus'" in msg and "F1" in msg


def test_rank_csv_gap_reported(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("family,genus,species\nF1,,s1\n")
    with pytest.raises(InputError, match=r"line 2, column 'genus'"):
        load_taxonomy(path)


def test_cycle_named(tmp_path: Path) -> None:
    path = tmp_path / "cyc.csv"
    path.write_text("parent,child\nr,a\na,b\nb,c\nc,a\n")
    with pytest.raises(TaxonomyError, match=r"cycle.*'a'.*'b'.*'c'|cycle.*'b'.*'c'.*'a'|cycle.*'c'.*'a'.*'b'"):
        load_taxonomy(path)


def test_several_roots_named_and_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "forest.csv"
    path.write_text("parent,child\nr1,a\nr2,b\n")
    with pytest.raises(TaxonomyError, match=r"2 roots.*'r1', 'r2'"):
        load_taxonomy(path)
    tax = load_taxonomy(path, add_root=True)
    assert tax.root == "__root__" and sorted(tax.children("__root__")) == ["r1", "r2"]


def test_duplicate_edge_and_empty_name(tmp_path: Path) -> None:
    dup = tmp_path / "dup.csv"
    dup.write_text("parent,child\nr,a\nr,a\n")
    with pytest.raises(InputError, match=r"line 3.*duplicate edge 'r' -> 'a'"):
        load_taxonomy(dup)
    empty = tmp_path / "e.json"
    empty.write_text('{"name": "r", "children": [{"name": ""}]}')
    with pytest.raises(InputError, match=r"children\[0\].*non-empty"):
        load_taxonomy(empty)
    dupchild = tmp_path / "d.json"
    dupchild.write_text('{"name": "r", "children": [{"name": "a"}, {"name": "a"}]}')
    with pytest.raises(InputError, match="duplicate child 'a'"):
        load_taxonomy(dupchild)


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        load_taxonomy(tmp_path / "empty.json")
    (tmp_path / "latin1.csv").write_bytes("parent,child\nr,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="line 2.*UTF-8"):
        load_taxonomy(tmp_path / "latin1.csv")
    (tmp_path / "broken.json").write_text('{"name": "r", "children": [}')
    with pytest.raises(InputError, match="invalid JSON"):
        load_taxonomy(tmp_path / "broken.json")
    with pytest.raises(InputError, match="not found"):
        load_taxonomy(tmp_path / "missing.json")


def test_writer_refuses_dag_as_rank_columns() -> None:
    g = nx.DiGraph([("r", "a"), ("r", "b"), ("a", "c"), ("b", "c")])
    with pytest.raises(TaxonomyError, match="DAG"):
        dumps_taxonomy(Taxonomy(g), "ranks")


@given(tax=attributed())
@SETTINGS
def test_array_built_taxonomy_matches_graph_built(tmp_path: Path, tax: Taxonomy) -> None:
    # The edge-list loader builds from arrays (no networkx graph until asked); every accessor
    # must answer as for the taxonomy wrapped around a graph.
    path = tmp_path / "t.csv"
    save_taxonomy(tax, path)
    fast = load_taxonomy(path)
    assert "graph" not in fast.__dict__  # not built by loading
    for name in tax.nodes:
        assert sorted(fast.parents(name)) == sorted(tax.graph.predecessors(name))
        assert sorted(fast.children(name)) == sorted(tax.graph.successors(name))
        assert fast.ancestors(name) == nx.ancestors(tax.graph, name)
        assert fast.rank(name) == tax.graph.nodes[name].get("rank")
        assert fast.attributes(name) == dict(tax.graph.nodes[name])
        assert sorted(tax.parents(name)) == sorted(fast.parents(name))
        assert tax.ancestors(name) == fast.ancestors(name)
    assert fast.summary() == tax.summary()
    with pytest.raises(KeyError, match="not a node"):
        fast.rank("no such taxon")


def test_edge_list_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "header_only.csv"
    path.write_text("parent,child,rank\n")
    with pytest.raises(InputError, match=r"header_only\.csv.*no data rows"):
        load_taxonomy(path)
