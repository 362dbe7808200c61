"""``data.format: npy``: whole datasets as numpy arrays (``.npz`` or images.npy + labels.npy)."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from taxovit.errors import InputError  # noqa: E402
from taxovit.training.data.splits import (  # noqa: E402
    fashion_mnist_fine_names,
    load_fashion_mnist,
    load_split,
    read_arrays,
)
from taxovit.training.run.config import ConfigError, merge_config  # noqa: E402
from taxovit.training.run.schema import DataConfig  # noqa: E402

pytestmark = pytest.mark.torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_data import MINI  # noqa: E402
from test_train import tiny_config  # noqa: E402


def _mini_arrays(split):
    return load_fashion_mnist(MINI, split)


def _write_npz(path, images, labels):
    np.savez(path, images=images, labels=labels)
    return path


def _write_folder(path, images, labels):
    path.mkdir()
    np.save(path / "images.npy", images)
    np.save(path / "labels.npy", labels)
    return path


def _npy_config(tmp_path, train, test, **over):
    cfg = tiny_config(tmp_path, method="ce", train_rank="class", **over)
    cfg["data"] = {
        "format": "npy",
        "train": str(train),
        "test": str(test),
        "train_per_class": 4,
        "test_per_class": 2,
    }
    return merge_config(cfg)


def test_npz_with_names_matches_the_idx_reader(tmp_path):
    """The same images and labels read from idx files and from an .npz give the same split."""
    from taxovit.taxonomy import load_taxonomy

    cfg = _npy_config(tmp_path, "x", "y")
    tax = load_taxonomy(cfg.taxonomy)
    names = np.asarray(fashion_mnist_fine_names(tax))
    for split in ("train", "test"):
        images, labels = _mini_arrays(split)
        _write_npz(tmp_path / f"{split}.npz", images, names[labels])
    cfg.data.train, cfg.data.test = str(tmp_path / "train.npz"), str(tmp_path / "test.npz")
    idx_cfg = DataConfig(
        format="fashion_mnist", root=str(MINI), train_per_class=4, test_per_class=2
    )
    for split in ("train", "test"):
        got, space = load_split(cfg.data, split, tax, "group")
        ref, ref_space = load_split(idx_cfg, split, tax, "group")
        assert sorted(space.fine_names) == sorted(ref_space.fine_names)  # names: node-id order
        assert [space.fine_names[i] for i in got.fine] == [
            ref_space.fine_names[i] for i in ref.fine
        ]
        np.testing.assert_array_equal(got.images, ref.images)


def test_integer_labels_use_label_index_and_folder_layout(tmp_path):
    from taxovit.taxonomy import load_taxonomy

    cfg = _npy_config(tmp_path, "x", "y")
    tax = load_taxonomy(cfg.taxonomy)
    images, labels = _mini_arrays("train")
    folder = _write_folder(tmp_path / "train", images, labels)
    got, space = load_split(DataConfig(format="npy", train=str(folder)), "train", tax, None)
    names = fashion_mnist_fine_names(tax)
    assert [space.fine_names[i] for i in got.fine] == [names[i] for i in labels]
    assert got.images.shape == images.shape


def test_train_predict_evaluate_from_npz(tmp_path):
    """End to end: train on an .npz (in-memory batch path), predict, evaluate."""
    from typer.testing import CliRunner

    from taxovit.cli import app
    from taxovit.training.run.loop import train
    from taxovit.training.run.predict import predict

    for split in ("train", "test"):
        _write_npz(tmp_path / f"{split}.npz", *_mini_arrays(split))
    cfg = _npy_config(
        tmp_path,
        tmp_path / "train.npz",
        tmp_path / "test.npz",
        optim={"epochs": 1},
        eval={"every": 0},
    )
    res = train(cfg, out=tmp_path / "run")
    r = predict(res["checkpoint"], tmp_path / "p.csv")
    assert r["rows"] == 20 and r["classifier"] == "head"
    out = CliRunner().invoke(
        app,
        ["evaluate", str(tmp_path / "p.csv"), "--taxonomy", str(cfg.taxonomy), "--format", "json"],
    )
    assert out.exit_code == 0, out.output


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"images": np.zeros((3, 4, 4), np.uint8)}, "lacks the array"),
        ({"images": np.zeros((3, 4, 4), np.float32), "labels": np.zeros(3, int)}, "uint8"),
        ({"images": np.zeros((3, 4, 4), np.uint8), "labels": np.zeros(2, int)}, r"\(3,\)"),
        ({"images": np.zeros((3, 4, 4), np.uint8), "labels": np.zeros(3)}, "integers or strings"),
    ],
)
def test_bad_arrays_are_named(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message) as err:
        read_arrays(tmp_path / "bad.npz")
    assert "bad.npz" in str(err.value)


def test_bad_files_and_folders(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(InputError, match=r"\.npz archive"):
        read_arrays(tmp_path / "plain.npy")
    (tmp_path / "half").mkdir()
    np.save(tmp_path / "half" / "images.npy", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(InputError, match="lacks labels.npy"):
        read_arrays(tmp_path / "half")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read"):
        read_arrays(tmp_path / "junk.npz")
    np.savez(
        tmp_path / "obj.npz",
        images=np.zeros((1, 2, 2), np.uint8),
        labels=np.array([{"a": 1}], dtype=object),
    )
    with pytest.raises(InputError, match="cannot read"):
        read_arrays(tmp_path / "obj.npz")  # object arrays would need pickle: refused


def test_config_names_missing_npy_inputs(tmp_path):
    from taxovit.training.run.config import check_files

    cfg = _npy_config(tmp_path, tmp_path / "nope.npz", tmp_path / "nope2.npz")
    with pytest.raises(ConfigError, match="data.train: file or folder not found"):
        check_files(cfg)
    cfg.data.train = None
    with pytest.raises(ConfigError, match="data.train: required for data.format npy"):
        check_files(cfg)


def test_unknown_string_labels_are_named(tmp_path):
    from taxovit.errors import TaxovitError
    from taxovit.taxonomy import load_taxonomy

    cfg = _npy_config(tmp_path, "x", "y")
    tax = load_taxonomy(cfg.taxonomy)
    _write_npz(tmp_path / "t.npz", np.zeros((2, 4, 4), np.uint8), np.array(["Coat", "Parka"]))
    with pytest.raises(TaxovitError, match="Parka"):
        load_split(DataConfig(format="npy", train=str(tmp_path / "t.npz")), "train", tax, None)
