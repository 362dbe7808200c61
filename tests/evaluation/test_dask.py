"""taxovit.dask on a LocalCluster of 2 worker processes: the report of a multi-file dataset
equals the in-memory one; a corrupt partition is exit 2 naming the file, nothing written; a
worker killed mid-run is retried by Dask and the report stays exact."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="datasets need pyarrow")
pytest.importorskip("dask", reason='needs the [dask] extra: pip install "taxovit[dask]"')
distributed = pytest.importorskip(
    "distributed", reason='needs the [dask] extra: pip install "taxovit[dask]"'
)

from typer.testing import CliRunner  # noqa: E402

import taxovit.dask as tdask  # noqa: E402
from taxovit.cli import app  # noqa: E402
from taxovit.evaluation.dataset import evaluate_dataset  # noqa: E402
from taxovit.taxonomy import save_taxonomy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_dataset import LEAVES, in_memory, long_rows, write_parts  # noqa: E402
from test_evaluation import hand_taxonomy  # noqa: E402
from test_streaming import _same  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_two_workers_equal_in_memory(client, tmp_path) -> None:
    tax, rows = hand_taxonomy(), long_rows(120)
    write_parts(rows, tmp_path, list(range(3, 360, 3)))  # 120 files: a 3-level merge tree
    got = tdask.evaluate(tmp_path, tax, top_k=(1, 3), client=client, batch_rows=16)
    _same(got.compute(), in_memory(rows, tax, 3))
    local = evaluate_dataset(tmp_path, tax, top_k=(1, 3), batch_rows=16)
    assert got.counts.keys() == local.counts.keys()
    for k, v in local.counts.items():  # counts: exactly equal
        np.testing.assert_array_equal(got.counts[k], v)
    assert got.sums == local.sums  # the same merge tree: the float sums bit for bit
    assert got.compute().metrics == local.compute().metrics
    assert len(client.scheduler_info()["workers"]) == 2
    again = tdask.evaluate(tmp_path, tax, top_k=(1, 3), client=client, batch_rows=16)
    assert again.sums == got.sums  # a second run on the same client (taxonomy scattered anew)


def test_bootstrap_two_workers_equal_local(client, tmp_path) -> None:
    """Poisson resamples on Dask: the same per-file states and merge tree as the local
    engine, so the intervals (and every resampled sum and count) are identical."""
    tax, rows = hand_taxonomy(), long_rows(150)
    write_parts(rows, tmp_path, list(range(6, 450, 30)))  # 15 files: a 2-level merge tree
    kw = {"top_k": (1, 3), "batch_rows": 8, "n_resamples": 60, "seed": 11}
    got = tdask.evaluate(tmp_path, tax, client=client, **kw)
    local = evaluate_dataset(tmp_path, tax, **kw)
    assert got.to_bytes() == local.to_bytes()
    a, b = got.report(0.9), local.report(0.9)
    assert a.intervals == b.intervals and a.metrics == b.metrics and len(a.intervals) > 20
    _same(a, in_memory(rows, tax, 3))


def test_dataframe_partitions(client) -> None:
    import dask.dataframe as dd
    import pandas as pd

    rng = np.random.default_rng(4)
    t, p = rng.choice(LEAVES[:4], 50), rng.choice(LEAVES, 50)
    ddf = dd.from_pandas(pd.DataFrame({"y_true": t, "y_pred": p}), npartitions=4)
    got = tdask.evaluate(ddf, hand_taxonomy(), top_k=(1,), client=client).compute()
    from taxovit import evaluate

    _same(got, evaluate(t, p, hand_taxonomy(), top_k=(1,)))


def test_cli_dask_corrupt_partition_exit_2(client, tmp_path) -> None:
    tax = tmp_path / "tax.json"
    save_taxonomy(hand_taxonomy(), tax)
    write_parts(long_rows(40), tmp_path / "lake", [30, 60])
    out = tmp_path / "r.json"
    addr = client.scheduler.address
    args = [
        "evaluate",
        str(tmp_path / "lake"),
        "-t",
        str(tax),
        "--engine",
        "dask",
        "--scheduler",
        addr,
        "-f",
        "json",
        "-o",
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    want = in_memory(long_rows(40), hand_taxonomy(), 3, top_k=(1, 5))
    assert '"accuracy": ' + repr(want.metrics["accuracy"]) in out.read_text()
    res = CliRunner().invoke(app, [*args, "--bootstrap", "20", "--seed", "3"])
    local = tmp_path / "local.json"
    boot = ["--bootstrap", "20", "--seed", "3", "-f", "json", "-o", str(local)]
    res2 = CliRunner().invoke(app, ["evaluate", str(tmp_path / "lake"), "-t", str(tax), *boot])
    assert res.exit_code == 0 and res2.exit_code == 0, res.output + res2.output
    dask_ci = json.loads(out.read_text())["confidence_intervals"]
    assert dask_ci == json.loads(local.read_text())["confidence_intervals"] and dask_ci
    out.unlink()
    bad = tmp_path / "lake" / "part=1" / "f001.parquet"
    bad.write_bytes(bad.read_bytes()[:50])
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "f001.parquet" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_worker_killed_mid_run_is_retried(client, tmp_path) -> None:
    tax, rows = hand_taxonomy(), long_rows(400)
    write_parts(rows, tmp_path, list(range(30, 1200, 30)))  # 40 files
    result: dict = {}

    def run() -> None:
        result["state"] = tdask.evaluate(tmp_path, tax, top_k=(1, 3), client=client, batch_rows=4)

    th = threading.Thread(target=run)
    th.start()
    deadline = time.time() + 60
    while time.time() < deadline and not any(client.processing().values()):
        time.sleep(0.01)
    pids = client.run(os.getpid)  # this test's own worker processes
    os.kill(next(iter(pids.values())), signal.SIGKILL)  # the nanny starts a new one
    killed_at = time.time()
    th.join(180)
    assert not th.is_alive() and time.time() > killed_at
    _same(result["state"].compute(), in_memory(rows, tax, 3))
    client.wait_for_workers(2, timeout=60)
