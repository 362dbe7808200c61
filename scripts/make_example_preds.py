"""Write examples/birds_preds.csv: simulated predictions of a bird classifier on CUB-200 classes.

The simulation is hierarchy-aware, as real models are: a sample's logits favour its own class,
then its genus and family mates, so most mistakes stay close in the tree. Its probabilities
are temperature-scaled (Guo et al. 2017) on a separate simulated calibration set, as one
calibrates a real model on held-out data, so its confidence tracks its accuracy. When the top
probability is low the classifier abstains to the LCA of its two best classes (a coarse
prediction). Seeded; rerun with `python scripts/make_example_preds.py` to regenerate the file
byte for byte.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from taxovit import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
ABSTAIN_BELOW = 0.4  # top probability under which the classifier predicts an ancestor


def simulate(
    sim: np.ndarray, per_class: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(C * per_class, C)`` and true class indices of the simulated classifier."""
    c = sim.shape[0]
    truth = np.repeat(np.arange(c), per_class)
    skill = rng.uniform(0.0, 3.0, truth.size)  # some samples are hard
    logits = 0.9 * sim[truth] + rng.normal(0, 1.0, (truth.size, c))
    logits[np.arange(truth.size), truth] += skill
    return logits, truth


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood (temperature scaling)."""

    def nll(t: float) -> float:
        return -log_softmax(logits / t, axis=1)[np.arange(truth.size), truth].mean()

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def main(per_class: int = 2, seed: int = 2026) -> None:
    tax = load_taxonomy(ROOT / "taxonomies" / "birds.json")
    ix = tax.index
    classes = sorted(tax.leaves, key=lambda n: tax.attributes(n).get("label_index", 0))
    ids = tax.ids(classes)
    rng = np.random.default_rng(seed)
    c = len(classes)
    # similarity = depth of the LCA between classes (0 root .. 4 same species)
    sim = ix.pair_stats(np.repeat(ids, c), np.tile(ids, c)).lca_depth.reshape(c, c)
    temperature = fit_temperature(*simulate(sim, 5, rng))  # held-out calibration samples
    logits, truth = simulate(sim, per_class, rng)
    p = softmax(logits / temperature, axis=1)
    order = np.argsort(-p, axis=1)
    pred = ids[order[:, 0]]
    unsure = p[np.arange(truth.size), order[:, 0]] < ABSTAIN_BELOW
    pred[unsure] = ix.lca(ids[order[unsure, 0]], ids[order[unsure, 1]])
    out = ROOT / "examples" / "birds_preds.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "y_true", "y_pred", *(f"score_{n}" for n in classes)])
        for k, (t, p_) in enumerate(zip(truth, pred, strict=True)):
            rid = f"cub_{t:03d}_{k % per_class}"
            w.writerow(
                [
                    rid,
                    classes[t],
                    tax.nodes[p_],
                    *(f"{x:.4f}".rstrip("0").rstrip(".") for x in p[k]),
                ]
            )
    print(
        f"wrote {out} ({truth.size} rows, {c} score columns, temperature {temperature:.3f}, "
        f"{int(unsure.sum())} abstentions)"
    )


if __name__ == "__main__":
    main()
