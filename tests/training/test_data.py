import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from taxovit import load_taxonomy
from taxovit.errors import InputError, TaxovitError
from taxovit.training.data.splits import (
    FASHION_MNIST_CLASSES,
    LabelSpace,
    fashion_mnist_fine_names,
    load_fashion_mnist,
    load_split,
    read_idx,
    read_manifest,
    scan_image_folder,
)
from taxovit.training.run.schema import AugmentConfig, DataConfig

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "tests" / "data" / "fashion-mnist-mini"
SHIPPED_TAXONOMY = REPO / "taxonomies" / "fashion_mnist.json"
GROUPS = {
    "tops": ["T-shirt/top", "Pullover", "Coat", "Shirt"],
    "bottoms": ["Trouser"],
    "dresses": ["Dress"],
    "footwear": ["Sandal", "Sneaker", "Ankle boot"],
    "bags": ["Bag"],
}


def fashion_taxonomy_path(tmp_path: Path) -> Path:
    """The shipped taxonomy, or an equivalent one written to tmp_path if it is not there yet."""
    if SHIPPED_TAXONOMY.is_file():
        return SHIPPED_TAXONOMY
    obj = {
        "name": "fashion",
        "children": [
            {
                "name": g,
                "rank": "group",
                "children": [
                    {"name": c, "rank": "class", "label_index": FASHION_MNIST_CLASSES.index(c)}
                    for c in classes
                ],
            }
            for g, classes in GROUPS.items()
        ],
    }
    p = tmp_path / "fashion_mnist.json"
    p.write_text(json.dumps(obj))
    return p


def test_read_idx_gzip_and_plain(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 0x08, 3]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    raw += arr.tobytes()
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "bad").write_bytes(raw[:-1])
    with pytest.raises(InputError, match="payload"):
        read_idx(tmp_path / "bad")
    (tmp_path / "bad2").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(InputError, match="magic"):
        read_idx(tmp_path / "bad2")


def test_read_idx_gzip_bomb_and_lying_headers(tmp_path):
    """A gzip file is decompressed only as far as its header's shape says (plus a byte): a
    small header in front of 64 MB of zeros is refused without holding them; a header
    declaring more than a gzip file of its size can hold is refused before decompressing;
    a truncated gzip stream or a short payload is a located error."""
    import tracemalloc

    head = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(head + bytes(64 << 20), compresslevel=1))
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="payload has more than 4 bytes, expected 4"):
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    huge = bytes([0, 0, 0x08, 2]) + (100_000).to_bytes(4, "big") * 2
    (tmp_path / "huge.gz").write_bytes(gzip.compress(huge + bytes(10)))
    with pytest.raises(InputError, match="more than a gzip file of"):
        read_idx(tmp_path / "huge.gz")
    (tmp_path / "short.gz").write_bytes(gzip.compress(head + bytes(3)))
    with pytest.raises(InputError, match="payload has 3 bytes, expected 4"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(head + bytes(4))[:-9])
    with pytest.raises(InputError, match="corrupt gzip data"):
        read_idx(tmp_path / "cut.gz")


def test_mini_fashion_mnist_subset():
    x, y = load_fashion_mnist(MINI, "train")
    assert x.shape == (600, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [60] * 10
    xt, yt = load_fashion_mnist(MINI, "test")
    assert xt.shape == (200, 28, 28) and np.bincount(yt).tolist() == [20] * 10
    with pytest.raises(InputError):
        load_fashion_mnist(MINI, "val")
    with pytest.raises(InputError, match="missing"):
        load_fashion_mnist(MINI / "nope", "train")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").is_file(),
    reason="full Fashion-MNIST not installed",
)
def test_mini_is_prefix_per_class_of_full():
    xf, yf = load_fashion_mnist("/usr/share/datasets/fashion-mnist", "test")
    xm, ym = load_fashion_mnist(MINI, "test")
    first = np.concatenate([np.flatnonzero(yf == c)[:20] for c in range(10)])
    first.sort()
    np.testing.assert_array_equal(xm, xf[first])


def test_fashion_label_space(tmp_path):
    tax = load_taxonomy(fashion_taxonomy_path(tmp_path))
    names = fashion_mnist_fine_names(tax)
    assert names == list(FASHION_MNIST_CLASSES)
    space = LabelSpace.from_taxonomy(tax, names, "group")
    assert sorted(space.train_names) == sorted(GROUPS)
    for i, fine in enumerate(names):
        group = space.train_names[space.fine_to_train[i]]
        assert fine in GROUPS[group]
    same = LabelSpace.from_taxonomy(tax, names, "class")
    assert same.train_names == names
    with pytest.raises(TaxovitError, match="rank"):
        LabelSpace.from_taxonomy(tax, names, "kingdom")


def test_load_split_fashion_subset(tmp_path):
    tax = load_taxonomy(fashion_taxonomy_path(tmp_path))
    cfg = DataConfig(format="fashion_mnist", root=str(MINI), train_per_class=5)
    s, space = load_split(cfg, "train", tax, "group")
    assert len(s) == 50 and np.bincount(s.fine).tolist() == [5] * 10
    assert s.ids[0].startswith("train-")
    t, _ = load_split(cfg, "test", tax, "group")
    assert len(t) == 200


def _write_pngs(root: Path, labels):
    from PIL import Image

    rows = []
    for i, lab in enumerate(labels):
        d = root / lab.replace("/", "_")
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(p)
        rows.append((p, lab))
    return rows


def test_manifest_ok_and_errors(tmp_path):
    rows = _write_pngs(tmp_path / "img", ["Coat", "Bag", "Coat"])
    m = tmp_path / "m.csv"
    m.write_text(
        "path,label\n" + "".join(f"img/{p.parent.name}/{p.name},{lab}\n" for p, lab in rows)
    )
    got = read_manifest(m)
    assert [lab for _, lab in got] == ["Coat", "Bag", "Coat"]
    assert Path(got[0][0]).is_file()

    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\nx,Coat\n")
    with pytest.raises(InputError) as e:
        read_manifest(bad)
    assert e.value.row == 1 and e.value.column == "path" and str(bad) in str(e.value)

    bad.write_text("path,label\nimg/Coat/0.png,Coat\nimg/nope.png,Coat\n")
    with pytest.raises(InputError) as e:
        read_manifest(bad)
    assert e.value.row == 3 and e.value.column == "path"

    bad.write_text("path,label\nimg/Coat/0.png,\n")
    with pytest.raises(InputError) as e:
        read_manifest(bad)
    assert e.value.row == 2 and e.value.column == "label"

    bad.write_text("path,label\nimg/Coat/0.png,Coat,extra\n")
    with pytest.raises(InputError, match="fields") as e:
        read_manifest(bad)
    assert e.value.row == 2


def test_csv_and_imagefolder_splits(tmp_path):
    tax = load_taxonomy(fashion_taxonomy_path(tmp_path))
    rows = _write_pngs(tmp_path / "train", ["Coat", "Bag", "Coat", "Sandal"])
    scanned = scan_image_folder(tmp_path / "train")
    assert len(scanned) == 4
    m = tmp_path / "train.csv"
    m.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows))
    t = tmp_path / "test.csv"
    t.write_text(f"path,label\n{rows[1][0]},Bag\n")
    cfg = DataConfig(format="csv", train=str(m), test=str(t))
    s, space = load_split(cfg, "train", tax, "group")
    assert set(space.fine_names) == {"Coat", "Bag", "Sandal"}
    assert len(s) == 4 and s.paths is not None
    ts, _ = load_split(cfg, "test", tax, "group")
    assert space.fine_names[ts.fine[0]] == "Bag"
    t.write_text(f"path,label\n{rows[1][0]},Dress\n")
    with pytest.raises(TaxovitError, match="absent"):
        load_split(cfg, "test", tax, "group")
    m.write_text(f"path,label\n{rows[1][0]},Handbag\n")
    with pytest.raises(TaxovitError, match="not in the taxonomy"):
        load_split(cfg, "train", tax, "group")


@pytest.mark.torch
def test_dataset_views_and_transforms(tmp_path):
    torch = pytest.importorskip("torch")
    from taxovit.training.data.splits import build_transform, make_dataset

    tax = load_taxonomy(fashion_taxonomy_path(tmp_path))
    cfg = DataConfig(format="fashion_mnist", root=str(MINI), train_per_class=2)
    s, space = load_split(cfg, "train", tax, "group")
    aug = AugmentConfig(crop_scale=[0.5, 1.0], hflip=0.5, mean=[0.3], std=[0.35])
    ds = make_dataset(s, space, build_transform(aug, 28, 1, train=True), views=3, in_chans=1)
    x, fine, coarse, i = ds[0]
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert not torch.equal(x[0], x[1]) or not torch.equal(x[1], x[2])
    assert space.fine_to_train[fine] == coarse and i == 0
    ev = make_dataset(s, space, build_transform(aug, 32, 3, train=False), in_chans=3)
    y, *_ = ev[0]
    assert y.shape == (3, 32, 32)
    assert torch.equal(ev[0][0], ev[0][0])
    # path-based images
    rows = _write_pngs(tmp_path / "tr", ["Coat", "Bag"])
    m = tmp_path / "m.csv"
    m.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows))
    ps, pspace = load_split(DataConfig(format="csv", train=str(m)), "train", tax, "group")
    pds = make_dataset(ps, pspace, build_transform(AugmentConfig(), 16, 3, train=True), views=2)
    assert pds[1][0].shape == (2, 3, 16, 16)
