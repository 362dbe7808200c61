"""``evaluate(subset=...)`` against the plain evaluation of the same scores.

A synthetic tree (families > genera > species), random probabilities over every species,
and a subset of half of the families (half of the species): the subset's cost is the column cut and
renormalisation plus an evaluation over fewer samples and columns. Prints seconds and the
ratio subset / plain, measured in the same run.

    python benchmarks/bench_subset.py --classes 10000 --samples 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from taxovit import Taxonomy, evaluate
from taxovit.evaluation.subset import Subset, restrict, subtree_mask


def tree(n_species: int) -> Taxonomy:
    n_gen, n_fam = max(n_species // 10, 1), max(n_species // 100, 1)
    edges = [("root", f"f{i}") for i in range(n_fam)]
    edges += [(f"f{g % n_fam}", f"g{g}") for g in range(n_gen)]
    edges += [(f"g{s % n_gen}", f"s{s}") for s in range(n_species)]
    ranks = {f"f{i}": "family" for i in range(n_fam)} | {f"g{i}": "genus" for i in range(n_gen)}
    ranks |= {f"s{i}": "species" for i in range(n_species)}
    return Taxonomy.from_edges(edges, ranks=ranks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=20_000)
    args = ap.parse_args()
    tax = tree(args.classes)
    rng = np.random.default_rng(0)
    labels = np.array([f"s{i}" for i in range(args.classes)])
    scores = rng.random((args.samples, args.classes))
    t = labels[rng.integers(0, args.classes, args.samples)]
    p = labels[scores.argmax(axis=1)]
    half = tax.ids([f"f{i}" for i in range(max(args.classes // 200, 1))])
    sub = Subset("half of the families", subtree_mask(tax, half), half.size)
    start = time.perf_counter()
    cut = restrict(tax, sub, t, p, scores, labels, None, None, "probs")
    print(
        f"cut     {time.perf_counter() - start:7.2f} s  (samples kept {cut.y_true.size:,}, "
        f"columns kept {cut.scores.shape[1]:,})"
    )
    times = {}
    for name, kw in (("plain", {}), ("subset", {"subset": sub})):
        start = time.perf_counter()
        r = evaluate(t, p, tax, scores, score_labels=labels, top_k=[1, 5], **kw)
        times[name] = time.perf_counter() - start
        print(f"{name:7s} {times[name]:7.2f} s  n={r.metrics['n_samples']:,}")
    print(f"ratio subset/plain: {times['subset'] / times['plain']:.2f}")


if __name__ == "__main__":
    main()
