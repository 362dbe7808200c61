"""`taxovit train` / `taxovit predict` never lose or overwrite a file by surprise, and say
clearly what is wrong (exit status 2, one message, nothing written)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import yaml  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from taxovit.cli import app  # noqa: E402
from taxovit.errors import TaxovitError  # noqa: E402
from taxovit.training.run import loop  # noqa: E402
from taxovit.training.run.config import ConfigError  # noqa: E402
from taxovit.training.run.loop import train  # noqa: E402
from taxovit.training.run.predict import predict  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_train import tiny_config  # noqa: E402

pytestmark = pytest.mark.torch
runner = CliRunner()


def one_epoch(tmp_path, **over):
    return tiny_config(tmp_path, **{"optim": {"epochs": 1}, "eval": {"every": 0}, **over})


def snapshot(folder):
    """Every file under ``folder`` with its bytes (None: the folder does not exist)."""
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def log_epochs(folder):
    return [json.loads(x)["epoch"] for x in (folder / "log.jsonl").read_text().splitlines()]


def cli(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch Grafit run (its folder and config), shared by the read-only tests."""
    tmp = tmp_path_factory.mktemp("trained")
    torch.set_num_threads(1)
    cfg = one_epoch(tmp)
    train(cfg, out=tmp / "run")
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg))
    return tmp / "run", cfg, tmp / "c.yaml"


# ------------------------------------------------------------------------ existing runs
def test_a_run_is_not_overwritten_unless_asked(tmp_path, trained):
    run, cfg, _ = trained
    before = snapshot(run)
    with pytest.raises(TaxovitError, match="already holds a training run") as e:
        train(cfg, out=run)
    for option in ("--resume", "--out", "--overwrite"):
        assert option in str(e.value)
    assert snapshot(run) == before
    with pytest.raises(TaxovitError, match="exclude each other"):
        train(cfg, out=run, resume=True, overwrite=True)
    assert snapshot(run) == before
    # a log alone is a run too
    other = tmp_path / "other"
    other.mkdir()
    (other / "log.jsonl").write_text('{"epoch": 1}\n')
    with pytest.raises(TaxovitError, match="already holds"):
        train(cfg, out=other)
    assert (other / "log.jsonl").read_text() == '{"epoch": 1}\n'


def test_overwrite_replaces_the_old_run(tmp_path):
    cfg = one_epoch(tmp_path)
    train(cfg, out=tmp_path / "run")
    (tmp_path / "run" / "notes.txt").write_text("mine")
    res = train(tiny_config(tmp_path, eval={"every": 0}), out=tmp_path / "run", overwrite=True)
    assert res["epochs_done"] == 2 and log_epochs(tmp_path / "run") == [1, 2]
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"optim": {"lr": "fast"}}, "optim.lr: expected a number > 0"),
        ({"data": {"root": "/no/such/data"}}, "data.root: folder not found"),
        ({"optim": {"batch_size": 4000}}, "larger than the training set"),  # found reading data
        ({"train_rank": "phylum"}, "training rank 'phylum' is not in the taxonomy"),
        ({"device": "cuda:7"}, "device cuda:7"),
    ],
)
def test_a_bad_config_changes_nothing_even_with_overwrite(trained, change, fragment):
    run, _, _ = trained
    before = snapshot(run)
    with pytest.raises(TaxovitError, match=fragment):
        train(one_epoch(run.parent, **change), out=run, overwrite=True)
    assert snapshot(run) == before
    with pytest.raises(TaxovitError):  # this fault, or the config differs from the run's
        train(one_epoch(run.parent, **change), out=run, resume=True)
    assert snapshot(run) == before


def test_cli_refusals_exit_2_with_one_message(tmp_path, trained):
    run, _, config = trained
    before = snapshot(run)
    r = cli("train", "-c", config, "-o", run, "--no-progress")
    assert r.exit_code == 2 and "already holds a training run" in r.stderr
    r = cli("train", "-c", config, "-o", run, "--resume", "--overwrite", "--no-progress")
    assert r.exit_code == 2 and "exclude each other" in r.stderr
    assert snapshot(run) == before
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text() + "seed: abc\n")
    r = cli("train", "-c", bad, "-o", tmp_path / "new", "--no-progress")
    assert r.exit_code == 2 and "written twice" in r.stderr and not (tmp_path / "new").exists()
    bad.write_text(config.read_text().replace("epochs: 1", "epochs: 0"))
    r = cli("train", "-c", bad, "-o", tmp_path / "new", "--no-progress")
    assert r.exit_code == 2 and "optim.epochs: expected an integer >= 1, got 0" in r.stderr
    assert not (tmp_path / "new").exists()


# ------------------------------------------------------------------------ the --out folder
def test_out_must_be_a_folder_and_not_an_input(tmp_path, trained):
    _, cfg, config = trained
    f = tmp_path / "file"
    f.write_text("x")
    for out, fragment in ((f, "exists and is not a folder"), (f / "sub", "is not a folder")):
        with pytest.raises(TaxovitError, match=fragment):
            train(cfg, out=out)
        r = cli("train", "-c", config, "-o", out, "--no-progress")
        assert r.exit_code == 2 and "--out" in r.stderr
    assert f.read_text() == "x" and sorted(os.listdir(tmp_path)) == ["file"]
    # the config itself would be overwritten by the log
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "log.jsonl").write_text(config.read_text())
    r = cli("train", "-c", clash / "log.jsonl", "-o", clash, "--overwrite", "--no-progress")
    assert r.exit_code == 2 and "same file" in r.stderr
    assert (clash / "log.jsonl").read_text() == config.read_text()


def test_out_from_the_config_is_named_as_the_config_key(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TaxovitError, match=r"^out .*file: exists and is not a folder"):
        train(one_epoch(tmp_path, out=str(tmp_path / "file")))


# ------------------------------------------------------------------------ --resume
def test_resume_refuses_a_different_config_and_names_every_difference(trained):
    run, cfg, _ = trained
    before = snapshot(run)
    changed = one_epoch(
        run.parent, optim={"epochs": 1, "lr": 0.002}, seed=4, model={"patch_size": 4}
    )
    with pytest.raises(ConfigError) as e:
        train(changed, out=run, resume=True)
    msg = str(e.value)
    for line in (
        "optim.lr: checkpoint 0.001, now 0.002",
        "seed: checkpoint 3, now 4",
        "model.patch_size: checkpoint 7, now 4",
    ):
        assert line in msg
    assert "optim.epochs" in msg and "--overwrite" in msg  # the allowed keys, the way out
    assert snapshot(run) == before


def test_resume_may_change_epochs_logging_evaluation_and_threads(tmp_path):
    cfg = one_epoch(tmp_path)
    train(cfg, out=tmp_path / "run")
    more = tiny_config(
        tmp_path,
        eval={"every": 1, "knn_k": 3},
        threads=1,
        log={"progress": False},
        optim={"epochs": 2},
    )
    res = train(more, out=tmp_path / "run", resume=True)
    assert res["epochs_done"] == 2 and log_epochs(tmp_path / "run") == [1, 2]
    with pytest.raises(ConfigError, match="optim.epochs is 1 but .* has already trained 2"):
        train(cfg, out=tmp_path / "run", resume=True)


def test_evaluation_does_not_move_the_training_random_streams(tmp_path):
    a = train(tiny_config(tmp_path, eval={"every": 1}), out=tmp_path / "a")
    b = train(tiny_config(tmp_path, eval={"every": 0}), out=tmp_path / "b")
    ma = torch.load(a["checkpoint"], weights_only=True)["model"]
    mb = torch.load(b["checkpoint"], weights_only=True)["model"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)


def test_a_kill_between_checkpoint_and_log_is_repaired_on_resume(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, optim={"epochs": 3}, eval={"every": 0})
    full = train(cfg, out=tmp_path / "full")
    real = loop.append_log

    def killed_after_epoch_2_checkpoint(path, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt  # the process dies after the checkpoint was written
        real(path, row)

    monkeypatch.setattr(loop, "append_log", killed_after_epoch_2_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=tmp_path / "run")
    monkeypatch.setattr(loop, "append_log", real)
    run = tmp_path / "run"
    assert log_epochs(run) == [1]  # the epoch-2 line is lost ...
    with (run / "log.jsonl").open("a") as fh:
        fh.write('{"epoch": 2, "lo')  # ... and a cut-off line to boot
    (run / ".checkpoint.pt.x1y2.tmp").write_bytes(b"half a checkpoint")  # a kill inside save
    (run / ".log.jsonl.abc.tmp").write_text("")
    (run / "keep.tmp").write_text("not ours")
    train(cfg, out=run, resume=True)
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in Path(full["log"]).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in ref], abs=1e-6)
    assert sorted(os.listdir(run)) == ["checkpoint.pt", "keep.tmp", "log.jsonl"]


def test_resume_refuses_a_foreign_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(os.urandom(64))
    with pytest.raises(TaxovitError, match="cannot read checkpoint"):
        train(one_epoch(tmp_path), out=run, resume=True)
    torch.save({"epoch": 1}, run / "checkpoint.pt")
    with pytest.raises(TaxovitError, match="not a checkpoint written by 'taxovit train'"):
        train(one_epoch(tmp_path), out=run, resume=True)
    torch.save({"format": "taxovit-train/1", "epoch": 1}, run / "checkpoint.pt")
    with pytest.raises(TaxovitError, match="incomplete checkpoint, no config or label_space"):
        train(one_epoch(tmp_path), out=run, resume=True)
    assert sorted(os.listdir(run)) == ["checkpoint.pt"]


# ------------------------------------------------------------------------ predict
def _doctored(tmp_path, run, edit):
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    obj = edit(ck)
    path = tmp_path / "doctored.pt"
    torch.save(ck if obj is None else obj, path)
    return path


def _nan_weights(ck):
    ck["model"]["backbone.cls_token"][..., 0] = float("nan")


def _other_model(ck):
    ck["config"]["model"]["preset"] = "vit_micro"


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (_nan_weights, "weights are not finite"),
        (
            lambda ck: ck["model"],
            "not a checkpoint written by 'taxovit train' (it holds a plain state dict",
        ),
        (lambda ck: [1, 2], "not a checkpoint written by 'taxovit train' (it holds a list)"),
        (lambda ck: ck.pop("label_space") and None, "incomplete checkpoint, no label_space"),
        (lambda ck: ck.pop("config") and None, "incomplete checkpoint, no config"),
        (_other_model, "the weights do not match the model its config builds"),
        (lambda ck: ck["config"]["optim"].update(lr=-1), "(its config): optim.lr: expected"),
    ],
)
def test_predict_refuses_a_bad_checkpoint(tmp_path, trained, edit, fragment):
    run, _, _ = trained
    path = _doctored(tmp_path, run, edit)
    out = tmp_path / "p.csv"
    r = cli("predict", "--checkpoint", path, "--out", out)
    assert r.exit_code == 2 and fragment in " ".join(r.stderr.split()), r.stderr
    assert not out.exists()


def test_predict_refuses_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(256))
    r = cli("predict", "--checkpoint", path, "--out", tmp_path / "p.csv")
    assert r.exit_code == 2 and "cannot read checkpoint" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["noise.pt"]


def test_predict_refuses_bad_options_and_outputs(tmp_path, trained):
    run, cfg, config = trained
    ck = run / "checkpoint.pt"
    before = snapshot(run.parent)
    cases = [
        (["--out", tmp_path / "p.csv", "--device", "tpu"], "--device 'tpu': expected auto, cpu"),
        (["--out", tmp_path / "p.csv", "--knn", "0"], "--knn 0: expected an integer >= 1"),
        (["--out", tmp_path / "p.csv", "--split", "valid"], "--split 'valid': expected one of"),
        (["--out", tmp_path / "p.csv", "--batch-size", "0"], "--batch-size 0"),
        (["--out", tmp_path], "is a folder"),
        (["--out", ck], "same file as --checkpoint"),
        (["--out", cfg["taxonomy"]], "same file as taxonomy"),
        (["--out", Path(cfg["data"]["root"]) / "t10k-labels-idx1-ubyte.gz"], "same file"),
        (["--out", tmp_path / "p.csv", "--data-root", tmp_path / "nowhere"], "--data-root"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--out", tmp_path / "p.csv", "--device", "cuda"], "no GPU is available"))
    with pytest.raises(TaxovitError, match="--knn True: expected an integer >= 1"):
        predict(ck, tmp_path / "p.csv", knn=True)
    for args, fragment in cases:
        r = cli("predict", "--checkpoint", ck, *args)
        assert r.exit_code == 2 and fragment in r.stderr, (args, r.stderr)
    assert snapshot(run.parent) == before and os.listdir(tmp_path) == []


def test_predict_to_standard_output(tmp_path, trained):
    run, _, _ = trained
    r = cli("predict", "--checkpoint", run / "checkpoint.pt", "--out", "-", "--knn", "3")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("id,y_true,y_pred,score_") and len(lines) == 21
    assert "wrote 20 rows to standard output" in r.stderr and "wrote" not in r.stdout
