"""Checkpoints written before the method-module restructure (issue 24; ``data/run-before-i24``)
still predict, resume and load: the same prediction CSV, the same weights after resuming, as
the code before the change gave (``expected.json``)."""

import hashlib
import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from taxovit.models import load_model  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import _network, predict  # noqa: E402

pytestmark = pytest.mark.torch
REPO = Path(__file__).resolve().parents[2]
OLD = REPO / "tests" / "data" / "run-before-i24"
sys.path.insert(0, str(REPO / "scripts"))
from method_fingerprints import MINI, TAXONOMY, _hash_tensors  # noqa: E402

EXPECTED = json.loads((OLD / "expected.json").read_text())


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Tiny models: one thread beats fighting over a shared machine's cores."""


def _old_run(tmp_path, name):
    ck = torch.load(OLD / f"{name}.pt", weights_only=True)
    ck["config"]["taxonomy"], ck["config"]["data"]["root"] = str(TAXONOMY), str(MINI)
    run = tmp_path / "run"
    run.mkdir()
    torch.save(ck, run / "checkpoint.pt")
    return run, ck


@pytest.mark.parametrize("name", ["ce_ema", "grafit"])
def test_an_old_checkpoint_predicts_and_resumes_as_before(tmp_path, name):
    run, ck = _old_run(tmp_path, name)
    assert "model_description" not in ck and ck["format"] == "taxovit-train/1"
    predict(run / "checkpoint.pt", tmp_path / "a.csv")
    got = hashlib.sha256((tmp_path / "a.csv").read_bytes()).hexdigest()
    assert got == EXPECTED[name]["predict_epoch1"]
    res = train(ck["config"], out=run, resume=True)
    after = torch.load(res["checkpoint"], weights_only=True)
    assert _hash_tensors(after["model"]) == EXPECTED[name]["model_after_resume"]
    assert repr(res["history"][-1]["loss"]) == EXPECTED[name]["loss_epoch2"]
    assert after["model_description"]["arch"] == "vit"  # the resumed run now carries one


def test_load_model_takes_predicts_weights_of_an_old_and_a_new_run(tmp_path):
    """``load_model`` on a run checkpoint gives the backbone ``predict`` uses (the EMA of the
    weights): from the weights alone for a checkpoint without a model description, from the
    description for a new one."""
    from taxovit.training.run.checkpoint import read_run_checkpoint

    run, _ = _old_run(tmp_path, "ce_ema")
    x = torch.randn(3, 1, 28, 28)
    for path in (
        run / "checkpoint.pt",
        train(read_run_checkpoint(run / "checkpoint.pt")[1].to_dict(), out=run, resume=True)[
            "checkpoint"
        ],
    ):
        ck, cfg, space = read_run_checkpoint(path)
        net = _network(ck, cfg, space, path).eval()
        model = load_model(path).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), net(x)["features"], atol=1e-6, rtol=0)
        online = {
            k[len("backbone.") :]: v for k, v in ck["model"].items() if k.startswith("backbone.")
        }
        assert not all(torch.equal(model.state_dict()[k], v) for k, v in online.items())
