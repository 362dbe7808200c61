"""`taxovit evaluate` on the compact and the wide formats, against the bare read of the same
file, each measured as a process in the same run (best wall time of --repeat runs):

    python benchmarks/bench_formats.py                 # both sections
    python benchmarks/bench_formats.py --only long --n 200000   # quicker

(1) 1 M ids x top-10 **long Parquet** (id, label, score, y_true; labels dictionary-encoded,
as `taxovit.predictions.writers.long_parquet` writes them) against a 10k-leaf taxonomy
(nested JSON): `taxovit evaluate --format json` vs `python -c "pyarrow.parquet.read_table"`;
peak memory (max RSS) of the evaluate process. Target: ratio <= 2, RSS < 2 GB. Floor and taxovit runs alternate; each is
timed inside a small wrapper process (see run_rss).
(2) the **200k-row wide CSV** (id,y_true,y_pred; as bench_evaluate.py's CLI section builds
it) against the same taxonomy: `taxovit evaluate` vs `python -c "pandas.read_csv"`.
Target: ratio <= 2. Ratio = taxovit / floor (lower is better).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, synthetic_predictions, synthetic_tree  # noqa: E402

from taxovit import Taxonomy, save_taxonomy  # noqa: E402

_WRAP = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "r = subprocess.run(sys.argv[1:]); t = time.perf_counter() - t; "
    "print(t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)


def run_rss(cmd: list[str], src: str | None = None) -> tuple[float, float, str]:
    """(wall seconds, max RSS in MB, stdout) of one process. A small wrapper process starts
    it and times it: on Linux a child's max RSS counts its parent's RSS at fork time, and this
    script holds the benchmark data. ``src``: run the taxovit found there (PYTHONPATH)."""
    env = None if src is None else {**os.environ, "PYTHONPATH": src}
    p = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr.decode()[-2000:]}")
    wall, rss = p.stderr.decode().split()[-2:]
    return float(wall), int(rss) / 1024, p.stdout.decode()


def best(
    cmds: list[tuple[list[str], str | None]], repeat: int
) -> list[tuple[float, float, str, list[float]]]:
    """Each ``(command, src)`` ``repeat`` times, interleaved (the load drifts): best wall
    time, largest max RSS, the last stdout and every round's wall time of each."""
    runs: list[list[tuple[float, float, str]]] = [[] for _ in cmds]
    for _ in range(repeat):
        for i, (cmd, src) in enumerate(cmds):
            runs[i].append(run_rss(cmd, src))
    return [
        (min(r[0] for r in rs), max(r[1] for r in rs), rs[-1][2], [r[0] for r in rs]) for rs in runs
    ]


def long_parquet(tax: Taxonomy, n: int, k: int, path: Path) -> None:
    """n ids x k candidates: the truth among them 60 % of the time, best first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t, p = synthetic_predictions(tax, n)
    ix = tax.index
    leaves = np.flatnonzero(np.diff(ix.child_ptr) == 0)
    rng = np.random.default_rng(2)
    cand = leaves[rng.integers(0, leaves.size, size=(n, k))]
    cand[:, 0] = p
    hit = rng.random(n) < 0.6
    cand[hit, 0] = t[hit]
    for j in range(1, k):  # distinct candidates per id: redraw clashes with the ones before
        while (clash := (cand[:, j : j + 1] == cand[:, :j]).any(axis=1)).any():
            cand[clash, j] = leaves[rng.integers(0, leaves.size, clash.sum())]
    scores = np.sort(rng.random((n, k)), axis=1)[:, ::-1].astype(np.float32)
    names = pa.array(np.array(tax.nodes, dtype=object), pa.string())
    label = pa.DictionaryArray.from_arrays(pa.array(cand.ravel().astype(np.int32)), names)
    truth = pa.DictionaryArray.from_arrays(pa.array(np.repeat(t, k).astype(np.int32)), names)
    ids = np.char.add("img", np.arange(n).astype(str)).astype(object)
    table = pa.table(
        {
            "id": pa.array(np.repeat(ids, k), pa.string()),
            "label": label,
            "score": scores.ravel(),
            "y_true": truth,
        }
    )
    pq.write_table(table, path)


def section(
    title: str,
    cmd: list[str],
    floor: list[str],
    repeat: int,
    target_rss: float | None,
    n: int,
    baseline: str | None = None,
) -> None:
    """Floor, taxovit (and the taxovit under ``baseline``, same command) alternately."""
    cmds = [(floor, None), (cmd, None)] + ([(cmd, baseline)] if baseline else [])
    (fw, frss, _, f_all), *runs = best(cmds, repeat)
    print(f"\n{title} (load average {os.getloadavg()[0]:.1f})")
    print(f"  floor  {' '.join(floor[2:])[:70]:<70} {fw:7.2f} s  {frss:7.0f} MB")
    for (tw, trss, out, t_all), who in zip(runs, ["", f" [baseline: {baseline}]"], strict=False):
        assert json.loads(out)["metrics"]["n_samples"] == n
        print(f"  {'taxovit evaluate --format json' + who:<77} {tw:7.2f} s  {trss:7.0f} MB")
        rss_note = f", max RSS {trss:,.0f} MB (target < {target_rss:,.0f})" if target_rss else ""
        per_round = statistics.median(t / f for t, f in zip(t_all, f_all, strict=True))
        print(
            f"  ratio {tw / fw:.2f}x the floor, best against best (median of the per-round "
            f"ratios {per_round:.2f}x; target <= 2){rss_note}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1_000_000, help="ids of the long Parquet file")
    ap.add_argument("--k", type=int, default=10, help="candidates per id")
    ap.add_argument("--csv-rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", choices=["long", "csv"], default=None)
    ap.add_argument(
        "--baseline-src",
        default=None,
        help="also time the taxovit whose src/ "
        "folder this is (e.g. an older commit's `git archive`), in the same rounds",
    )
    args = ap.parse_args()
    print(f"bench_formats · {time.strftime('%Y-%m-%d')} · {machine()}")
    tree = synthetic_tree()
    exe = [sys.executable, "-m", "taxovit.cli"]
    with tempfile.TemporaryDirectory() as d:
        tax_path = Path(d) / "tax.json"
        save_taxonomy(tree, tax_path)
        if args.only in (None, "long"):
            pq_path = Path(d) / "long.parquet"
            long_parquet(tree, args.n, args.k, pq_path)
            mb = pq_path.stat().st_size / 1e6
            section(
                f"(1) long Parquet: {args.n:,} ids x top-{args.k} ({mb:.0f} MB), "
                f"{len(tree.nodes):,}-node taxonomy",
                [*exe, "evaluate", str(pq_path), "-t", str(tax_path), "-f", "json"],
                [
                    sys.executable,
                    "-c",
                    f"import pyarrow.parquet as pq; pq.read_table({str(pq_path)!r})",
                ],
                args.repeat,
                2048,
                args.n,
                args.baseline_src,
            )
        if args.only in (None, "csv"):
            import pandas as pd

            n = args.csv_rows
            t, p = synthetic_predictions(tree, n, seed=1)
            names = np.array(tree.nodes, dtype=object)
            csv_path = Path(d) / "preds.csv"
            pd.DataFrame({"id": np.arange(n), "y_true": names[t], "y_pred": names[p]}).to_csv(
                csv_path, index=False
            )
            mb = csv_path.stat().st_size / 1e6
            section(
                f"(2) wide CSV: {n:,} rows ({mb:.0f} MB), {len(tree.nodes):,}-node taxonomy",
                [*exe, "evaluate", str(csv_path), "-t", str(tax_path), "-f", "json"],
                [sys.executable, "-c", f"import pandas as pd; pd.read_csv({str(csv_path)!r})"],
                args.repeat,
                None,
                n,
                args.baseline_src,
            )


if __name__ == "__main__":
    main()
