"""Out-of-core and Dask evaluation of a long-format top-5 Parquet dataset (issue 26).

    python benchmarks/bench_scale.py [--rows 10000000 30000000] [--rows-per-file 500000]
        [--workers 2] [--bootstrap 200] [--bootstrap-rows 1000000] [--dir /tmp/taxovit_scale]
        [--probs] [--repeat 3]

Generates (under ``--dir``, deleted at the end unless ``--keep``) a dataset of ``rows`` rows
(``rows / 5`` samples, 5 candidates each: id, label, score, y_true; labels dictionary-encoded)
on the 10k-leaf synthetic tree (7 ranks), then measures, each in a fresh process (peak RSS of
that process, and of the Dask workers):

* scan: a bare ``pyarrow.dataset`` scan of the same four columns (the floor);
* local: ``taxovit.evaluation.dataset.evaluate_dataset`` (one process, out of core);
  scan and local ``--repeat`` times each, alternated, compared by their medians;
* dask: ``taxovit.dask.evaluate`` on a ``LocalCluster`` of ``--workers`` single-threaded
  processes (cluster start-up and a warm-up run on one file excluded, reported apart: worker
  imports and the taxonomy's index built once per worker); the report must equal local's;
* poisson: ``--bootstrap`` Poisson resamples on the first ``--bootstrap-rows`` rows' files,
  locally and (with ``--workers``) on Dask, whose intervals must equal the local ones.

Prints a Markdown table with rows/s, ratios to the bare scan and peak RSS, and the
extrapolated time of 1e9 rows on 32 workers from the per-row cost (assuming the dask
per-worker throughput scales linearly; the merge of 32 states is ~ms).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, synthetic_tree  # noqa: E402

K = 5


def _tax():
    return synthetic_tree((1, 4, 15, 55, 200, 700, 2600, 10_000))


def generate(folder: Path, rows: int, per_file: int, seed: int = 0, probs: bool = False) -> int:
    """Write ``rows`` rows in files of ``per_file`` rows; returns the number of files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tax = _tax()
    leaves = np.array([tax.nodes[i] for i in np.flatnonzero(np.diff(tax.index.child_ptr) == 0)])
    names = pa.array(leaves)
    rng = np.random.default_rng(seed)
    n_files, first = 0, 0
    for start in range(0, rows, per_file):
        n = min(per_file, rows - start) // K
        t = rng.integers(0, leaves.size, n)
        offs = rng.integers(1, leaves.size - K, n)
        cand = (
            t[:, None] + np.c_[np.zeros(n, np.int64), offs[:, None] + np.arange(K - 1)]
        ) % leaves.size
        right = rng.random(n) < 0.6  # 60 % top-1 right, else the truth is second
        cand[~right, :2] = cand[~right, 1::-1]
        score = np.sort(rng.random((n, K)), axis=1)[:, ::-1]
        if probs:  # the K best of a probability vector: each row sums to at most 1
            score = score / score.sum(axis=1, keepdims=True) * rng.uniform(0.5, 1.0, (n, 1))
        ids = pa.array(np.char.add("s", np.arange(first, first + n).astype(str)))
        table = pa.table(
            {
                "id": pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.arange(n), K)), ids),
                "label": pa.DictionaryArray.from_arrays(
                    pa.array(cand.ravel().astype(np.int32)), names
                ),
                "score": score.ravel(),
                "y_true": pa.DictionaryArray.from_arrays(
                    pa.array(np.repeat(t, K).astype(np.int32)), names
                ),
            }
        )
        pq.write_table(table, folder / f"part-{n_files:05d}.parquet", row_group_size=1 << 17)
        n_files, first = n_files + 1, first + n
    return n_files


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(what: str, folder: str, workers: int, bootstrap: int, files: int | None) -> dict:
    """One measurement in this (fresh) process."""
    import pyarrow.dataset as ds

    paths = sorted(str(p) for p in Path(folder).glob("*.parquet"))[:files]
    out: dict = {}
    if what == "scan":
        t0 = time.perf_counter()
        sc = ds.dataset(paths, format="parquet").scanner(
            columns=["id", "label", "score", "y_true"],
            batch_size=1 << 20,
            batch_readahead=1,
            fragment_readahead=1,
        )
        rows = sum(b.num_rows for b in sc.to_batches())
        out = {"seconds": time.perf_counter() - t0, "rows": rows}
    elif what == "local":
        from taxovit.evaluation.dataset import evaluate_dataset

        tax = _tax()
        t0 = time.perf_counter()
        state = evaluate_dataset(folder if files is None else paths, tax, top_k=(1, 5))
        report = state.compute()
        out = {
            "seconds": time.perf_counter() - t0,
            "rows": int(state.sums["one"]) * K,
            "metrics": report.metrics,
        }
    elif what == "dask":
        import taxovit.dask as tdask

        tax = _tax()
        t0 = time.perf_counter()
        client = tdask.local_client(workers)
        start = time.perf_counter() - t0
        t0 = time.perf_counter()  # first run: worker imports, taxonomy index built per worker
        tdask.evaluate(paths[:1], tax, top_k=(1, 5), client=client)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        state = tdask.evaluate(folder, tax, top_k=(1, 5), client=client)
        report = state.compute()
        secs = time.perf_counter() - t0
        wrss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        client.close()
        out = {
            "seconds": secs,
            "startup": start,
            "warm_up": warm,
            "rows": int(state.sums["one"]) * K,
            "metrics": report.metrics,
            "worker_peak_mb": max(wrss.values()),
        }
    elif what == "poisson":
        from taxovit.evaluation.poisson import evaluate_poisson

        tax = _tax()
        t0 = time.perf_counter()
        report = evaluate_poisson(paths, tax, n_resamples=bootstrap, top_k=(1, 5))
        out = {"seconds": time.perf_counter() - t0, "rows": report.metrics["n_samples"] * K}
        out["intervals"] = report.intervals
    elif what == "dask-poisson":
        out = _dask_poisson(paths, workers, bootstrap)
    out["peak_mb"] = _peak_mb()
    return out


def _dask_poisson(paths: list[str], workers: int, bootstrap: int) -> dict:
    """The Poisson bootstrap on a LocalCluster (start-up and a warm-up on one file apart)."""
    import taxovit.dask as tdask

    tax = _tax()
    client = tdask.local_client(workers)
    tdask.evaluate(paths[:1], tax, top_k=(1, 5), client=client, n_resamples=bootstrap)
    t0 = time.perf_counter()
    state = tdask.evaluate(paths, tax, top_k=(1, 5), client=client, n_resamples=bootstrap)
    report = state.report(0.95)
    secs = time.perf_counter() - t0
    wrss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    client.close()
    return {
        "seconds": secs,
        "rows": report.metrics["n_samples"] * K,
        "intervals": report.intervals,
        "worker_peak_mb": max(wrss.values()),
    }


def _child(what: str, folder: Path, args: argparse.Namespace, files: int | None = None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--measure",
        what,
        "--dir",
        str(folder),
        "--workers",
        str(args.workers),
        "--bootstrap",
        str(args.bootstrap),
    ]
    if files is not None:
        cmd += ["--files", str(files)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{what} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    """The run of median time (peak RSS: the largest of all runs)."""
    mid = sorted(runs, key=lambda m: m["seconds"])[len(runs) // 2]
    return {**mid, "peak_mb": max(m["peak_mb"] for m in runs)}


def _times(runs: list[dict]) -> str:
    if len(runs) == 1:
        return ""
    times = ", ".join(f"{m['seconds']:.2f}" for m in runs)
    return f" (median of {times} s)"


def _line(name: str, m: dict, scan: dict, local: dict | None) -> str:
    rate = m["rows"] / m["seconds"]
    vs_local = f"{local['seconds'] / m['seconds']:.2f}x" if local and local is not m else "—"
    mem = f"{m['peak_mb']:.0f}" + (
        f" (workers {m['worker_peak_mb']:.0f} each)" if "worker_peak_mb" in m else ""
    )
    return (
        f"| {name} | {m['rows']:,} | {m['seconds']:.1f} | {rate / 1e6:.2f} | "
        f"{(m['seconds'] / m['rows']) / (scan['seconds'] / scan['rows']):.2f}x | {vs_local} | {mem} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 30_000_000])
    ap.add_argument("--rows-per-file", type=int, default=500_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--bootstrap-rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/taxovit_scale"))
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="scan and local runs, alternated; their medians are compared (a noisy machine)",
    )
    ap.add_argument(
        "--probs", action="store_true", help="candidates' scores are probabilities (the ece)"
    )
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--files", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat: expected 1 or more runs; got {args.repeat}")
    if args.measure:
        print(
            json.dumps(
                measure(args.measure, str(args.dir), args.workers, args.bootstrap, args.files)
            )
        )
        return
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; "
        f"uptime: {os.popen('uptime').read().strip()}"
    )
    print(
        "| run | rows | s | M rows/s | time per row / bare scan's | speed-up vs local | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    try:
        for rows in args.rows:
            folder = args.dir / f"rows{rows}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            t0 = time.perf_counter()
            n_files = generate(folder, rows, args.rows_per_file, probs=args.probs)
            print(
                f"| generate {n_files} files | {rows:,} | {time.perf_counter() - t0:.1f} | | | | |"
            )
            runs: dict[str, list[dict]] = {"scan": [], "local": []}
            for _ in range(args.repeat):  # alternated: both see the same spells of load
                for what, got in runs.items():
                    got.append(_child(what, folder, args))
            scan, local = _median(runs["scan"]), _median(runs["local"])
            print(_line(f"bare pyarrow.dataset scan{_times(runs['scan'])}", scan, scan, None))
            print(_line(f"local, out of core{_times(runs['local'])}", local, scan, None))
            if args.workers:
                dk = _child("dask", folder, args)
                same = dk["metrics"] == local["metrics"]
                print(
                    _line(
                        f"dask LocalCluster {args.workers} workers (start {dk['startup']:.1f} s, "
                        f"warm-up on one file {dk['warm_up']:.1f} s; "
                        f"report {'==' if same else '!='} local)",
                        dk,
                        scan,
                        local,
                    )
                )
                per_row = dk["seconds"] * args.workers / dk["rows"]  # worker-seconds per row
                print(
                    f"| extrapolated 1e9 rows, 32 workers | 1,000,000,000 | {per_row * 1e9 / 32:.0f} | | | | |"
                )
            if args.bootstrap and rows == args.rows[0]:
                nf = max(1, args.bootstrap_rows // args.rows_per_file)
                boot = _child("poisson", folder, args, nf)
                print(
                    _line(
                        f"local + Poisson bootstrap {args.bootstrap} (first {nf} files)",
                        boot,
                        scan,
                        None,
                    )
                )
                if args.workers:
                    dboot = _child("dask-poisson", folder, args, nf)
                    same = dboot["intervals"] == boot["intervals"]
                    name = f"dask {args.workers} workers + Poisson bootstrap {args.bootstrap} "
                    name += f"(intervals {'==' if same else '!='} local)"
                    print(_line(name, dboot, scan, boot))
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
