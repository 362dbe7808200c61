"""A fuzz test per reader: every mutation of a valid file (truncated, a byte flipped, a token
inserted, a line deleted, repeated or moved) gives exit 0, or exit 2 with one message naming
the file; never a traceback; never a changed file (the companion ``classes.txt`` included).
``TAXOVIT_FUZZ_EXAMPLES`` sets the examples per test (default 40: a few seconds each)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from hostile import FUZZ, check_rule, cli, digest, mutated  # noqa: E402

from taxovit.errors import TaxovitError  # noqa: E402

NESTED = {
    "name": "Aves",
    "rank": "class",
    "children": [
        {
            "name": "Anatidae",
            "rank": "family",
            "children": [
                {"name": "Mallard", "rank": "species"},
                {"name": "Gadwall", "rank": "species"},
            ],
        },
        {
            "name": "Laridae",
            "rank": "family",
            "children": [{"name": "Herring_Gull", "rank": "species"}],
        },
    ],
}
LEAVES = ["Mallard", "Gadwall", "Herring_Gull"]
TAXONOMIES = {
    "nested.json": json.dumps(NESTED, indent=1),
    "node_link.json": json.dumps(
        {
            "nodes": [{"id": "Aves"}, {"id": "Mallard", "rank": "species"}, {"id": "Gadwall"}],
            "links": [
                {"source": "Aves", "target": "Mallard"},
                {"source": "Aves", "target": "Gadwall"},
            ],
        }
    ),
    "edges.csv": "parent,child,rank\n,Aves,class\nAves,Anatidae,family\nAnatidae,Mallard,species\n"
    "Anatidae,Gadwall,species\n",
    "ranks.tsv": "class\tfamily\tspecies\nAves\tAnatidae\tMallard\nAves\tAnatidae\tGadwall\n"
    "Aves\tLaridae\tHerring_Gull\n",
    "dwc.tsv": "taxonID\tparentNameUsageID\tacceptedNameUsageID\tscientificName\ttaxonRank\n"
    "1\t\t\tAves\tclass\n2\t1\t\tAnatidae\tfamily\n3\t2\t\tMallard\tspecies\n"
    "4\t2\t2\tAnatinae\tsubfamily\n5\t2\t\tGadwall\tspecies\n",
    "taxonomy.csv": "parent_taxon_id,taxon_id,rank_level,leaf_class_id,name\n,1,50,,Aves\n"
    "1,2,30,,Anatidae\n2,3,10,0,Mallard\n2,4,10,1,Gadwall\n",
    "lineage.txt": "k__Animalia;c__Aves;f__Anatidae;s__Mallard\nk__Animalia;c__Aves;f__Anatidae;s__Gadwall\n",
    "nab/hierarchy.txt": "1 0\n2 1\n3 2\n4 2\n",
}
CLASSES = b"0 Aves\n1 Anatidae\n2 Anas\n3 Mallard\n4 Gadwall\n"


@pytest.mark.parametrize("name", list(TAXONOMIES))
@FUZZ
@given(data=st.data())
def test_fuzz_taxonomy_readers(tmp_path_factory, name, data):
    folder = tmp_path_factory.mktemp("tax")
    path = folder / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data.draw(mutated(TAXONOMIES[name].encode())))
    if name.startswith("nab/"):
        (path.parent / "classes.txt").write_bytes(
            data.draw(st.sampled_from([CLASSES, CLASSES[:-9], b"0 Aves\n0 Aves\n"]))
        )
    before = digest([folder])
    named = [path.name, "classes.txt"] if name.startswith("nab/") else [path.name]
    check_rule(cli("taxonomy", "validate", path), named, folder, before)
    check_rule(
        cli("taxonomy", "convert", path, "-", "--to", "node-link"),
        [*named, "DST -"],
        folder,
        before,
    )
    check_rule(
        cli("taxonomy", "convert", path, path.parent / "classes.txt", "--to", "edges"),
        [path.name, "classes.txt"],
        folder,
        before,
    )


# ----------------------------------------------------------------- predictions readers
def _tax(folder: Path) -> Path:
    t = folder / "t.json"
    t.write_text(json.dumps(NESTED))
    return t


def _wide_csv() -> bytes:
    rng = np.random.default_rng(0)
    rows = ["id,y_true,y_pred," + ",".join(f"score_{c}" for c in LEAVES)]
    for i in range(6):
        s = rng.random(3)
        rows.append(
            f"s{i},{LEAVES[i % 3]},{LEAVES[(i + 1) % 3]}," + ",".join(f"{v:.3f}" for v in s)
        )
    return ("\n".join(rows) + "\n").encode()


def _long_csv() -> bytes:
    rows = ["id,label,score,y_true"] + [
        f"s{i},{c},{0.5 / (j + 1):.3f},{LEAVES[i % 3]}"
        for i in range(4)
        for j, c in enumerate(LEAVES)
    ]
    return ("\n".join(rows) + "\n").encode()


def _topk_csv() -> bytes:
    return b"id,predicted\ns0,Mallard Gadwall\ns1,Gadwall Anatidae\ns2,Aves\n"


def _parquet(long: bool) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.csv")
    table = pq.read_csv(io.BytesIO(_long_csv() if long else _wide_csv()))
    buf = io.BytesIO()
    pytest.importorskip("pyarrow.parquet").write_table(table, buf)
    del pa
    return buf.getvalue()


def _npz() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(
        buf,
        scores=rng.random((4, 3)),
        classes=np.array(LEAVES),
        ids=np.arange(4),
        y_true=np.array(LEAVES + LEAVES[:1]),
    )
    return buf.getvalue()


PREDICTIONS = {
    "wide.csv": (_wide_csv, False),
    "long.csv": (_long_csv, False),
    "topk.csv": (_topk_csv, False),
    "wide.parquet": (lambda: _parquet(False), True),
    "long.parquet": (lambda: _parquet(True), True),
    "p.npz": (_npz, True),
}


@pytest.mark.parametrize("name", list(PREDICTIONS))
@FUZZ
@given(data=st.data())
def test_fuzz_prediction_readers(tmp_path_factory, name, data):
    folder = tmp_path_factory.mktemp("pred")
    make, binary = PREDICTIONS[name]
    path = folder / name
    path.write_bytes(data.draw(mutated(make(), binary)))
    tax = _tax(folder)
    truth = []
    if name == "topk.csv":
        (folder / "truth.csv").write_bytes(
            data.draw(mutated(b"id,expected\ns0,Mallard\ns1,Gadwall\ns2,Aves\n"))
        )
        truth = ["--truth", folder / "truth.csv"]
    before = digest([folder])
    res = cli("evaluate", path, "-t", tax, "-f", "json", "-o", folder / "report.json", *truth)
    check_rule(res, [path.name, "truth.csv"], folder, before)


@FUZZ
@given(data=st.data())
def test_fuzz_decide_input(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("decide")
    path = folder / "p.csv"
    path.write_bytes(data.draw(mutated(_wide_csv())))
    tax = _tax(folder)
    before = digest([folder])
    kind = data.draw(st.sampled_from(["probs", "logits"]))
    rule = data.draw(st.sampled_from(["crm", "ancestor"]))
    res = cli("decide", path, "-t", tax, "--scores", kind, "--rule", rule, "-o", folder / "out.csv")
    check_rule(res, [path.name], folder, before)


# ----------------------------------------------------------------- model files
def _model_files() -> dict[str, bytes]:
    torch = pytest.importorskip("torch")
    from taxovit.models.safetensors_io import save_safetensors
    from taxovit.models.vit import VisionTransformer

    state = VisionTransformer(
        img_size=16, patch_size=8, depth=1, embed_dim=16, num_heads=2
    ).state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    out = {"w.pth": buf.getvalue()}
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        save_safetensors(state, Path(d) / "w.safetensors")
        out["w.safetensors"] = (Path(d) / "w.safetensors").read_bytes()
    return out


_MODELS: dict[str, bytes] = {}


@pytest.mark.parametrize("name", ["w.pth", "w.safetensors"])
@FUZZ
@given(data=st.data())
def test_fuzz_load_model(tmp_path_factory, name, data):
    if not _MODELS:
        _MODELS.update(_model_files())
    from taxovit.errors import ModelFileError
    from taxovit.models import load_model

    path = tmp_path_factory.mktemp("model") / name
    path.write_bytes(data.draw(mutated(_MODELS[name], binary=True)))
    try:
        load_model(path)
    except ModelFileError as exc:
        assert name in str(exc) and "weights_only" not in str(exc), str(exc)


@FUZZ
@given(data=st.data())
def test_fuzz_training_arrays(tmp_path_factory, data):
    from taxovit.training.data.readers import read_arrays

    buf = io.BytesIO()
    np.savez(buf, images=np.zeros((3, 4, 4), np.uint8), labels=np.array(LEAVES))
    path = tmp_path_factory.mktemp("arrays") / "a.npz"
    path.write_bytes(data.draw(mutated(buf.getvalue(), binary=True)))
    try:
        read_arrays(path)
    except TaxovitError as exc:
        assert "a.npz" in str(exc), str(exc)
