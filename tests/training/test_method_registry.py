"""The method registry: a new method is one module plus one registry line (the toy method
of ``toy_method.py``), and every registered method's class is consistent."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from taxovit.training.methods import METHODS, Method, method_sections  # noqa: E402
from taxovit.training.run.config import ConfigError, load_config, merge_config  # noqa: E402

pytestmark = pytest.mark.torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_train import tiny_config  # noqa: E402
from toy_method import Toy  # noqa: E402


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(METHODS, "toy", Toy)  # the one registry line


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Tiny models: one thread beats fighting over a shared machine's cores."""


def test_every_method_is_a_method_class_with_its_name():
    for name, cls in METHODS.items():
        assert issubclass(cls, Method) and cls.name == name
    names = [s.name for s in method_sections()]
    assert len(names) == len(set(names))


def _code_strings(path: Path) -> set[str]:
    """The string constants of a module's code (docstrings, whose examples may name a
    method, left out)."""
    import ast

    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    }


def test_the_loop_set_up_folder_reporter_and_predict_never_name_a_method():
    root = Path(__file__).resolve().parents[2] / "src" / "taxovit" / "training" / "run"
    for path in root.glob("*.py"):
        strings = _code_strings(path)
        for name in set(METHODS) - {"knn"}:  # predict's kNN classifier is no method
            assert name not in strings, f"{path.name} names method {name}"


def test_override_rules_are_the_model_constructors_arguments():
    """The torch-free config knows the models' arguments as data: they must agree."""
    import inspect

    from taxovit.models import ARCHITECTURES, PRESETS
    from taxovit.models.presets import ARCH_ONLY_ARGUMENTS
    from taxovit.training.run.validate import OVERRIDE_RULES

    set_by_config = {
        "self",
        "args",
        "kwargs",
        "img_size",
        "patch_size",
        "stride",
        "in_chans",
        "num_classes",
        "stem",
    }
    args = {
        name: set(inspect.signature(cls.__init__).parameters) - set_by_config
        for name, cls in ARCHITECTURES.items()
    }
    assert set(OVERRIDE_RULES) == set().union(*args.values())
    for name, only in ARCH_ONLY_ARGUMENTS.items():
        assert set(only) == args[name] - args["vit"]
    for preset in PRESETS:  # the schema reads the presets (data) without torch
        assert merge_config({"taxonomy": "t", "model": {"preset": preset}}).model.preset == preset


def test_a_toy_method_trains_resumes_saves_beside_and_predicts(tmp_path, toy):
    from taxovit.training.run.loop import train
    from taxovit.training.run.predict import predict

    cfg = tiny_config(
        tmp_path,
        method="toy",
        toy={"temperature": 2.0, "note": "hi"},
        optim={"epochs": 2},
        eval={"every": 0},
    )
    full = train(cfg, out=tmp_path / "full")
    assert [set(r) >= {"loss", "toy_ce"} for r in full["history"]] == [True, True]
    assert (tmp_path / "full" / "toy.txt").read_text() == "hi after 4 steps\n"
    ck = torch.load(full["checkpoint"], weights_only=True)
    assert ck["toy_steps"] == 4 and "gain" in ck["model"] and ck["config"]["toy"]["note"] == "hi"
    assert ck["toy_sizes"] == [28, 14]  # its own views: multi-crop on the in-memory path
    assert float(ck["model"]["gain"]) != 1.0  # trained through its own forward
    train(cfg, out=tmp_path / "half", stop_after_epoch=1)
    resumed = train(cfg, out=tmp_path / "half", resume=True)
    again = torch.load(resumed["checkpoint"], weights_only=True)
    assert again["toy_steps"] == 4
    for k, v in ck["model"].items():
        torch.testing.assert_close(again["model"][k], v, atol=1e-6, rtol=0)
    res = predict(full["checkpoint"], tmp_path / "p.csv")
    assert res["classifier"] == "knn" and res["rows"] == 20  # head on the groups: kNN


def test_a_toy_method_config_is_checked_with_its_yaml_lines(tmp_path, toy):
    p = tmp_path / "c.yaml"
    p.write_text("taxonomy: t.json\nmethod: toy\ntoy:\n  temperature: -1\n  colour: red\n")
    msg = str(pytest.raises(ConfigError, load_config, p).value)
    assert "line 4: toy.temperature: expected a number > 0, got -1" in msg
    assert "line 5: unknown key 'toy.colour' (known: note, temperature)" in msg
    with pytest.raises(ConfigError, match="toy.temperature: at most 100 for method toy"):
        merge_config({"taxonomy": "t", "method": "toy", "toy": {"temperature": 1000}})
    assert merge_config({"taxonomy": "t", "method": "toy"}).toy.note == "hello"


def test_an_unregistered_method_is_refused_with_the_registered_ones():
    with pytest.raises(ConfigError, match="method: expected one of ce, grafit, transfg"):
        merge_config({"taxonomy": "t", "method": "toy"})
