"""Write examples/birds_preds.csv: simulated predictions of a bird classifier on CUB-200 classes.

The simulation is hierarchy-aware, as real models are: a sample's logits favour its own class,
then its genus and family mates, so most mistakes stay close in the tree. When the top score
is low the classifier abstains to the LCA of its two best classes (a coarse prediction).
Seeded; rerun with `python scripts/make_example_preds.py` to regenerate the file byte for byte.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from taxovit import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]


def main(per_class: int = 2, seed: int = 2026) -> None:
    tax = load_taxonomy(ROOT / "taxonomies" / "birds.json")
    ix = tax.index
    classes = sorted(tax.leaves, key=lambda n: tax.attributes(n).get("label_index", 0))
    ids = tax.ids(classes)
    rng = np.random.default_rng(seed)
    c = len(classes)
    # similarity = depth of the LCA between classes (0 root .. 4 same species)
    sim = ix.pair_stats(np.repeat(ids, c), np.tile(ids, c)).lca_depth.reshape(c, c)
    rows = []
    for i in range(c):
        for j in range(per_class):
            skill = rng.uniform(0.0, 4.0)  # some samples are hard
            logits = 0.9 * sim[i] + rng.normal(0, 1.0, c)
            logits[i] += skill
            p = np.exp(logits - logits.max())
            p /= p.sum()
            order = np.argsort(-p)
            pred = ids[order[0]]
            if p[order[0]] < 0.15:  # unsure: predict the LCA of the two best classes
                pred = ix.lca(np.array([ids[order[0]]]), np.array([ids[order[1]]]))[0]
            rows.append((f"cub_{i:03d}_{j}", classes[i], tax.nodes[pred], p))
    out = ROOT / "examples" / "birds_preds.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "y_true", "y_pred", *(f"score_{n}" for n in classes)])
        for rid, t, p_, s in rows:
            w.writerow([rid, t, p_, *(f"{x:.4f}".rstrip("0").rstrip(".") for x in s)])
    print(f"wrote {out} ({len(rows)} rows, {c} score columns)")


if __name__ == "__main__":
    main()
