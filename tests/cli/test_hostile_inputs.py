"""Issue 29's classes, one regression test each (every case failed before the fix): companion
files as inputs, decide's input read once, binary headers checked, Parquet types, detection
that does not guess, outputs that name folders, located messages, the decided behaviours."""

from __future__ import annotations

import json
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from hostile import cli, digest  # noqa: E402

from taxovit.errors import ModelFileError, TaxovitError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, BIRDS = ROOT / "examples" / "birds_preds.csv", ROOT / "taxonomies" / "birds.json"


def one_error(res, *fragments: str) -> str:
    msg = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert msg.count("error:") == 1 and "Traceback" not in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


@pytest.fixture
def nab(tmp_path):
    d = tmp_path / "nab"
    d.mkdir()
    (d / "hierarchy.txt").write_text("1 0\n2 1\n3 1\n")
    (d / "classes.txt").write_text("0 root\n1 Anatidae\n2 Mallard\n3 Gadwall\n")
    return d


def _preds(tmp_path: Path) -> Path:
    p = tmp_path / "p.csv"
    p.write_text("id,y_true,y_pred,score_2,score_3\na,2,2,0.7,0.3\nb,3,2,0.6,0.4\n")
    return p


# ----------------------------------------------------------------- companion files
def test_nabirds_classes_txt_is_an_input_of_every_command(nab, tmp_path):
    before = digest([tmp_path])
    h, c = nab / "hierarchy.txt", nab / "classes.txt"
    preds = _preds(tmp_path)
    before = digest([tmp_path])
    for args in (
        ["taxonomy", "convert", h, c, "--to", "edges"],
        ["evaluate", preds, "-t", h, "-f", "json", "-o", c],
        ["decide", preds, "-t", h, "-o", c],
        ["compare", preds, preds, "-t", h, "-f", "json", "-o", c],
    ):
        one_error(cli(*args), "classes.txt", "same file")
        assert digest([tmp_path]) == before
    from taxovit.taxonomy import taxonomy_inputs

    assert taxonomy_inputs("t", h) == {"t": str(h), "t's names (classes.txt)": str(c)}
    assert taxonomy_inputs("t", BIRDS) == {"t": str(BIRDS)}  # JSON: no companion


def test_inputs_found_after_the_outputs_are_checked_too(tmp_path):
    """predict learns of its images from the data file, after --out is declared."""
    from taxovit._outputs import OutputError, OutputPlan

    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "img" / name).write_bytes(b"png")
    plan = OutputPlan({})
    plan.file("--out", tmp_path / "img" / "b.png")
    plan.add_inputs("an image", [str(tmp_path / "img" / "a.png")])
    with pytest.raises(OutputError, match=r"--out .*b\.png is the same file as an image"):
        plan.add_inputs("an image", [str(tmp_path / "img" / ".." / "img" / "b.png")])


# ----------------------------------------------------------------- outputs naming folders
@pytest.mark.parametrize("dst", ["newdir/", "newdir/.", "x/..", "./"])
def test_an_output_path_naming_a_folder_is_refused(tmp_path, monkeypatch, dst):
    monkeypatch.chdir(tmp_path)
    for args in (
        ["taxonomy", "convert", BIRDS, dst, "--to", "edges"],
        ["evaluate", EXAMPLE, "-t", BIRDS, "-f", "json", "-o", dst],
        ["decide", EXAMPLE, "-t", BIRDS, "-o", dst],
    ):
        one_error(cli(*args), dst, "names a folder")
    assert list(tmp_path.iterdir()) == []
    import taxovit

    with pytest.raises(TaxovitError, match="names a folder"):
        taxovit.save_taxonomy(taxovit.load_taxonomy(BIRDS), "newdir/", "edges")


# ----------------------------------------------------------------- detection that guesses
@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("296 2 7", "found 3 fields"),
        ("298 x", "'x' is not an integer"),
        ("x 1", "'x' is not an integer"),
    ],
)
def test_a_nabirds_line_that_breaks_the_format_is_an_error(nab, line, why):
    (nab / "hierarchy.txt").write_text(f"1 0\n2 1\n{line}\n3 1\n")
    one_error(cli("taxonomy", "validate", nab / "hierarchy.txt"), "hierarchy.txt, line 3", why)


def test_inat_rank_level_that_names_no_rank_is_an_error(tmp_path):
    p = tmp_path / "taxonomy.csv"
    good = "parent_taxon_id,taxon_id,rank_level,leaf_class_id,name\n,1,70,,Animalia\n"
    p.write_text(good + "1,2,ten,0,Foo\n1,3,10,1,Bar\n")
    one_error(cli("taxonomy", "validate", p), "line 3", "'rank_level'", "'ten' is not a rank level")
    p.write_text(good + "1,2,10,x,Foo\n1,3,10,1,Bar\n")
    one_error(
        cli("taxonomy", "validate", p), "line 3", "'leaf_class_id'", "'x' is not a whole number"
    )
    p.write_text(good + "1,2,33.5,0,Foo\n1,3,10.0,1,Bar\n")  # iNat's zoosubsection; 10.0 = 10
    from taxovit import load_taxonomy

    tax = load_taxonomy(p)
    assert (
        tax.graph.nodes["2"]["rank"] == "zoosubsection"
        and tax.graph.nodes["3"]["rank"] == "species"
    )


def test_a_json_named_file_that_is_not_json_is_not_read_as_rank_columns(tmp_path):
    p = tmp_path / "tax.json"
    p.write_text("name: root\nchildren: a\n")
    one_error(cli("taxonomy", "validate", p), "tax.json", "JSON")


def test_dwc_parent_that_is_a_synonym_is_said_so(tmp_path):
    p = tmp_path / "dwc.tsv"
    p.write_text(
        "taxonID\tparentNameUsageID\tacceptedNameUsageID\tscientificName\n"
        "1\t\t\tA\n7\t1\t1\tSyn\n8\t7\t\tB\n"
    )
    msg = one_error(cli("taxonomy", "validate", p), "dwc.tsv, line 4", "'7' is a synonym (line 3")
    assert "not the taxonID of any row" not in msg


# ----------------------------------------------------------------- taxonomy convert
def test_convert_errors_name_dst_and_to(tmp_path):
    p = tmp_path / "dwc.tsv"
    p.write_text(
        "taxonID\tparentNameUsageID\tscientificName\ttaxonRank\n1\t\tA\tkingdom\n8\t1\tB\tspecies\n"
    )
    out = tmp_path / "out.json"
    one_error(
        cli("taxonomy", "convert", p, out), f"DST {out}", "nested", "write edges or node-link"
    )
    one_error(cli("taxonomy", "convert", p, "-", "--to", "ranks"), "--to ranks", "lose the names")
    assert not out.exists()


# ----------------------------------------------------------------- decide
def test_decide_reads_its_input_once_so_stdin_and_pipes_work(tmp_path):
    ref = tmp_path / "ref.csv"
    assert cli("decide", EXAMPLE, "-t", BIRDS, "-o", ref).exit_code == 0
    from typer.testing import CliRunner

    from taxovit.cli import app

    res = CliRunner().invoke(
        app, ["decide", "-", "-t", str(BIRDS), "-o", "-"], input=EXAMPLE.read_bytes()
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.replace("\r\n", "\n") == ref.read_text()


def test_decide_score_errors_name_file_line_column_and_scores(tmp_path):
    df = pd.read_csv(EXAMPLE, dtype=str, keep_default_na=False)
    col = df.columns[5]
    df.loc[3, col] = "-0.5"
    bad = tmp_path / "neg.csv"
    df.to_csv(bad, index=False)
    one_error(
        cli("decide", bad, "-t", BIRDS, "-o", tmp_path / "o.csv"),
        "neg.csv, line 5",
        f"column '{col}'",
        "--scores",
    )
    df.loc[3, col], df.loc[3, df.columns[6]] = "1e308", "-1e308"
    big = tmp_path / "big.csv"
    df.to_csv(big, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning
        res = cli("decide", big, "-t", BIRDS, "--scores", "logits", "-o", tmp_path / "o.csv")
    assert res.exit_code == 0 and "Warning" not in res.output, res.output
    df.loc[3, df.columns[6]] = "1e308"  # probabilities whose sum overflows: scaled first
    df.to_csv(big, index=False)
    from taxovit.decide import to_probabilities

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = cli("decide", big, "-t", BIRDS, "-o", tmp_path / "o.csv")
        probs = to_probabilities(np.array([[1e308, 1e308, 0.0], [0.2, 0.3, 0.5]]))
    assert res.exit_code == 0, res.output
    assert probs[0].tolist() == [0.5, 0.5, 0.0] and probs[1].tolist() == [0.2, 0.3, 0.5]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--min-rank", "family"], "--min-rank"),
        (["--threshold", "0.5"], "--threshold"),
        (["--rule", "ancestor", "--cost", "depth_distance"], "--cost"),
        (["--rule", "ancestor", "--min-rank", "kingdom"], "--min-rank 'kingdom'"),
    ],
)
def test_decide_refuses_an_option_its_rule_does_not_use(tmp_path, args, option):
    out = tmp_path / "o.csv"
    one_error(cli("decide", EXAMPLE, "-t", BIRDS, "-o", out, *args), option)
    assert not out.exists()


def test_standard_input_is_read_once_by_compare():
    for args in (["-", "-"], ["-", EXAMPLE, "--truth", "-"]):
        one_error(cli("compare", *args, "-t", BIRDS, "-b", "0"), "standard input can be read once")


# ----------------------------------------------------------------- binary headers: .npz
def _npy(shape: str, descr: str = "<f8", data: bytes = b"") -> bytes:
    h = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    h += b" " * (-(10 + len(h) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + data


def _text(values: list[str], width: int) -> bytes:
    return b"".join(v.ljust(width).encode("utf-32-le") for v in values)


def _archive(path: Path, scores: bytes, name: str = "scores.npy") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, scores)
        z.writestr("classes.npy", _npy("(2,)", "<U7", _text(["Mallard", "Gadwall"], 7)))
        z.writestr("ids.npy", _npy("(2,)", "<U1", _text(["a", "b"], 1)))
        z.writestr("y_true.npy", _npy("(2,)", "<U7", _text(["Mallard", "Gadwall"], 7)))
    return path


@pytest.mark.parametrize(
    ("scores", "name", "why"),
    [
        (
            _npy("(100000000000, 100000)", data=bytes(1000)),
            "scores.npy",
            "declares shape (100000000000, 100000)",
        ),
        (_npy("(2, 2)", data=bytes(16)), "scores.npy", "only 16 bytes of data follow"),
        (_npy("(2, 2)", "|O", bytes(32)), "scores.npy", "cannot be read without pickle"),
        (b"hello", "scores.npy", "not a .npy array"),
        (_npy("(2, 2)", data=bytes(32)), "scores", "member 'scores' is not a .npy array"),
    ],
)
def test_npz_headers_are_checked_before_allocating(tmp_path, scores, name, why):
    tax = tmp_path / "t.json"
    tax.write_text(
        json.dumps({"name": "r", "children": [{"name": "Mallard"}, {"name": "Gadwall"}]})
    )
    p = _archive(tmp_path / "p.npz", scores, name)
    one_error(cli("evaluate", p, "-t", tax, "-f", "json"), "p.npz", "'scores'", why)
    # the training reader and the weights reader share the checks
    from taxovit._npy import NpyError, load_npy, read_member

    with zipfile.ZipFile(p) as z, pytest.raises(NpyError):
        read_member(z, "scores")
    raw = tmp_path / "images.npy"
    raw.write_bytes(scores if name.endswith(".npy") else b"")
    with pytest.raises(NpyError):
        load_npy(raw)


def test_a_truncated_npz_member_is_not_called_a_pickle(tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(
        good,
        scores=np.random.default_rng(0).random((200, 2)),
        classes=np.array(["Mallard", "Gadwall"]),
        ids=np.arange(200).astype(str),
        y_true=np.array(["Mallard"] * 200),
    )
    tax = tmp_path / "t.json"
    tax.write_text(
        json.dumps({"name": "r", "children": [{"name": "Mallard"}, {"name": "Gadwall"}]})
    )
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("scores.npy")
    at = info.header_offset + 30 + len(info.filename) + 60  # inside the compressed data
    data[at : at + 8] = b"\xff" * 8
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    msg = one_error(cli("evaluate", bad, "-t", tax, "-f", "json"), "bad.npz", "'scores'")
    assert "pickle" not in msg


# ----------------------------------------------------------------- binary headers: models
def _huge_storage(path: Path) -> Path:
    import torch

    torch.save({"a": torch.zeros(3)}, path)
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in items if n.endswith("data.pkl"))
    items[pkl] = items[pkl].replace(b"K\x03tq\x07Q", b"J\xff\xff\xff\x7ftq\x07Q")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for n, b in items.items():
            z.writestr(n, b)
    return path


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled",))


def test_load_model_raises_the_projects_error_naming_the_file(tmp_path):
    torch = pytest.importorskip("torch")
    from taxovit.models import load_model

    (tmp_path / "text.pt").write_text("hello\nworld\n")
    torch.save({"a": _Evil()}, tmp_path / "evil.pt")
    deep = b'{"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    (tmp_path / "deep.safetensors").write_bytes(struct.pack("<Q", len(deep)) + deep)
    _huge_storage(tmp_path / "huge.pt")
    torch.save({"a": torch.zeros(3)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    raw = (tmp_path / "legacy.pt").read_bytes()  # the pre-1.6 format: declares 2**48 floats
    (tmp_path / "legacy_huge.pt").write_bytes(
        raw.replace(b"K\x03Ntq\x07Q", b"\x8a\x06" + bytes(5) + b"\x10Ntq\x07Q", 1)
    )
    torch.save({"a": torch.zeros(3)}, tmp_path / "unrelated.pt")
    for name in (
        "text.pt",
        "evil.pt",
        "deep.safetensors",
        "huge.pt",
        "legacy_huge.pt",
        "unrelated.pt",
    ):
        with pytest.raises(ModelFileError) as info:
            load_model(tmp_path / name)
        err = info.value
        assert isinstance(err, TaxovitError) and isinstance(err, ValueError)
        assert name in str(err) and "weights_only" not in str(err), str(err)
    with pytest.raises(ModelFileError, match="its tensors declare .* bytes but the file has"):
        load_model(tmp_path / "legacy_huge.pt")  # refused before torch allocates


def test_a_text_file_as_a_checkpoint_leaks_no_python_internals(tmp_path):
    pytest.importorskip("torch")
    from taxovit.training.run.checkpoint import load_checkpoint

    (tmp_path / "teacher.pt").write_text("not a checkpoint\n")
    with pytest.raises(TaxovitError, match=r"teacher\.pt: cannot read checkpoint") as info:
        load_checkpoint(tmp_path / "teacher.pt")
    assert "pop from empty list" not in str(info.value)


# ----------------------------------------------------------------- Parquet types
def test_parquet_reads_every_string_and_integer_type_exactly(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    tax = tmp_path / "t.json"
    tax.write_text(
        json.dumps({"name": "r", "children": [{"name": "Mallard"}, {"name": "Gadwall"}]})
    )
    big = pa.array([2**60 + 1, 3], pa.int64())
    wide = pa.table(
        {
            "id": pa.array(["a", "b"], pa.string_view()),
            "y_true": pa.array(["Mallard", "Gadwall"], pa.large_string()),
            "y_pred": pa.array(["Mallard", "Gadwall"], pa.string_view()),
            "score_Mallard": big,
            "score_Gadwall": pa.array([1, 2**62], pa.int64()),
        }
    )
    long = pa.table(
        {
            "id": pa.array(["a", "a", "b", "b"], pa.string_view()),
            "label": pa.array(["Mallard", "Gadwall"] * 2, pa.large_string()),
            "score": pa.array([2**60 + 1, 3, 1, 2**62], pa.int64()),
            "y_true": ["Mallard", "Mallard", "Gadwall", "Gadwall"],
        }
    )
    for name, table in (("wide.parquet", wide), ("long.parquet", long)):
        pq.write_table(table, tmp_path / name)
        res = cli("evaluate", tmp_path / name, "-t", tax, "-f", "json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["metrics"]["accuracy"] == 1.0
    pq.write_table(wide.set_column(0, "id", pa.array([b"a", b"b"])), tmp_path / "binary.parquet")
    one_error(
        cli("evaluate", tmp_path / "binary.parquet", "-t", tax),
        "binary.parquet",
        "column 'id'",
        "type binary",
        "string_view",
    )


# ----------------------------------------------------------------- options as typed
def test_cli_messages_name_options_as_typed(tmp_path):
    for cmd in (["evaluate", EXAMPLE], ["compare", EXAMPLE, EXAMPLE]):
        msg = one_error(cli(*cmd, "-t", BIRDS, "--top-k", "0"), "--top-k")
        assert "top_k" not in msg
    msg = one_error(
        cli("evaluate", EXAMPLE, "-t", BIRDS, "--id-col", "y_true"), "--id-col", "--true-col"
    )
    assert "id_col" not in msg
    one_error(
        cli("decide", EXAMPLE, "-t", BIRDS, "--true-col", "", "-o", tmp_path / "o.csv"),
        "--true-col is empty",
    )
    msg = one_error(
        cli("evaluate", EXAMPLE, "-t", BIRDS, "--true-col", "nope"),
        "column 'nope': missing required column",
        "'y_true'",  # among the columns found
    )
    assert "unexpected" not in msg
    (tmp_path / "top_k.csv").write_bytes(EXAMPLE.read_bytes())  # a file name is left alone
    one_error(
        cli("evaluate", tmp_path / "top_k.csv", "-t", BIRDS, "--truth", EXAMPLE), "top_k.csv (csv)"
    )


# ----------------------------------------------------------------- compare: formats may differ
def test_compare_a_topk_submission_with_a_wide_file(tmp_path):
    df = pd.read_csv(EXAMPLE)
    scores = df.filter(like="score_")
    names = np.array([c[len("score_") :] for c in scores.columns])
    top = np.argsort(-scores.to_numpy(), axis=1, kind="stable")[:, :3]
    sub = tmp_path / "top3.csv"
    pd.DataFrame({"id": df["id"], "predicted": [" ".join(r) for r in names[top]]}).to_csv(
        sub, index=False
    )
    truth = tmp_path / "truth.csv"
    pd.DataFrame({"id": df["id"], "expected": df["y_true"]}).to_csv(truth, index=False)
    for a, b in ((EXAMPLE, sub), (sub, EXAMPLE)):
        res = cli("compare", a, b, "-t", BIRDS, "--truth", truth, "-f", "json", "-b", "0")
        assert res.exit_code == 0, res.output
    wrong = pd.read_csv(truth)
    wrong.loc[4, "expected"] = (
        wrong.loc[0, "expected"]
        if wrong.loc[4, "expected"] != wrong.loc[0, "expected"]
        else wrong.loc[399, "expected"]
    )
    wrong.to_csv(tmp_path / "wrong.csv", index=False)
    one_error(
        cli("compare", EXAMPLE, sub, "-t", BIRDS, "--truth", tmp_path / "wrong.csv", "-b", "0"),
        "wrong.csv, line 6",
        "differs from the y_true",
    )


def test_an_npz_whose_header_declares_an_unknown_zip_version(tmp_path):
    """zipfile raises NotImplementedError for it: one located message on every reader."""
    buf = tmp_path / "ok.npz"
    np.savez(
        buf,
        images=np.zeros((2, 2, 2), np.uint8),
        labels=np.array(["a", "b"]),
        scores=np.zeros((2, 1)),
    )
    data = bytearray(buf.read_bytes())
    at = data.index(b"PK\x01\x02")  # the first central directory entry
    data[at + 6 : at + 8] = (109).to_bytes(2, "little")  # "version needed to extract": 10.9
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    from taxovit.training.data.readers import read_arrays

    with pytest.raises(TaxovitError, match=r"bad\.npz"):
        read_arrays(bad)
    tax = tmp_path / "t.json"
    tax.write_text(json.dumps({"name": "r", "children": [{"name": "a"}, {"name": "b"}]}))
    one_error(cli("evaluate", bad, "-t", tax), "bad.npz")
    if pytest.importorskip("torch"):
        from taxovit.models import load_model

        with pytest.raises(ModelFileError, match=r"bad\.npz"):
            load_model(bad)


def test_an_npz_member_declaring_more_than_the_archive_holds(tmp_path):
    p = _archive(tmp_path / "p.npz", _npy("(20000, 20000)", data=bytes(64)))
    data = bytearray(p.read_bytes())
    at = data.index(b"PK\x01\x02")  # scores.npy's central directory entry: 4 GB declared
    data[at + 20 : at + 28] = (4_000_000_000).to_bytes(4, "little") * 2
    p.write_bytes(bytes(data))
    tax = tmp_path / "t.json"
    tax.write_text(
        json.dumps({"name": "r", "children": [{"name": "Mallard"}, {"name": "Gadwall"}]})
    )
    one_error(cli("evaluate", p, "-t", tax), "p.npz", "declares 4,000,000,000 bytes", "corrupt")
