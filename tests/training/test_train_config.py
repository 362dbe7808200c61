"""The training config schema: every key checked, every problem reported at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxovit.training.run.config import (
    DEFAULTS,
    ConfigError,
    check_files,
    load_config,
    merge_config,
)
from taxovit.training.run.schema import Config, describe_keys

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "tests" / "data" / "fashion-mnist-mini"


def _problems(user):
    with pytest.raises(ConfigError) as e:
        merge_config({"taxonomy": "t.json", **user})
    return str(e.value)


def _leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("overrides", "rank_weights"):  # mapping-valued keys
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_every_key_has_one_definition_with_default_rule_and_doc():
    described = describe_keys()
    assert [k for k, *_ in described] == [k for k, _ in _leaves(DEFAULTS)]
    assert [d for _, d, *_ in described] == [v for _, v in _leaves(DEFAULTS)]
    for key, _, expected, doc in described:
        assert expected and doc, key
    cfg = merge_config({"taxonomy": "t.json"})
    assert isinstance(cfg, Config)
    assert cfg.to_dict() == {**DEFAULTS, "taxonomy": "t.json"}
    assert cfg.optim.lr == DEFAULTS["optim"]["lr"] and cfg.grafit.views == 2


@pytest.mark.parametrize(
    ("user", "fragment"),
    [
        ({"optim": {"epochs": "ten"}}, "optim.epochs: expected an integer >= 1, got 'ten'"),
        ({"optim": {"epochs": 0}}, "optim.epochs: expected an integer >= 1, got 0"),
        ({"optim": {"epochs": True}}, "optim.epochs: expected an integer >= 1, got true"),
        ({"optim": {"epochs": 2.0}}, "optim.epochs: expected an integer"),
        ({"optim": {"lr": -1e-3}}, "optim.lr: expected a number > 0, got -0.001"),
        ({"optim": {"lr": "fast"}}, "optim.lr: expected a number > 0, got 'fast'"),
        ({"optim": {"lr": float("nan")}}, "optim.lr: expected a number > 0"),
        ({"optim": {"lr": True}}, "optim.lr: expected a number > 0, got true"),
        ({"optim": {"batch_size": 0}}, "optim.batch_size: expected an integer >= 1"),
        ({"optim": {"betas": [0.9]}}, "optim.betas: expected a list of 2 numbers in [0, 1)"),
        ({"optim": {"betas": [0.9, 1.0]}}, "optim.betas"),
        ({"optim": {"min_lr": 0.1, "lr": 0.01}}, "optim.min_lr: 0.1 is above optim.lr 0.01"),
        (
            {"augment": {"crop_scale": [1.5, 0.2]}},
            "augment.crop_scale: expected a list of 2 numbers in (0, 1], lo <= hi",
        ),
        ({"augment": {"crop_scale": [0.8, 0.2]}}, "augment.crop_scale"),
        ({"augment": {"crop_scale": [0.0, 1.0]}}, "augment.crop_scale"),
        (
            {"augment": {"mean": [0.5, 0.5]}},
            "augment.mean: expected 1 value(s), one per channel (data.in_chans), got 2",
        ),
        ({"augment": {"std": [0.5]}, "data": {"in_chans": 3}}, "augment.std: expected 3"),
        ({"augment": {"std": [0.0]}}, "augment.std: expected null or a list of numbers > 0"),
        ({"augment": {"hflip": 2}}, "augment.hflip: expected a number in [0, 1]"),
        ({"device": "tpu"}, "device: expected auto, cpu, cuda or cuda:N, got 'tpu'"),
        ({"device": "cuda:x"}, "device: expected auto, cpu, cuda or cuda:N"),
        ({"eval": {"knn_k": 0}}, "eval.knn_k: expected an integer >= 1, got 0"),
        ({"eval": {"every": -1}}, "eval.every: expected an integer >= 0"),
        ({"seed": "abc"}, "seed: expected an integer in [0, 4294967295], got 'abc'"),
        ({"seed": 1.5}, "seed: expected an integer"),
        ({"threads": 0}, "threads: expected null or an integer >= 1, got 0"),
        ({"deterministic": "yes"}, "deterministic: expected true or false, got 'yes'"),
        ({"data": {"in_chans": 2}}, "data.in_chans: expected 1 (grey) or 3 (RGB), got 2"),
        (
            {"data": {"format": "tfrecord"}},
            "data.format: expected one of fashion_mnist, npy, csv, imagefolder",
        ),
        ({"data": {"img_size": 3}}, "model.patch_size: 4 is larger than data.img_size 3"),
        (
            {"model": {"preset": "vit_giant"}},
            "model.preset: expected one of vit_nano, vit_micro, vit_ti, vit_s, vit_b, vit_l, vit_h",
        ),
        (
            {"model": {"overrides": {"dept": 2}}},
            "model.overrides.dept: not an argument of the ViT model (allowed: embed_dim, depth",
        ),
        (
            {"model": {"overrides": {"rollout": "chain"}}},
            "model.overrides.rollout: not an argument of the ViT model",
        ),
        ({"model": {"overrides": {"img_size": 32}}}, "model.overrides.img_size: not an argument"),
        ({"model": {"overrides": {"depth": "2"}}}, "model.overrides.depth: expected an integer"),
        (
            {"model": {"overrides": {"embed_dim": 30, "num_heads": 4}}},
            "model: embed_dim 30 is not divisible by num_heads 4",
        ),
        ({"model": {"overrides": [1]}}, "model.overrides: expected a mapping"),
        (
            {"method": "transfg", "model": {"overrides": {"depth": 1}}},
            "method transfg needs depth >= 2",
        ),
        ({"grafit": {"views": 1}}, "grafit.views: must be >= 2 for method grafit"),
        ({"grafit": {"sigma": 0}}, "grafit.sigma: expected a number > 0"),
        ({"grafit": {"k": 0}}, "grafit.k: expected null or an integer >= 1"),
        ({"ce": {"label_smoothing": 1.0}}, "ce.label_smoothing: expected a number in [0, 1)"),
        ({"log": {"progress": 1}}, "log.progress: expected true or false, got 1"),
        ({"optim": 3}, "'optim' must be a mapping, got 3"),
        ({"out": ""}, "out: expected a path"),
        ({"taxonomy": 3}, "taxonomy: expected null or a path"),
    ],
)
def test_each_bad_value_names_its_key_and_what_was_expected(user, fragment):
    assert fragment in _problems(user)


def test_transfg_accepts_its_own_overrides():
    cfg = merge_config(
        {
            "taxonomy": "t",
            "method": "transfg",
            "model": {"overrides": {"rollout": "reference", "depth": 2}},
        }
    )
    assert cfg.model.overrides == {"rollout": "reference", "depth": 2}


def test_every_problem_is_reported_at_once(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "taxonomy: t.json\n"  # 1
        "seed: abc\n"  # 2
        "optim:\n"  # 3
        "  epochs: ten\n"  # 4
        "  lr: -1\n"  # 5
        "  betas: [0.9]\n"  # 6
        "augment: {crop_scale: [1.5, 0.2]}\n"  # 7
        "device: tpu\n"  # 8
        "eval: {knn_k: 0}\n"  # 9
        "model: {preset: vit_xx}\n"  # 10
        "optim_typo: 1\n"  # 11
    )
    msg = str(pytest.raises(ConfigError, load_config, p).value)
    assert msg.startswith(f"{p}: 9 problems:")
    for line, key in [
        (2, "seed"),
        (4, "optim.epochs"),
        (5, "optim.lr"),
        (6, "optim.betas"),
        (7, "augment.crop_scale"),
        (8, "device"),
        (9, "eval.knn_k"),
        (10, "model.preset"),
    ]:
        assert f"line {line}: {key}: expected" in msg
    assert "line 11: unknown key 'optim_typo'" in msg
    assert "Traceback" not in msg


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "taxonomy: t.json\noptim: {lr: 0.1}\noptim:\n  epochs: 2\n",
            "key 'optim' is written twice, at lines 2 and 3",
        ),
        (
            "taxonomy: t.json\noptim:\n  lr: 0.1\n  epochs: 1\n  lr: 0.2\n",
            "key 'optim.lr' is written twice, at lines 3 and 5",
        ),
        (
            "taxonomy: t.json\ntaxonomy: u.json\n",
            "key 'taxonomy' is written twice, at lines 1 and 2",
        ),
    ],
)
def test_duplicated_yaml_keys_are_errors(tmp_path, text, fragment):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match="written twice") as e:
        load_config(p)
    assert fragment in str(e.value) and str(p) in str(e.value)


def test_exponent_numbers_are_numbers_and_yaml_errors_are_located(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("taxonomy: t.json\noptim: {lr: 1e-3, min_lr: 1E-6, weight_decay: 5.0e-2}\n")
    o = load_config(p).optim
    assert (o.lr, o.min_lr, o.weight_decay) == (1e-3, 1e-6, 5e-2)
    p.write_text("taxonomy: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(p)


def test_messages_show_plain_values_never_numpy_reprs():
    msg = _problems(
        {"optim": {"lr": np.float32("nan"), "epochs": np.int64(0), "betas": np.array([0.9])}}
    )
    assert "optim.lr" in msg and "optim.epochs: expected an integer >= 1, got 0" in msg
    assert "array(" not in msg and "np." not in msg and "float32" not in msg
    # numpy scalars that are in range become plain python numbers
    cfg = merge_config({"taxonomy": "t", "optim": {"epochs": np.int64(3), "lr": np.float32(0.5)}})
    assert type(cfg.optim.epochs) is int and type(cfg.optim.lr) is float


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.floats(-2, 2), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_KEYS = [k.split(".") for k, _ in _leaves(DEFAULTS)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_KEYS), _values), max_size=4))
def test_any_value_is_accepted_or_a_config_error(pairs):
    user = {"taxonomy": "t.json"}
    for key, value in pairs:
        section = user
        for part in key[:-1]:
            section = section.setdefault(part, {})
        section[key[-1]] = value
    try:
        cfg = merge_config(user)
    except ConfigError as exc:
        assert "Traceback" not in str(exc)
    else:  # a clean config is clean again
        assert merge_config(cfg.to_dict()) == cfg


def test_files_are_checked_only_when_asked(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "taxonomy: nowhere.json\ndata: {root: /no/such/folder}\nmodel: {pretrained: missing.pt}\n"
    )
    cfg = load_config(p)  # types and ranges only
    assert cfg.data.root == "/no/such/folder"
    msg = str(pytest.raises(ConfigError, load_config, p, files=True).value)
    assert "3 problems" in msg
    assert "line 1: taxonomy: file not found: nowhere.json" in msg
    assert "line 2: data.root: folder not found: /no/such/folder" in msg
    assert "line 3: model.pretrained: file not found: missing.pt" in msg
    with pytest.raises(ConfigError, match="data.root: required for data.format fashion_mnist"):
        merge_config({"taxonomy": str(p)}, files=True)
    with pytest.raises(ConfigError, match="data.train: required for data.format csv"):
        check_files(merge_config({"taxonomy": str(p), "data": {"format": "csv"}}))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="has no train-images-idx3-ubyte.gz"):
        merge_config({"taxonomy": str(p), "data": {"root": str(empty)}}, files=True)
    csv = {"format": "csv", "train": str(p), "test": str(tmp_path / "test.csv")}
    with pytest.raises(ConfigError, match="data.test: file not found"):
        merge_config({"taxonomy": str(p), "data": csv}, files=True)


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "configs").glob("*.yaml")))
def test_shipped_configs_validate_and_find_their_files(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    cfg.data.root = str(MINI)  # the Debian package may be absent here
    cfg.taxonomy = str(REPO / cfg.taxonomy)  # relative to the repository
    check_files(cfg, splits=("train", "test"))


def test_reading_a_config_does_not_import_torch(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("taxonomy: t.json\n")
    code = (
        "import sys; from taxovit.training.run.config import load_config; "
        f"load_config({str(p)!r}); sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_typed_config_sets_and_reads_dotted_keys_and_refuses_unknown_ones():
    cfg = merge_config({"taxonomy": "t.json", "optim": {"lr": 0.5}})
    assert cfg.get("optim.lr") == 0.5 and cfg.optim.lr == 0.5
    cfg.set("data.root", "/d")
    cfg.out = "runs/x"
    assert cfg.to_dict()["data"]["root"] == "/d" and cfg.to_dict()["out"] == "runs/x"
    with pytest.raises(AttributeError, match="no key 'outt'"):
        cfg.outt = "typo"
    assert merge_config(cfg) == cfg  # a Config merges like its mapping


def test_a_folder_given_as_the_config_is_named_as_a_folder(tmp_path) -> None:
    from taxovit.training import load_config
    from taxovit.training.run.config import ConfigError

    with pytest.raises(ConfigError, match="is a folder, not a YAML file"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
