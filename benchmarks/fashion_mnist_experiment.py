"""Fashion-MNIST coarse-to-fine experiment (Grafit, Touvron et al. ICCV 2021), CPU-sized.

Arms, all trained with the same budget (configs/fashion_mnist_{ce_coarse,grafit,ce_fine}.yaml):

  (a) ce_coarse  cross-entropy on the 5 coarse groups (tops, bottoms, dresses, footwear, bags)
  (b) grafit     instance + kNN losses on the 5 coarse groups
  (c) ce_fine    cross-entropy on the 10 fine classes (ceiling: sees the fine labels)

Every run is read out at the *fine* level the same way: ``taxovit predict --knn 20`` (DINO
weighted vote over the training images' CLS embeddings, on the 10 fine labels) on the full
10k test set, then ``taxovit evaluate --format json`` on the written CSV.

    python benchmarks/fashion_mnist_experiment.py                  # 3 arms x 3 seeds
    python benchmarks/fashion_mnist_experiment.py --seeds 0 --arms grafit --epochs 2

Writes benchmarks/.cache/fashion_mnist/<arm>-s<seed>/ (checkpoint, log, preds.csv, eval.json)
and prints a Markdown table (also saved as benchmarks/.cache/fashion_mnist/table.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = {
    "ce_coarse": "(a) CE on coarse groups",
    "grafit": "(b) Grafit (instance + kNN) on coarse groups",
    "ce_fine": "(c) CE on fine classes (ceiling)",
}
KEYS = ("accuracy", "hierarchical_f1_micro", "mistake_severity")


def evaluate_json(preds: Path, taxonomy: str) -> dict:
    cmd = [sys.executable, "-m", "taxovit.cli", "evaluate", str(preds), "--taxonomy", taxonomy,
           "--format", "json"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout[res.stdout.index("{") :])


def run_one(arm: str, seed: int, args: argparse.Namespace, cache: Path) -> dict:
    from taxovit.training.config import load_config
    from taxovit.training.loop import train
    from taxovit.training.predict import predict

    cfg = load_config(REPO / "configs" / f"fashion_mnist_{arm}.yaml")
    cfg["seed"] = seed
    cfg["log"]["progress"] = False
    if args.data_root:
        cfg["data"]["root"] = args.data_root
    if args.train_per_class is not None:
        cfg["data"]["train_per_class"] = args.train_per_class
    if args.epochs is not None:
        cfg["optim"]["epochs"] = args.epochs
    out = cache / f"{arm}-s{seed}"
    ckpt = out / "checkpoint.pt"
    done = out / "train_seconds.json"
    if args.reuse and ckpt.is_file() and done.is_file():
        import torch

        ck = torch.load(ckpt, map_location="cpu", weights_only=True)
        same = {**ck["config"], "out": None} == {**cfg, "out": None}
        if not same or ck["epoch"] != cfg["optim"]["epochs"]:
            raise SystemExit(f"--reuse: {out} holds a run with another config; delete it")
        res, train_s = {"checkpoint": str(ckpt)}, json.loads(done.read_text())["train_s"]
    else:
        t0 = time.perf_counter()
        res = train(cfg, out=out)
        train_s = time.perf_counter() - t0
        done.write_text(json.dumps({"train_s": train_s}))
    preds = out / "preds.csv"
    t1 = time.perf_counter()
    predict(res["checkpoint"], preds, split="test", knn=args.knn)
    predict_s = time.perf_counter() - t1
    report = evaluate_json(preds, cfg["taxonomy"])
    (out / "eval.json").write_text(json.dumps(report, indent=1))
    m = report["metrics"]
    row = {"arm": arm, "seed": seed, **{k: m[k] for k in KEYS}}
    row["group_accuracy"] = report.get("per_rank", {}).get("group", {}).get("accuracy")
    row["train_s"], row["predict_s"] = train_s, predict_s
    if arm == "ce_fine":  # the ceiling also has a classifier head on the fine classes
        row["head_top1"] = predict(res["checkpoint"], out / "preds_head.csv")["accuracy"]
    row["config"] = {"train_per_class": cfg["data"]["train_per_class"],
                     "epochs": cfg["optim"]["epochs"], "preset": cfg["model"]["preset"],
                     "patch_size": cfg["model"]["patch_size"]}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| arm | fine kNN top-1 | hierarchical F1 (micro) | mistake severity | group acc. "
        "| train s/run |",
        "|---|---|---|---|---|---|",
    ]

    def ms(vals: list[float], fmt: str = "{:.4f}") -> str:
        if len(vals) == 1:
            return fmt.format(vals[0])
        return f"{fmt.format(statistics.mean(vals))} ± {fmt.format(statistics.stdev(vals))}"

    for arm, title in ARMS.items():
        rs = [r for r in rows if r["arm"] == arm]
        if not rs:
            continue
        cells = [ms([r[k] for r in rs]) for k in KEYS]
        cells.append(ms([r["group_accuracy"] for r in rs]))
        cells.append(ms([r["train_s"] for r in rs], "{:.0f}"))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    head = [r["head_top1"] for r in rows if "head_top1" in r]
    if head:
        lines.append("")
        lines.append(
            f"(c) read out with its own fine classifier head instead of kNN: top-1 {ms(head)}"
        )
    seeds = sorted({r["seed"] for r in rows})
    lines.append("")
    lines.append(f"mean ± std over seeds {seeds}; per-seed fine kNN top-1:")
    for arm in ARMS:
        rs = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["seed"])
        if rs:
            lines.append(f"- {arm}: " + ", ".join(f"s{r['seed']}={r['accuracy']:.4f}" for r in rs))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="override optim.epochs")
    ap.add_argument("--train-per-class", type=int, default=None)
    ap.add_argument("--knn", type=int, default=20)
    ap.add_argument("--data-root", default=None, help="Fashion-MNIST idx folder")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="reuse finished runs in the cache (same config); only predict again",
    )
    ap.add_argument("--cache", default=str(REPO / "benchmarks" / ".cache" / "fashion_mnist"))
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:  # seeds outermost: a partial run still covers every arm
        for arm in args.arms:
            rows.append(run_one(arm, seed, args, cache))
            (cache / "rows.json").write_text(json.dumps(rows, indent=1))
    md = table(rows)
    (cache / "table.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
