"""The taxonomy formats people exchange: Darwin Core Taxon files, iNaturalist's model
taxonomy.csv, lineage strings (QIIME, GTDB, ``A|B|C``), NABirds' hierarchy.txt + classes.txt;
rank-column gaps and qualified names; taxonomies keyed by id with a ``name`` attribute."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from taxovit import InputError, TaxonomyError, TaxovitError, load_taxonomy
from taxovit.cli import app
from taxovit.taxonomy import detect_format

runner = CliRunner()

# GBIF backbone style (Taxon.tsv): many columns, tab-separated, a synonym row, blank cells
GBIF = (
    "taxonID\tdatasetID\tparentNameUsageID\tacceptedNameUsageID\tscientificName\t"
    "scientificNameAuthorship\ttaxonRank\ttaxonomicStatus\tkingdom\n"
    "1\td7dd\t\t\tAnimalia\t\tkingdom\taccepted\tAnimalia\n"
    "44\td7dd\t1\t\tChordata Haeckel, 1874\tHaeckel, 1874\tphylum\taccepted\tAnimalia\n"
    "212\td7dd\t44\t\tAves\t\tclass\taccepted\tAnimalia\n"
    "729\td7dd\t212\t\tPasseriformes\t\torder\taccepted\tAnimalia\n"
    "5235\td7dd\t729\t\tCorvidae\t\tfamily\taccepted\tAnimalia\n"
    "2482468\td7dd\t5235\t\tCorvus Linnaeus, 1758\tLinnaeus, 1758\tgenus\taccepted\tAnimalia\n"
    "2482492\td7dd\t2482468\t\tCorvus corax Linnaeus, 1758\tLinnaeus, 1758\tspecies\taccepted\tAnimalia\n"
    "8000001\td7dd\t2482468\t2482492\tCorvus maximus Bechstein\t\tspecies\tsynonym\tAnimalia\n"
)
# iNaturalist DwC-A export (taxa.csv): URLs as ids, comma-separated, quoted cells
INAT_DWC = (
    "id,taxonID,identifier,parentNameUsageID,kingdom,scientificName,taxonRank,references\n"
    '1,https://www.inaturalist.org/taxa/1,1,,Animalia,Animalia,kingdom,"https://a, b"\n'
    "3,https://www.inaturalist.org/taxa/3,3,https://www.inaturalist.org/taxa/1,Animalia,Aves,class,\n"
    "7,https://www.inaturalist.org/taxa/7,7,https://www.inaturalist.org/taxa/3,Animalia,Corvus corax,species,\n"
)
# inatvision's taxonomy.csv: pandas wrote the integer columns with gaps as floats
INAT_MODEL = (
    "parent_taxon_id,taxon_id,rank_level,leaf_class_id,iconic_class_id,spatial_class_id,name\n"
    ",48460,100.0,,,,Life\n"
    "48460,1,70.0,,0.0,,Animalia\n"
    "1,3,50.0,,1.0,,Aves\n"
    "3,7019,30.0,,1.0,,Corvidae\n"
    "7019,8010,20.0,,1.0,,Corvus\n"
    "8010,8021,10.0,0.0,1.0,0.0,Corvus corax\n"
    "8010,8020,10.0,1.0,1.0,1.0,Corvus brachyrhynchos\n"
)
QIIME = (
    "Feature ID\tTaxon\tConfidence\n"
    "f1\tk__Bacteria; p__Firmicutes; c__Bacilli; o__Lactobacillales; f__Lactobacillaceae; "
    "g__Lactobacillus; s__\t0.99\n"
    "f2\tk__Bacteria; p__Firmicutes; c__Bacilli; o__Bacillales; f__Bacillaceae; g__Bacillus; "
    "s__cereus\t0.98\n"
    "f3\tk__Bacteria; p__Firmicutes; c__Bacilli; o__Bacillales; f__Bacillaceae; g__Bacillus; "
    "s__cereus\t0.97\n"
    "f4\tk__Bacteria; p__Proteobacteria\t0.9\n"
)
GTDB = (
    "RS_GCF_000006945.2\td__Bacteria;p__Pseudomonadota;c__Gammaproteobacteria;"
    "o__Enterobacterales;f__Enterobacteriaceae;g__Salmonella;s__Salmonella enterica\n"
    "GB_GCA_000008085.1\td__Archaea;p__Nanoarchaeota;c__Nanoarchaeia;o__Nanoarchaeales;"
    "f__Nanoarchaeaceae;g__Nanoarchaeum;s__Nanoarchaeum equitans\n"
)
PIPES = (
    "Animalia|Chordata|Aves|Corvus|Corvus corax, L.\nAnimalia|Chordata|Aves|Corvus|Corvus corone\n"
)
HIERARCHY = "1 0\n2 1\n295 2\n296 2\n3 0\n400 3\n"
CLASSES = (
    "0 Birds\n1 Perching Birds\n2 Blackbirds\n295 Red-winged Blackbird (Adult male)\n"
    "296 Red-winged Blackbird\n3 Ducks\n400 Mallard\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ----------------------------------------------------------------- Darwin Core, iNaturalist
def test_gbif_darwin_core_is_keyed_by_taxon_id_with_names(tmp_path: Path) -> None:
    path = write(tmp_path, "Taxon.tsv", GBIF)
    assert detect_format(path) == "dwc"
    tax = load_taxonomy(path)
    assert tax.root == "1" and len(tax) == 7  # the synonym row is not a node
    assert tax.attributes("2482492") == {"name": "Corvus corax Linnaeus, 1758", "rank": "species"}
    assert tax.parents("2482492") == ["2482468"] and tax.rank("212") == "class"
    assert tax.rank_names == ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
    s = tax.summary()
    assert s["named_nodes"] == 7 and s["root_name"] == "Animalia"
    fresh = load_taxonomy(path)  # counted from the columns, before any attribute dict exists
    assert fresh.summary() == s and "_attrs" not in fresh.__dict__


def test_summary_of_an_edge_list_makes_no_attribute_dicts(tmp_path: Path) -> None:
    """`taxonomy info` on a big edge list: no per-node dicts just to count names (1.7 s of
    the 1.4 M-node iNat list)."""
    tax = load_taxonomy(
        write(
            tmp_path,
            "edges.csv",
            "parent,child,rank\n,Life,stateofmatter\n"
            "Life,Animalia,kingdom\nAnimalia,Chordata,phylum\n",
        )
    )
    s = tax.summary()
    assert "named_nodes" not in s and s["ranks"]["kingdom"] == 1 and "_attrs" not in tax.__dict__


def test_inaturalist_dwc_export_with_url_ids(tmp_path: Path) -> None:
    tax = load_taxonomy(write(tmp_path, "taxa.csv", INAT_DWC))
    assert tax.root == "https://www.inaturalist.org/taxa/1"
    assert tax.attributes("https://www.inaturalist.org/taxa/7")["name"] == "Corvus corax"


def test_inaturalist_model_taxonomy_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "taxonomy.csv", INAT_MODEL)
    assert detect_format(path) == "inat"
    tax = load_taxonomy(path)
    assert tax.root == "48460" and tax.attributes("48460")["name"] == "Life"
    assert tax.attributes("8021") == {
        "name": "Corvus corax",
        "rank_level": "10",
        "leaf_class_id": "0",
        "rank": "species",
    }
    assert tax.rank("1") == "kingdom" and tax.rank("48460") == "stateofmatter"
    assert sorted(tax.leaves) == ["8020", "8021"]


def test_predictions_can_name_id_keyed_nodes_by_name_or_attribute(tmp_path: Path) -> None:
    from taxovit.predictions.labels import label_map

    tax = load_taxonomy(write(tmp_path, "taxonomy.csv", INAT_MODEL))
    by_name = label_map(tax, "name")
    by_class = label_map(tax, "leaf_class_id")
    assert tax.nodes[by_name["Corvus corax"]] == "8021" == tax.nodes[by_class["0"]]
    assert tax.name_to_id["8021"] == by_name["Corvus corax"]


DWC_BAD = [
    (
        GBIF.replace("212\td7dd\t44", "212\td7dd\t45"),
        r"Taxon\.tsv, line 4, column 'parentNameUsageID': parentNameUsageID '45' is not the taxonID of any row",
    ),
    (
        GBIF + "212\td7dd\t44\t\tAves again\t\tclass\taccepted\tAnimalia\n",
        r"line 10, column 'taxonID': taxonID '212' again \(first on line 4\)",
    ),
    (GBIF + "99\td7dd\t1\n", r"line 10: expected 9 fields \(taxonID,datasetID,"),
    (GBIF.replace("729\td7dd", " \td7dd"), r"line 5, column 'taxonID': empty taxonID"),
    (GBIF.replace("parentNameUsageID", "parentID"), None),  # no longer DwC: read as rank columns
]


@pytest.mark.parametrize(("text", "match"), DWC_BAD)
def test_darwin_core_errors_name_file_line_and_column(
    tmp_path: Path, text: str, match: str | None
) -> None:
    path = write(tmp_path, "Taxon.tsv", text)
    if match is None:
        with pytest.raises(InputError, match=r"Taxon\.tsv, line 1: .*; missing parentNameUsageID"):
            load_taxonomy(path, "dwc")  # forced: the missing column is named
        return
    with pytest.raises(InputError, match=match):
        load_taxonomy(path)


def test_id_formats_with_several_roots_need_add_root(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "taxonomy.csv",
        INAT_MODEL.replace(",48460,100.0,,,,Life\n", "").replace("48460,1,", ",1,"),
    )
    path.write_text(path.read_text() + ",47126,70.0,,,,Plantae\n")
    with pytest.raises(TaxonomyError, match="2 roots.*--add-root"):
        load_taxonomy(path)
    assert load_taxonomy(path, add_root=True).root == "__root__"


# ----------------------------------------------------------------- lineages
def test_qiime_taxonomy_tsv(tmp_path: Path) -> None:
    path = write(tmp_path, "taxonomy.tsv", QIIME)
    assert detect_format(path) == "lineage"
    tax = load_taxonomy(path)
    assert tax.root == "Bacteria" and tax.rank("Bacteria") == "kingdom"
    assert tax.parents("cereus") == ["Bacillus"] and tax.rank("cereus") == "species"
    assert "Lactobacillus" in tax.leaves  # the empty s__ level is skipped
    assert tax.children("Bacteria") == ["Firmicutes", "Proteobacteria"]


def test_gtdb_headerless_lineages_under_an_added_root(tmp_path: Path) -> None:
    path = write(tmp_path, "bac120_taxonomy.tsv", GTDB)
    assert detect_format(path) == "lineage"
    tax = load_taxonomy(path)
    assert tax.root == "root" and sorted(tax.children("root")) == ["Archaea", "Bacteria"]
    assert tax.rank("Salmonella enterica") == "species" and tax.rank("Archaea") == "domain"


def test_pipe_lineages_one_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "lineages.txt", PIPES)
    assert detect_format(path) == "lineage"
    tax = load_taxonomy(path)
    assert tax.root == "Animalia" and tax.parents("Corvus corax, L.") == ["Corvus"]
    assert tax.rank("Corvus") is None


def test_same_name_under_two_parents_is_refused_or_qualified(tmp_path: Path) -> None:
    text = "d__Bacteria;p__Chloroflexota;g__uncultured\nd__Bacteria;p__Firmicutes;g__uncultured\n"
    path = write(tmp_path, "silva.txt", text)
    with pytest.raises(
        InputError,
        match=r"line 2: genus 'uncultured' is under 'Firmicutes' here but "
        r"under 'Chloroflexota' on line 1.*--qualify-names",
    ):
        load_taxonomy(path)
    tax = load_taxonomy(path, qualify_names=True)
    assert sorted(tax.leaves) == ["uncultured (Chloroflexota)", "uncultured (Firmicutes)"]
    assert tax.rank("uncultured (Firmicutes)") == "genus"


def test_lineage_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "taxonomy.tsv", QIIME + "f5\t  \t0.5\n")
    with pytest.raises(InputError, match=r"taxonomy\.tsv, line 6, column 'Taxon': empty lineage"):
        load_taxonomy(path)
    with pytest.raises(InputError, match=r"line 1: no lineage column"):
        load_taxonomy(write(tmp_path, "x.tsv", "a\tb\nc\td\n"), "lineage")


# ----------------------------------------------------------------- rank columns
def test_rank_columns_qualify_names_by_parent(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "family,genus,species\nF1,G,s1\nF2,G,s2\nF2,G,s3\n")
    with pytest.raises(InputError, match=r"line 3, column 'genus'.*qualify_names=True"):
        load_taxonomy(path)
    tax = load_taxonomy(path, qualify_names=True)
    assert tax.children("G (F2)") == ["s2", "s3"] and tax.parents("G (F1)") == ["F1"]
    res = runner.invoke(app, ["taxonomy", "info", str(path), "--qualify-names", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["nodes"] == 8


def test_rank_columns_skip_empty_ranks_in_the_middle(tmp_path: Path) -> None:
    path = write(tmp_path, "r.tsv", "order\tfamily\tgenus\tspecies\nO\t\tG\tG s\nO\tF\t\tF s\n")
    tax = load_taxonomy(path)
    assert (
        tax.parents("G") == ["O"] and tax.parents("F s") == ["F"] and tax.rank("F s") == "species"
    )


# ----------------------------------------------------------------- NABirds
def test_nabirds_hierarchy_with_classes(tmp_path: Path) -> None:
    path = write(tmp_path, "nabirds/hierarchy.txt", HIERARCHY)
    assert detect_format(path) == "nabirds"
    assert load_taxonomy(path).summary().get("named_nodes") is None  # no classes.txt yet
    write(tmp_path, "nabirds/classes.txt", CLASSES)
    tax = load_taxonomy(path)
    assert tax.root == "0" and tax.attributes("295") == {
        "name": "Red-winged Blackbird (Adult male)"
    }
    assert sorted(tax.leaves) == ["295", "296", "400"]
    res = runner.invoke(app, ["taxonomy", "info", str(path)])
    assert res.exit_code == 0 and "0 (Birds)" in res.output and "7 of 7 nodes" in res.output


def test_nabirds_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "hierarchy.txt", HIERARCHY + "5 3 1\n")
    with pytest.raises(
        InputError, match=r"hierarchy\.txt, line 7: expected '<child id> <parent id>'"
    ):
        load_taxonomy(path, "nabirds")
    path.write_text(HIERARCHY)
    write(tmp_path, "classes.txt", CLASSES + "12\n")
    with pytest.raises(InputError, match=r"classes\.txt, line 8: expected '<id> <name>'"):
        load_taxonomy(path)


# ----------------------------------------------------------------- the command line
@pytest.mark.parametrize("command", ["info", "validate", "convert"])
def test_help_mentions_every_format(command: str) -> None:
    out = " ".join(runner.invoke(app, ["taxonomy", command, "--help"]).output.split())
    for word in ("Darwin Core", "iNaturalist", "lineage", "NABirds", "--qualify-names", "--format"):
        assert word in out, (command, word)


def test_cli_format_forces_a_reader_and_errors_are_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "parent,child\nr,a\n")
    res = runner.invoke(app, ["taxonomy", "validate", str(path), "--format", "dwc"])
    assert res.exit_code == 2 and "missing parentNameUsageID, taxonID" in " ".join(
        res.output.split()
    )
    dst = tmp_path / "gbif.csv"
    res = runner.invoke(
        app, ["taxonomy", "convert", str(write(tmp_path, "Taxon.tsv", GBIF)), str(dst)]
    )
    assert res.exit_code == 0, res.output
    back = load_taxonomy(dst)  # an edge list keyed by id, with name and rank columns
    assert back.root == "1" and back.attributes("212") == {"name": "Aves", "rank": "class"}


# ----------------------------------------------------------------- the vectorised reader
EDGE_SEEDS = {
    "edges.csv": 'parent,child,rank,note\n,r,kingdom,\nr,a,genus,"x, y"\nr,b, genus ,\na,c,,n\n',
    "edges.tsv": "parent\tchild\nr\ta\nr\tb\na\tc\nb\tc\n",
    "dag.csv": "parent,child,rank,note\nr,a,genus,\nr,b,genus,x\na,c,species,\nb,c,species,y\nb,d,,\n",
    "Taxon.tsv": GBIF,
    "taxa.csv": INAT_DWC,
    "taxonomy.csv": INAT_MODEL,
}
FAST_SNIPPETS = [
    '"',
    '""',
    ",",
    "\t",
    "\n",
    "\r",
    "\r\n",
    " ",
    "\x00",
    "\ufeff",
    "é",
    "\xa0",
    "1.0",
    'a"b',
]


def _outcome(load: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        tax = load()
    except TaxovitError as exc:
        return ("error", type(exc).__name__, str(exc))
    edges = [
        (tax.nodes[p], tax.nodes[c])
        for p, c in zip(tax._parents.tolist(), tax._children.tolist(), strict=True)
    ]
    return ("ok", tax.nodes, sorted(edges), [tax.attributes(n) for n in tax.nodes], tax.root)


@st.composite
def edge_files(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(EDGE_SEEDS)))
    text = EDGE_SEEDS[name]
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:i] + draw(st.sampled_from(FAST_SNIPPETS) | st.text(max_size=2)) + text[i:]
        else:
            text = text[:i] + text[i + draw(st.integers(1, 8)) :]
    return name, text


@given(file=edge_files(), add_root=st.booleans())
@settings(max_examples=150, deadline=None)
def test_vectorised_reader_agrees_with_the_row_by_row_reader(
    file: tuple[str, str], add_root: bool
) -> None:
    from taxovit.taxonomy import io as tio

    name, text = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        fast = _outcome(lambda: load_taxonomy(path, add_root=add_root))
        real = tio.read_table_fast
        tio.read_table_fast = lambda *a, **k: None  # type: ignore[assignment]
        try:
            exact = _outcome(lambda: load_taxonomy(path, add_root=add_root))
        finally:
            tio.read_table_fast = real  # type: ignore[assignment]
    assert fast == exact


def test_vectorised_reader_takes_the_common_files(tmp_path: Path) -> None:
    from taxovit.taxonomy.edge_table import SPECS
    from taxovit.taxonomy.fast_table import read_table_fast

    for name, fmt in [
        ("edges.csv", "edges"),
        ("dag.csv", "edges"),
        ("Taxon.tsv", "dwc"),
        ("taxa.csv", "dwc"),
        ("taxonomy.csv", "inat"),
    ]:
        path = write(tmp_path, name, EDGE_SEEDS[name].replace("r,b, genus ,\n", "r,b,genus,\n"))
        delim = "\t" if name.endswith(".tsv") else ","
        tax = read_table_fast(path.read_bytes(), path.read_text(), delim, path, SPECS[fmt], False)
        assert tax is not None, name
        assert _outcome(lambda tax=tax: tax) == _outcome(lambda path=path: load_taxonomy(path))  # noqa: B023


def test_evaluate_against_an_id_keyed_taxonomy_by_id_or_by_name(tmp_path: Path) -> None:
    tax = write(tmp_path, "taxonomy.csv", INAT_MODEL)
    ids = write(tmp_path, "ids.csv", "id,y_true,y_pred\n1,8021,8021\n2,8020,8021\n")
    names = write(
        tmp_path,
        "names.csv",
        "id,y_true,y_pred\n1,Corvus corax,Corvus corax\n2,Corvus brachyrhynchos,Corvus corax\n",
    )
    by_id = runner.invoke(app, ["evaluate", str(ids), "--taxonomy", str(tax), "--format", "json"])
    by_name = runner.invoke(
        app,
        [
            "evaluate",
            str(names),
            "--taxonomy",
            str(tax),
            "--label-attr",
            "name",
            "--format",
            "json",
        ],
    )
    assert by_id.exit_code == 0 == by_name.exit_code, (by_id.output, by_name.output)
    a, b = json.loads(by_id.stdout)["metrics"], json.loads(by_name.stdout)["metrics"]
    assert a == b and a["accuracy"] == 0.5 and a["mistake_severity"] == 1.0


INAT_EDGES = (
    Path(__file__).resolve().parents[2] / "benchmarks" / ".cache" / "inat_edges_infraspecific.csv"
)


@pytest.mark.skipif(
    not INAT_EDGES.exists(), reason="built by python benchmarks/inat_taxonomy.py --infraspecific"
)
def test_the_real_inaturalist_edge_list_takes_the_vectorised_reader() -> None:
    from taxovit.taxonomy.edge_table import SPECS
    from taxovit.taxonomy.fast_table import read_table_fast

    data = INAT_EDGES.read_bytes()
    tax = read_table_fast(
        data,
        data[:65536].decode("utf-8", "ignore").rsplit("\n", 1)[0] + "\n",
        ",",
        INAT_EDGES,
        SPECS["edges"],
        False,
    )
    assert tax is not None and len(tax) == 1_375_605 and tax.root == "Life" and tax.is_tree
    assert tax.rank("Animalia") == "kingdom" and tax.parents("Chordata") == ["Animalia"]
