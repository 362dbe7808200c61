"""Hostile taxonomy files: any content gives a Taxonomy or one TaxovitError, never a
traceback, a hang or a changed file; deep and huge inputs either work or are refused clearly."""

from __future__ import annotations

import contextlib
import copy
import json
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from taxovit import InputError, Taxonomy, TaxonomyError, TaxovitError, load_taxonomy, save_taxonomy
from taxovit.cli import app
from taxovit.taxonomy import dumps_taxonomy

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_error(res, *fragments: str) -> str:
    """Exit status 2 and one message (no traceback) holding every fragment."""
    msg = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert msg.count("error:") == 1 and "Traceback" not in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


def chain_csv(path: Path, depth: int, extra: str = "") -> Path:
    path.write_text("parent,child\n" + "".join(f"n{i},n{i + 1}\n" for i in range(depth)) + extra)
    return path


def nested_chain(depth: int) -> str:
    opens = "".join(f'{{"name": "n{i}", "children": [' for i in range(depth))
    return opens + f'{{"name": "n{depth}"}}' + "]}" * depth


# ----------------------------------------------------------------- deep taxonomies
@pytest.mark.parametrize("depth", [1_200, 20_000])
def test_deep_chain_round_trips_through_nested_json(tmp_path: Path, depth: int) -> None:
    tax = load_taxonomy(chain_csv(tmp_path / "chain.csv", depth))
    save_taxonomy(tax, tmp_path / "chain.json")
    back = load_taxonomy(tmp_path / "chain.json")
    assert back.root == "n0" and back.index.max_depth == depth and back.is_tree
    assert set(back.graph.edges) == set(tax.graph.edges)
    ids = back.ids([f"n{depth}", "n5"])
    assert back.index.pair_stats(ids[:1], ids[1:]).distance.tolist() == [depth - 5]
    (tmp_path / "compact.json").write_text(nested_chain(depth))  # no indentation at all
    assert load_taxonomy(tmp_path / "compact.json").index.max_depth == depth


def test_deep_json_errors_still_have_a_path(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(nested_chain(3_000).replace('"n2999"', '"n2999", "rank": 5'))
    with pytest.raises(
        InputError, match=r"\$\.children\[0\].*more>.*\.rank: node 'n2999' has rank 5"
    ):
        load_taxonomy(path)
    path.write_text('{"name": "r", "note": ' + "[" * 5_000 + "]" * 5_000 + "}")
    with pytest.raises(InputError, match=r"\$\.note: an attribute value may nest .* at most 100"):
        load_taxonomy(path)
    path.write_text('{"name": "r", "children": ' + "[" * 5_000 + "]" * 5_000 + "}")
    with pytest.raises(
        InputError, match=r"\$\.children\[0\]: expected an object with 'name', got a list"
    ):
        load_taxonomy(path)
    path.write_text("[" * 5_000 + "]" * 4_999)
    with pytest.raises(
        InputError, match=r"deep\.json, line 1: invalid JSON: Expecting ',' delimiter"
    ):
        load_taxonomy(path)


def test_deep_dag_is_refused_at_load_time_with_the_size(tmp_path: Path) -> None:
    # a 20,000-level chain plus one shortcut: a DAG whose ancestor lists would take ~3 GB
    path = chain_csv(tmp_path / "dag.csv", 20_000, extra="n0,n20000\n")
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    msg = str(err.value)
    assert "dag.csv" in msg and "at least 200,030,001 ancestor entries" in msg
    assert "tree" in msg and "edge list" in msg


# ----------------------------------------------------------------- the command line
TREE = '{"name": "r", "rank": "kingdom", "children": [{"name": "a, b", "rank": "genus"}]}'


def test_convert_never_replaces_its_input(tmp_path: Path) -> None:
    src = tmp_path / "t.json"
    src.write_text(TREE)
    one_error(cli("taxonomy", "convert", src, src), "DST", "same file as input taxonomy")
    one_error(
        cli("taxonomy", "convert", src, tmp_path / "x" / ".." / "t.json", "--to", "edges"),
        "same file",
    )
    (tmp_path / "hard.json").hardlink_to(src)
    one_error(cli("taxonomy", "convert", src, tmp_path / "hard.json"), "same file")
    assert src.read_text() == TREE


def test_convert_checks_the_destination_and_format_before_anything(tmp_path: Path) -> None:
    src = tmp_path / "t.json"
    src.write_text(TREE)
    one_error(cli("taxonomy", "convert", src, tmp_path), "DST", "is a folder")
    one_error(
        cli("taxonomy", "convert", src, tmp_path / "new" / "t.txt"),
        "cannot tell the format",
        "--to",
    )
    one_error(cli("taxonomy", "convert", src, "-"), "cannot tell the format", "--to")
    # the destination is checked before the (broken) input is read
    one_error(cli("taxonomy", "convert", tmp_path / "missing.json", tmp_path / "t.txt"), "DST")
    (tmp_path / "file").write_text("x")
    one_error(cli("taxonomy", "convert", src, tmp_path / "file" / "t.json"), "is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "t.json"]


def test_convert_into_a_new_folder_and_to_standard_output(tmp_path: Path) -> None:
    src = tmp_path / "t.json"
    src.write_text(TREE)
    dst = tmp_path / "a" / "b" / "t.csv"
    assert cli("taxonomy", "convert", src, dst).exit_code == 0
    assert load_taxonomy(dst).rank("a, b") == "genus"
    res = cli("taxonomy", "convert", src, "-", "--to", "edges")
    assert res.exit_code == 0 and res.stdout == 'parent,child,rank\n,r,kingdom\nr,"a, b",genus\n'


@pytest.mark.parametrize("fmt", ["edges", "ranks"])
def test_convert_to_tsv_is_tab_separated_and_round_trips(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "t.json"
    src.write_text(TREE)
    dst = tmp_path / "t.tsv"
    assert cli("taxonomy", "convert", src, dst, "--to", fmt).exit_code == 0
    assert "," not in dst.read_text().splitlines()[0] and "\t" in dst.read_text()
    back = tmp_path / "back.json"
    assert cli("taxonomy", "convert", dst, back).exit_code == 0
    assert json.loads(back.read_text()) == json.loads(TREE)


def test_convert_a_deep_chain_both_ways(tmp_path: Path) -> None:
    chain_csv(tmp_path / "chain.csv", 1_200)
    assert (
        cli("taxonomy", "convert", tmp_path / "chain.csv", tmp_path / "chain.json").exit_code == 0
    )
    assert (
        cli("taxonomy", "convert", tmp_path / "chain.json", tmp_path / "again.csv").exit_code == 0
    )
    info = json.loads(cli("taxonomy", "info", tmp_path / "again.csv", "--json").stdout)
    assert info["max_depth"] == 1_200 and info["kind"] == "tree"


@pytest.mark.parametrize("command", ["info", "validate", "convert"])
def test_missing_folder_or_stdin_input_is_one_error(tmp_path: Path, command: str) -> None:
    extra = [tmp_path / "out.json"] if command == "convert" else []
    one_error(
        cli("taxonomy", command, tmp_path / "missing.json", *extra), "missing.json: file not found"
    )
    one_error(
        cli("taxonomy", command, tmp_path, *extra),
        f"{tmp_path}: is a folder; expected a taxonomy file",
    )
    one_error(
        cli("taxonomy", command, "-", *extra), "-: a taxonomy is not read from standard input"
    )
    assert not (tmp_path / "out.json").exists()


def test_save_taxonomy_checks_its_path(tmp_path: Path) -> None:
    tax = load_taxonomy(chain_csv(tmp_path / "c.csv", 3))
    with pytest.raises(TaxovitError, match="is a folder"):
        save_taxonomy(tax, tmp_path, format="nested")
    with pytest.raises(ValueError, match="cannot tell the taxonomy format"):
        save_taxonomy(tax, tmp_path / "c.txt")
    save_taxonomy(tax, tmp_path / "new" / "c.tsv")
    assert (tmp_path / "new" / "c.tsv").read_text().startswith("parent\tchild")


# ----------------------------------------------------------------- property tests
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seed_taxonomy(dag: bool) -> Taxonomy:
    g = nx.DiGraph(
        [
            ("Aves", "Corvidae"),
            ("Aves", "Laridae"),
            ("Corvidae", "Corvus"),
            ("Laridae", "Larus"),
            ("Corvus", "Corvus corax"),
            ("Larus", "Larus argentatus"),
        ]
    )
    for name, rank in zip(
        g.nodes, ["class", "family", "family", "genus", "genus", "species", "species"], strict=True
    ):
        g.nodes[name]["rank"] = rank
    g.nodes["Corvus corax"]["common_name"] = 'Raven, "common"'
    if dag:
        g.add_edge("Corvidae", "Larus")
    return Taxonomy(g)


SEEDS = {
    "nested.json": dumps_taxonomy(_seed_taxonomy(True), "nested"),
    "edges.csv": dumps_taxonomy(_seed_taxonomy(True), "edges"),
    "ranks.tsv": dumps_taxonomy(_seed_taxonomy(False), "ranks", delimiter="\t"),
    "ranks.csv": dumps_taxonomy(_seed_taxonomy(False), "ranks"),
    "node-link.json": dumps_taxonomy(_seed_taxonomy(True), "node-link"),
    # the formats people exchange (7 taxa each)
    "Taxon.tsv": "taxonID\tparentNameUsageID\tacceptedNameUsageID\tscientificName\ttaxonRank\tx\n"
    "1\t\t\tAves\tclass\t\n2\t1\t\tCorvidae\tfamily\t\n3\t1\t\tLaridae\tfamily\t\n"
    "4\t2\t\tCorvus\tgenus\t\n5\t3\t\tLarus\tgenus\t\n6\t4\t\tCorvus corax\tspecies\t\n"
    "7\t5\t\tLarus argentatus\tspecies\t\n8\t5\t7\tLarus smithsonianus\tspecies\tsyn\n",
    "taxonomy.csv": "parent_taxon_id,taxon_id,rank_level,leaf_class_id,name\n,3,50.0,,Aves\n"
    "3,7019,30.0,,Corvidae\n3,4,30.0,,Laridae\n7019,8010,20.0,,Corvus\n4,5,20.0,,Larus\n"
    '8010,8021,10.0,0.0,"Corvus corax"\n5,6,10.0,1.0,Larus argentatus\n',
    "lineage.tsv": "Feature ID\tTaxon\tConfidence\nf1\tk__Bacteria; p__Firmicutes; g__Bacillus; "
    "s__cereus\t0.9\nf2\tk__Bacteria; p__Firmicutes; g__Listeria\t0.8\n"
    "f3\tk__Bacteria; p__Proteobacteria; g__Vibrio; s__\t0.7\n",
    "lineages.txt": "A|B|C|D\nA|B|E\nA|F|G\n",
    "hierarchy.txt": "1 0\n2 1\n3 1\n4 2\n5 2\n6 3\n",
}
SNIPPETS = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"',
    "\\",
    "\n",
    "\r",
    "\t",
    " ",
    "\x00",
    "\ufeff",
    "é",
    "null",
    "true",
    "0",
    "-1e999",
    '"name"',
    '"children"',
    '"rank"',
    '"id"',
    '"nodes"',
    '"links"',
    "[" * 1200,
    '{"name": "x", "children": [' * 1100,
    "\\ud800",
    ",,,",
    '""',
]


@st.composite
def text_mutations(draw: st.DrawFn, text: str) -> str:
    """Delete, insert or duplicate characters or lines of ``text``, a few times."""
    for _ in range(draw(st.integers(1, 4))):
        lines = text.splitlines(keepends=True) or [""]
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(1, 12)))
        k = draw(st.integers(0, len(lines) - 1))
        op = draw(
            st.sampled_from(["delete", "insert", "duplicate", "drop line", "copy line", "swap"])
        )
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(SNIPPETS) | st.text(max_size=3)) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif op in ("drop line", "copy line"):
            lines[k : k + 1] = [] if op == "drop line" else [lines[k], lines[k]]
            text = "".join(lines)
        else:
            m = draw(st.integers(0, len(lines) - 1))
            lines[k], lines[m] = lines[m], lines[k]
            text = "".join(lines)
    return text


JSON_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=4)
    | st.just([])
    | st.just({})
    | st.lists(st.text(max_size=2), max_size=2)
    | st.just({"name": None})
    | st.just([[[[[]]]]])
    | st.just(" ")
)


def _slots(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a JSON document."""
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        keys = (
            list(node)
            if isinstance(node, dict)
            else range(len(node))
            if isinstance(node, list)
            else []
        )
        for key in keys:
            out.append((node, key))
            stack.append(node[key])
    return out


@st.composite
def json_type_swaps(draw: st.DrawFn, text: str) -> str:
    """Replace a few values (or drop keys) of a JSON document by values of other types."""
    doc = json.loads(text)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(doc)
        if not slots:
            break
        node, key = draw(st.sampled_from(slots))
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = copy.deepcopy(draw(JSON_VALUES))  # never share a st.just() object
    return json.dumps(doc)


def hostile_files() -> st.SearchStrategy[tuple[str, bytes]]:
    """(file name, content): random bytes or text, and mutations of each valid seed."""
    names = st.sampled_from(["t.json", "t.csv", "t.tsv", "t.txt", "hierarchy.txt"])
    raw = st.tuples(
        names,
        st.binary(max_size=200)
        | st.text(alphabet='{}[],:"\n\t ab,nul', max_size=60).map(str.encode),
    )
    mutated = [st.tuples(st.just(n), text_mutations(t).map(str.encode)) for n, t in SEEDS.items()]
    swapped = [
        st.tuples(st.just(n), json_type_swaps(t).map(str.encode))
        for n, t in SEEDS.items()
        if n.endswith(".json")
    ]
    return st.one_of(raw, *mutated, *swapped)


@contextlib.contextmanager
def no_hang(seconds: float = 20.0) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block runs longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_seeds_are_valid() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in SEEDS.items():
            (Path(tmp) / name).write_text(text)
            assert len(load_taxonomy(Path(tmp) / name)) == 7


READ_FORMATS = [None, "nested", "edges", "ranks", "node-link", "dwc", "inat", "lineage", "nabirds"]


@given(
    file=hostile_files(),
    add_root=st.booleans(),
    qualify=st.booleans(),
    fmt=st.sampled_from(READ_FORMATS),
)
@PROPS
def test_load_never_raises_anything_but_a_taxovit_error(
    file: tuple[str, bytes], add_root: bool, qualify: bool, fmt: str | None
) -> None:
    name, data = file
    with tempfile.TemporaryDirectory() as tmp, no_hang():
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            load_taxonomy(path, fmt, add_root=add_root, qualify_names=qualify)
        except TaxovitError as exc:
            assert str(exc) and "np." not in str(exc)


@given(
    file=hostile_files(),
    to=st.sampled_from([None, "nested", "edges", "ranks", "node-link"]),
    dst=st.sampled_from(["out.json", "out.csv", "out.tsv", "sub/out.json"]),
)
@PROPS
def test_convert_never_changes_its_input_and_exits_0_or_2(
    file: tuple[str, bytes], to: str | None, dst: str
) -> None:
    name, data = file
    with tempfile.TemporaryDirectory() as tmp, no_hang():
        src, out = Path(tmp) / name, Path(tmp) / dst
        src.write_bytes(data)
        res = cli("taxonomy", "convert", src, out, *(["--to", to] if to else []))
        assert src.read_bytes() == data
        assert res.exit_code in (0, 2), res.output
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
        assert out.exists() == (res.exit_code == 0)
        if res.exit_code == 2:
            assert "Traceback" not in res.output and "error:" in res.output


def _outcome(parse: Any, text: str) -> tuple[Any, ...]:
    try:
        return ("ok", parse(text))
    except json.JSONDecodeError as exc:
        return ("error", exc.msg, exc.pos)


JSON_DOCS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(
    text=JSON_DOCS.map(json.dumps)
    | st.text(alphabet='{}[],:"\\ \n0123456789-.etrufalsn', max_size=24)
)
@PROPS
def test_deep_json_parser_agrees_with_json_loads(text: str) -> None:
    from taxovit.taxonomy.io import _loads_iteratively

    # the non-recursive parser (used past Python's recursion limit) returns the same values
    # and reports the same errors at the same positions
    assert repr(_outcome(lambda t: _loads_iteratively(t, dict), text)) == repr(
        _outcome(lambda t: json.loads(t, object_pairs_hook=dict), text)
    )
