"""Hostile taxonomy files: any content gives a Taxonomy or one TaxovitError, never a
traceback, a hang or a changed file; deep and huge inputs either work or are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from taxovit import InputError, TaxonomyError, load_taxonomy, save_taxonomy


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
    with pytest.raises(InputError, match=r"\$\.children\[0\].*more>.*\.rank: node 'n2999' has rank 5"):
        load_taxonomy(path)
    path.write_text('{"name": "r", "note": ' + "[" * 5_000 + "]" * 5_000 + "}")
    with pytest.raises(InputError, match=r"\$\.note: an attribute value may nest .* at most 100"):
        load_taxonomy(path)
    path.write_text('{"name": "r", "children": ' + "[" * 5_000 + "]" * 5_000 + "}")
    with pytest.raises(InputError, match=r"\$\.children\[0\]: expected an object with 'name', got a list"):
        load_taxonomy(path)
    path.write_text("[" * 5_000 + "]" * 4_999)
    with pytest.raises(InputError, match=r"deep\.json, line 1: invalid JSON: Expecting ',' delimiter"):
        load_taxonomy(path)


def test_deep_dag_is_refused_at_load_time_with_the_size(tmp_path: Path) -> None:
    # a 20,000-level chain plus one shortcut: a DAG whose ancestor lists would take ~3 GB
    path = chain_csv(tmp_path / "dag.csv", 20_000, extra="n0,n20000\n")
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    msg = str(err.value)
    assert "dag.csv" in msg and "at least 200,030,001 ancestor entries" in msg
    assert "tree" in msg and "edge list" in msg
