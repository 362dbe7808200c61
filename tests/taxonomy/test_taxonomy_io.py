"""Loaders and writers: lossless round trips on random trees/DAGs and clear errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import taxonomies

from taxovit import InputError, Taxonomy, TaxonomyError, load_taxonomy, save_taxonomy
from taxovit.taxonomy import detect_format, dumps_taxonomy

SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


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


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("nested", ".json"), ("edges", ".csv"), ("node-link", ".json")]
)
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


def test_rank_csv_gap_attaches_to_the_nearest_coarser_rank(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("family,genus,species\nF1,,s1\nF1,G1,s2\n")
    tax = load_taxonomy(path)
    assert tax.parents("s1") == ["F1"] and tax.parents("s2") == ["G1"]
    assert tax.rank("s1") == "species"
    path.write_text("family,genus,species\n,G,s1\n")  # the coarsest rank must be filled
    with pytest.raises(
        InputError, match=r"line 2, column 'family': empty cell before a finer rank"
    ):
        load_taxonomy(path)


def test_cycle_named(tmp_path: Path) -> None:
    path = tmp_path / "cyc.csv"
    path.write_text("parent,child\nr,a\na,b\nb,c\nc,a\n")
    with pytest.raises(
        TaxonomyError, match=r"cycle.*'a'.*'b'.*'c'|cycle.*'b'.*'c'.*'a'|cycle.*'c'.*'a'.*'b'"
    ):
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


# ----------------------------------------------------------------- hardened readers
@pytest.mark.parametrize(
    ("text", "where", "key"),
    [
        (
            '{"name": "r", "children": [{"name": "a"}], "children": [{"name": "b"}]}',
            "$:",
            "children",
        ),
        ('{"name": "r", "name": "s"}', "$:", "name"),
        (
            '{"name": "r", "children": [{"name": "a", "children": [], "children": [{"name": "x"}]}]}',
            "$.children[0]:",
            "children",
        ),
        ('{"name": "r", "meta": {"k": 1, "k": 2}}', "$.meta:", "k"),
        ('{"nodes": [{"id": "r"}], "links": [], "links": []}', "$:", "links"),
    ],
)
def test_json_repeated_key_is_named_with_its_path(
    tmp_path: Path, text: str, where: str, key: str
) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_taxonomy(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {where} key {key!r} appears more than once"), msg


NODE_LINK_BAD = [
    (
        '{"nodes": [{"id": null}], "links": []}',
        r"\$\.nodes\[0\]\.id: a node id must be a non-empty string.*got null",
    ),
    ('{"nodes": [{"id": [1]}], "links": []}', r"\$\.nodes\[0\]\.id: .*got a list"),
    ('{"nodes": [{"id": {"a": 1}}], "links": []}', r"\$\.nodes\[0\]\.id: .*got an object"),
    ('{"nodes": [{"id": 7}], "links": []}', r"\$\.nodes\[0\]\.id: .*got 7"),
    ('{"nodes": null, "links": []}', r"\$\.nodes: expected a list of objects, got null"),
    ('{"nodes": [{"id": "a"}], "links": null}', r"\$\.links: expected a list of objects, got null"),
    (
        '{"nodes": [{"id": "a"}], "edges": {}}',
        r"\$\.edges: expected a list of objects, got an object",
    ),
    (
        '{"nodes": [{"id": "a"}], "links": [3]}',
        r"\$\.links\[0\]: expected an object with 'source' and 'target'",
    ),
    ('{"nodes": [{"id": "a"}], "links": [{"source": "a"}]}', r"\$\.links\[0\]: expected an object"),
    (
        '{"nodes": [{"id": "a"}], "links": [{"source": "a", "target": "b"}]}',
        r"\$\.links\[0\]\.target: no node has id 'b'",
    ),
    (
        '{"nodes": [{"id": "a"}], "links": [{"source": null, "target": "a"}]}',
        r"\$\.links\[0\]\.source: .*null",
    ),
    ('{"nodes": [{"id": "a"}, {"id": "a"}], "links": []}', r"\$\.nodes\[1\]: node id 'a' again"),
    ('{"nodes": ["a"], "links": []}', r"\$\.nodes\[0\]: expected an object with 'id', got 'a'"),
    ('{"nodes": [], "links": [], "edges": []}', "both 'links' and 'edges'"),
]


@pytest.mark.parametrize(("text", "match"), NODE_LINK_BAD)
def test_node_link_bad_structure_is_one_input_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "nl.json"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_taxonomy(path)


@pytest.mark.parametrize(
    "rank", ["1", "2.5", "true", "false", "[]", '["genus"]', '{"a": 1}', "null", '" "']
)
@pytest.mark.parametrize("fmt", ["nested", "node-link"])
def test_rank_is_a_string(tmp_path: Path, rank: str, fmt: str) -> None:
    path = tmp_path / "t.json"
    if fmt == "nested":
        path.write_text(f'{{"name": "r", "children": [{{"name": "x", "rank": {rank}}}]}}')
        where = r"\$\.children\[0\]\.rank"
    else:
        path.write_text(
            f'{{"nodes": [{{"id": "r"}}, {{"id": "x", "rank": {rank}}}], '
            '"links": [{"source": "r", "target": "x"}]}'
        )
        where = r"\$\.nodes\[1\]\.rank"
    with pytest.raises(
        InputError, match=rf"t\.json: {where}: node 'x' has rank .*a rank is a non-empty string"
    ):
        load_taxonomy(path)


WHITESPACE = {
    "edges.csv": "parent,child,rank\n, r ,\n r , a , genus \n",
    "ranks.csv": " kingdom , genus \n r , a \n",
    "nested.json": '{"name": " r ", "children": [{"name": "\\ta ", "rank": " genus "}]}',
    "nl.json": '{"nodes": [{"id": " r "}, {"id": "a ", "rank": "genus\\n"}], '
    '"links": [{"source": "r", "target": " a"}]}',
}
BLANK = {
    "edges.csv": ("parent,child\nr, \n", "line 2, column 'child': empty child name"),
    "ranks.csv": ("family,genus\n  ,G\n", "line 2, column 'family': empty cell"),
    "nested.json": (
        '{"name": "r", "children": [{"name": " \\t"}]}',
        r"\$\.children\[0\]: 'name' must be",
    ),
    "nl.json": ('{"nodes": [{"id": "  "}], "links": []}', r"\$\.nodes\[0\]\.id: a node id must be"),
}


@pytest.mark.parametrize("name", sorted(WHITESPACE))
def test_surrounding_whitespace_is_not_part_of_a_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(WHITESPACE[name])
    tax = load_taxonomy(path)
    assert set(tax.graph.edges) == {("r", "a")}
    assert tax.rank("a") == "genus"
    text, match = BLANK[name]
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_taxonomy(path)


@pytest.mark.parametrize("fmt", ["edges", "ranks"])
def test_tsv_is_tab_separated_in_every_csv_format(tmp_path: Path, fmt: str) -> None:
    g = nx.DiGraph([("Aves", "Corvus"), ("Corvus", "Corvus corax, L.")])
    nx.set_node_attributes(
        g, {"Aves": "class", "Corvus": "genus", "Corvus corax, L.": "species"}, "rank"
    )
    tax = Taxonomy(g)
    path = tmp_path / "t.tsv"
    save_taxonomy(tax, path, format=fmt)
    header = path.read_text().splitlines()[0]
    assert header == ("parent\tchild\trank" if fmt == "edges" else "class\tgenus\tspecies")
    assert detect_format(path) == fmt
    same_graph(tax, load_taxonomy(path))


def test_tsv_with_commas_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("parent,child\nr,a\n")  # what `convert x.json y.tsv` used to write
    with pytest.raises(InputError, match=r"t\.tsv, line 1: a \.tsv file is tab-separated"):
        load_taxonomy(path)


@pytest.mark.parametrize(
    ("attr", "fmt"),
    [
        ("name", "nested"),
        ("children", "nested"),
        ("id", "node-link"),
        ("parent", "edges"),
        ("child", "edges"),
    ],
)
def test_writer_refuses_an_attribute_its_format_uses_for_structure(attr: str, fmt: str) -> None:
    g = nx.DiGraph([("r", "a")])
    g.nodes["a"][attr] = "x"  # e.g. an edge list with a 'name' column, a nested file with 'id'
    with pytest.raises(TaxonomyError, match=f"attribute named {attr!r}"):
        dumps_taxonomy(Taxonomy(g), fmt)


NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=6).map(str.strip).filter(bool)


@given(tax=taxonomies(max_nodes=8), data=st.data())
@settings(max_examples=30, deadline=None)
def test_any_stripped_name_survives_every_format(tax: Taxonomy, data: st.DataObject) -> None:
    names = data.draw(st.lists(NAMES, min_size=len(tax), max_size=len(tax), unique=True))
    g = nx.relabel_nodes(tax.graph, dict(zip(tax.nodes, names, strict=True)))
    for name in g:
        g.nodes[name]["rank"] = data.draw(NAMES)
    tax = Taxonomy(g)
    formats = [("nested", ".json"), ("edges", ".csv"), ("edges", ".tsv"), ("node-link", ".json")]
    if tax.is_tree:  # rank columns: one rank per depth
        depth = dict(zip(tax.nodes, tax.index.depth.tolist(), strict=True))
        nx.set_node_attributes(g, {n: f"level {depth[n]}" for n in g}, "rank")
        formats += [("ranks", ".csv"), ("ranks", ".tsv")]
        tax = Taxonomy(g)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, suffix in formats:
            path = Path(tmp) / f"t{suffix}"
            save_taxonomy(tax, path, format=fmt)
            same_graph(tax, load_taxonomy(path))


def test_writer_refuses_names_and_ranks_no_reader_keeps() -> None:
    with pytest.raises(TaxonomyError, match=r"node name ' a' has surrounding whitespace"):
        dumps_taxonomy(Taxonomy(nx.DiGraph([("r", " a")])), "edges")
    g = nx.DiGraph([("r", "a")])
    g.nodes["a"]["rank"] = "genus\n"
    with pytest.raises(TaxonomyError, match=r"rank 'genus\\n' has surrounding whitespace"):
        dumps_taxonomy(Taxonomy(g), "nested")


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("edges", ".csv"), ("edges", ".tsv"), ("ranks", ".csv")]
)
def test_carriage_return_in_a_name_is_quoted(tmp_path: Path, fmt: str, suffix: str) -> None:
    g = nx.DiGraph([("r", "a\rb"), ("r", 'c"\nd')])
    nx.set_node_attributes(g, {"r": "kingdom", "a\rb": "genus", 'c"\nd': "genus"}, "rank")
    path = tmp_path / f"t{suffix}"
    save_taxonomy(Taxonomy(g), path, format=fmt)
    same_graph(Taxonomy(g), load_taxonomy(path))
