"""Evaluation speed against the peers, measured in the same run.

    python benchmarks/bench_evaluate.py              # all sections
    python benchmarks/bench_evaluate.py --no-inat --map-rows 20000   # quicker

Sections: (1) 1 M predictions on a 10k-leaf 7-level tree: the full report without scores, and
its parts against scikit-learn (flat), hiclass (hierarchical P/R/F) and networkx (LCA);
(2) the same on the iNaturalist taxonomy; (3) accuracy + P/R/F1 on 1 M integer labels of
1,000 classes, dense ids and sparse ids below 20,000, against scikit-learn (`--only flat`);
(4) mAP and top-k on 100k samples × 1000 score columns against scikit-learn; (5) `taxovit
evaluate` end to end on a 1 M-row CSV.
Peers that would take minutes run on a subsample and are scaled linearly (noted).
Ratio = peer time / taxovit time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, row, synthetic_predictions, synthetic_tree, timed  # noqa: E402

from taxovit import Taxonomy, evaluate, load_taxonomy, save_taxonomy  # noqa: E402
from taxovit.metrics import (  # noqa: E402
    accuracy,
    average_precision,
    hierarchical_precision_recall_f1,
    lca_height,
    precision_recall_f1,
    top_k_accuracy,
)

try:  # the average-precision kernels; absent in a tree from before them (a "before" run)
    from taxovit.metrics import _ap
except ImportError:
    _ap = None

AVERAGES = ("micro", "macro", "weighted")


def label_paths(tax: Taxonomy) -> np.ndarray:
    """hiclass input: for each node, its names from depth 1 down to itself, padded with ''."""
    ix = tax.index
    width = ix.max_depth
    out = np.full((ix.n, width), "", dtype=object)
    for node in range(ix.n):
        x, d = node, ix.depth[node]
        while d >= 1:
            out[node, d - 1] = tax.nodes[x]
            x, d = ix.parent[x], d - 1
    return out


def section_report(tax: Taxonomy, label: str, n: int, sub: int, peers: bool) -> None:
    t, p = synthetic_predictions(tax, n)
    print(f"\n{label}: {len(tax.nodes):,} nodes, {n:,} predictions")
    print(f"{'':<44} {'taxovit':>11}  {'peer':>11}  {'ratio':>9}")
    w, c, rep = timed(lambda: evaluate(t, p, tax), repeat=2)
    print(row("full report, no scores (every metric + ranks)", w, None, "—", f"cpu {c:.2f} s"))
    if not peers:
        return
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    def ours_flat():
        accuracy(t, p)
        for avg in ("micro", "macro", "weighted"):
            precision_recall_f1(t, p, avg)

    def sk_flat():
        accuracy_score(t, p)
        for avg in ("micro", "macro", "weighted"):
            precision_recall_fscore_support(t, p, average=avg, zero_division=0)

    wo, _, _ = timed(ours_flat, repeat=2)
    ws, _, _ = timed(sk_flat)
    print(row("accuracy + P/R/F1 micro, macro, weighted", wo, ws, "scikit-learn"))

    wh, _, ours_h = timed(lambda: hierarchical_precision_recall_f1(t, p, tax, "micro"), repeat=2)
    try:
        import hiclass.metrics as hm

        paths = label_paths(tax)
        yt, yp = paths[t[:sub]], paths[p[:sub]]
        t0 = time.perf_counter()
        theirs = (hm.precision(yt, yp), hm.recall(yt, yp), hm.f1(yt, yp))
        peer = (time.perf_counter() - t0) * n / sub
        mine_sub = hierarchical_precision_recall_f1(t[:sub], p[:sub], tax, "micro")
        assert np.allclose(theirs, mine_sub), (theirs, mine_sub)
        print(
            row("hierarchical P/R/F1 (micro)", wh, peer, f"hiclass, {sub:,} scaled; values agree")
        )
    except ImportError:
        print(row("hierarchical P/R/F1 (micro)", wh, None, "hiclass not installed"))

    wl, _, _ = timed(lambda: lca_height(t, p, tax), repeat=2)
    k = min(sub, 100_000)
    names = tax.nodes
    pairs = [(names[x], names[y]) for x, y in zip(t[:k], p[:k], strict=True)]
    t0 = time.perf_counter()
    dict(nx.tree_all_pairs_lowest_common_ancestor(tax.graph, root=tax.root, pairs=pairs))
    peer = (time.perf_counter() - t0) * n / k
    print(row("LCA height per sample", wl, peer, f"networkx Tarjan LCA alone, {k:,} scaled"))


def flat_labels(n: int, c: int, id_range: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` integer labels of ``c`` classes whose ids are drawn below ``id_range`` (dense ids
    0..c-1 when ``id_range == c``): 60 % right, the rest any class."""
    rng = np.random.default_rng(seed)
    ids = np.arange(c) if id_range == c else np.sort(rng.choice(id_range, c, replace=False))
    t = ids[rng.integers(0, c, n)]
    p = np.where(rng.random(n) < 0.6, t, ids[rng.integers(0, c, n)])
    return t, p


def _flat(values: list) -> np.ndarray:
    """[accuracy, (p, r, f), ...] as one float array."""
    return np.array([values[0], *(v for prf in values[1:] for v in prf)], dtype=np.float64)


def section_flat(n: int, c: int = 1000, sparse_range: int = 20_000) -> None:
    """accuracy + P/R/F1 micro/macro/weighted on integer labels against scikit-learn, with
    equal values, for dense ids 0..c-1 and for c sparse ids below ``sparse_range``."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    print(f"\nflat label metrics: {n:,} integer labels, {c:,} classes")
    print(f"{'':<44} {'taxovit':>11}  {'peer':>11}  {'ratio':>9}")
    for name, id_range in (("dense ids", c), (f"sparse ids < {sparse_range:,}", sparse_range)):
        t, p = flat_labels(n, c, id_range)

        def ours(t=t, p=p):
            return [accuracy(t, p)] + [precision_recall_f1(t, p, a) for a in AVERAGES]

        def sk(t=t, p=p):
            return [accuracy_score(t, p)] + [
                precision_recall_fscore_support(t, p, average=a, zero_division=0)[:3]
                for a in AVERAGES
            ]

        wo, _, mine = timed(ours, repeat=3)
        ws, _, theirs = timed(sk)
        assert np.allclose(_flat(mine), _flat(theirs), rtol=0, atol=1e-12), (mine, theirs)
        print(row(f"accuracy + P/R/F1, {name}", wo, ws, "scikit-learn; equal"))


def section_map(n: int, c: int, seed: int = 0) -> None:
    from sklearn.metrics import average_precision_score, top_k_accuracy_score

    rng = np.random.default_rng(seed)
    true_col = rng.integers(0, c, n)
    scores = rng.random((n, c)).astype(np.float64)
    scores[np.arange(n), true_col] += rng.random(n)  # some signal
    scores = np.round(scores, 3)  # ties, as real exported scores have
    print(f"\nscores: {n:,} samples × {c:,} columns")
    print(f"{'':<44} {'taxovit':>11}  {'peer':>11}  {'ratio':>9}")
    y = np.zeros((n, c), dtype=np.int8)
    y[np.arange(n), true_col] = 1
    kernel = _ap.kernel() if _ap else "numpy"  # _ap: None in a tree from before the kernels
    t0 = time.perf_counter()
    average_precision(true_col[:64], scores[:64], "macro")  # numba: load (or compile) once
    warm = time.perf_counter() - t0
    wo, co, mine = timed(lambda: average_precision(true_col, scores, "macro"), repeat=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws, _, theirs = timed(lambda: average_precision_score(y, scores, average="macro"))
    assert abs(mine - theirs) < 1e-9, (mine, theirs)
    print(
        row(
            f"mAP (macro), {kernel} kernel",
            wo,
            ws,
            "scikit-learn average_precision_score; equal",
            f"cpu {co:.2f} s; first call {warm:.2f} s",
        )
    )
    if _ap and kernel != "numpy":
        _ap.KERNEL = "numpy"
        wn, _, other = timed(lambda: average_precision(true_col, scores, "macro"))
        _ap.KERNEL = None
        assert abs(other - theirs) < 1e-9, (other, theirs)
        print(row("mAP (macro), numpy kernel", wn, ws, "scikit-learn, same run; equal"))
    wo, _, mine = timed(lambda: top_k_accuracy(true_col, scores, 5))
    ws, _, theirs = timed(lambda: top_k_accuracy_score(true_col, scores, k=5, labels=np.arange(c)))
    assert abs(mine - theirs) < 1e-12
    print(row("top-5 accuracy", wo, ws, "scikit-learn top_k_accuracy_score; equal"))


def section_cli(tax: Taxonomy, n: int) -> None:
    t, p = synthetic_predictions(tax, n, seed=1)
    with tempfile.TemporaryDirectory() as d:
        tax_path, csv_path = Path(d) / "tax.json", Path(d) / "preds.csv"
        save_taxonomy(tax, tax_path)
        names = np.array(tax.nodes, dtype=object)
        import pandas as pd

        pd.DataFrame({"id": np.arange(n), "y_true": names[t], "y_pred": names[p]}).to_csv(
            csv_path, index=False
        )
        size = csv_path.stat().st_size / 1e6
        cmd = [
            "taxovit",
            "evaluate",
            str(csv_path),
            "--taxonomy",
            str(tax_path),
            "--format",
            "json",
        ]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        m = json.loads(out.stdout)["metrics"]
        assert m["n_samples"] == n
    print(f"\nCLI end to end: {n:,}-row CSV ({size:.0f} MB), {len(tax.nodes):,}-node taxonomy")
    print(row("taxovit evaluate --format json (process)", wall, None, "—", "target < 10 s"))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1_000_000, help="predictions per report")
    ap.add_argument("--peer-subsample", type=int, default=100_000)
    ap.add_argument("--map-rows", type=int, default=100_000)
    ap.add_argument("--map-cols", type=int, default=1000)
    ap.add_argument("--no-inat", action="store_true")
    ap.add_argument("--only", choices=["report", "flat", "map", "cli", "inat"], default=None)
    args = ap.parse_args()
    print(f"bench_evaluate · {time.strftime('%Y-%m-%d')} · {machine()}")
    tree = synthetic_tree()
    if args.only in (None, "report"):
        section_report(tree, "10k-leaf 7-level tree", args.n, args.peer_subsample, peers=True)
    if args.only in (None, "inat") and not args.no_inat:
        from inat_taxonomy import load_inat_edges

        inat = load_taxonomy(load_inat_edges(infraspecific=True))
        section_report(inat, "iNaturalist taxonomy", args.n, args.peer_subsample, peers=False)
    if args.only in (None, "flat"):
        section_flat(args.n)
    if args.only in (None, "map"):
        section_map(args.map_rows, args.map_cols)
    if args.only in (None, "cli"):
        section_cli(tree, args.n)


if __name__ == "__main__":
    main()
