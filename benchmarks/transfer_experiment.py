"""Transfer on Fashion-MNIST, CPU-sized: pretrain on three groups, adapt to the other two.

A small ViT (the issue-10 recipe: ``vit_micro``, conv stem, patch 4) is pretrained with
cross-entropy on the classes of the ``source`` groups (footwear, bags, bottoms: 5 classes,
all 30,000 training images), then adapted to the classes of the ``target`` groups (tops,
dresses: T-shirt/top, Pullover, Coat, Shirt, Dress, the fine-grained half of the data) with
20, 100 and 500 training images per class, and tested on all 5,000 target test images.

Arms, per training-set size, all from the same pretrained file except ``scratch``:

  scratch     cross-entropy, random initialisation (same budget)
  full        full fine-tuning (method ce, ``model.pretrained``)
  full_llrd   the same with layer-wise LR decay (``optim.layer_decay``)
  lora        LoRA on qkv + proj (``method: lora``), backbone frozen
  vpt         deep visual prompts (``method: vpt``), backbone frozen
  linear      linear probe (``method: linear``)
  knn         kNN read-out of the frozen backbone (``method: knn``, no training)

Baselines first, on the same images (``fashion_mnist_experiment.baselines``): cosine kNN on
centred pixels, logistic regression on pixels, kNN read-out of an untrained network.

DeiT distillation: a teacher fully fine-tuned on all 30,000 target training images, then a
smaller student (``vit_nano``, random initialisation) trained on 500 images per class with
``method: deit`` (hard distillation from the teacher) and the same student with plain CE.

Every arm sees the same number of training images (``--images``, i.e. epochs = images / N).

    python benchmarks/transfer_experiment.py                      # everything, seed 0
    python benchmarks/transfer_experiment.py --sizes 20 --arms full lora

Writes benchmarks/.cache/transfer/ (npz splits, runs, rows.json, table.md) and prints the
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fashion_mnist_experiment as fme  # noqa: E402

REPO = fme.REPO
SOURCE_GROUPS = ("footwear", "bags", "bottoms")
TARGET_GROUPS = ("tops", "dresses")
SIZES = (20, 100, 500)
ARMS = {
    "scratch": ({"method": "ce"}, False),
    "full": ({"method": "ce"}, True),
    "full_llrd": ({"method": "ce", "optim": {"layer_decay": 0.75}}, True),
    "lora": ({"method": "lora", "lora": {"rank": 4, "alpha": 8.0}, "optim": {"lr": 0.005}}, True),
    "vpt": ({"method": "vpt", "vpt": {"tokens": 4, "depth": "deep"}, "optim": {"lr": 0.005}}, True),
    "linear": ({"method": "linear", "optim": {"lr": 0.01}}, True),
    "knn": ({"method": "knn"}, True),
}


# ------------------------------------------------------------------------------ data
def write_splits(cache: Path, root: str) -> dict[str, Path]:
    """``.npz`` files (``data.format: npy``) of the source and target splits."""
    from taxovit.taxonomy import load_taxonomy
    from taxovit.training.data.splits import fashion_mnist_fine_names, load_fashion_mnist

    tax = load_taxonomy(REPO / "taxonomies" / "fashion_mnist.json")
    names = np.asarray(fashion_mnist_fine_names(tax))
    group = np.asarray(tax.names(tax.index.ancestor_at_rank(tax.ids(list(names)), "group")))
    files: dict[str, Path] = {}
    for split in ("train", "test"):
        images, labels = load_fashion_mnist(root, split)
        for side, groups in (("source", SOURCE_GROUPS), ("target", TARGET_GROUPS)):
            keep = np.isin(group[labels], groups)
            path = files[f"{side}_{split}"] = cache / f"{side}_{split}.npz"
            if not path.is_file():
                np.savez(path, images=images[keep], labels=names[labels[keep]])
    return files


# ------------------------------------------------------------------------------ runs
def base_config(seed: int, threads: int | None) -> dict:
    from taxovit.training.run.config import load_config

    cfg = load_config(REPO / "configs" / "fashion_mnist_ce_fine.yaml").to_dict()
    cfg.update(seed=seed, threads=threads, train_rank="class")
    cfg["log"]["progress"] = False
    cfg["eval"]["every"] = 0
    cfg["optim"].update(batch_size=64, warmup_epochs=0.0)
    return cfg


def _merge(cfg: dict, over: dict) -> dict:
    for key, value in over.items():
        if isinstance(value, dict):
            cfg[key] = {**cfg.get(key, {}), **value}
        else:
            cfg[key] = value
    return cfg


def run_config(
    cfg: dict,
    train: Path,
    test: Path,
    per_class: int | None,
    images: int,
    epochs: int | None = None,
) -> dict:
    """``cfg`` on the npz splits, for ``epochs`` or (None) enough epochs to see about
    ``images`` images."""
    n = per_class * len_classes(train) if per_class else int(np.load(train)["labels"].shape[0])
    cfg["data"].update(
        format="npy",
        root=None,
        train=str(train),
        test=str(test),
        train_per_class=per_class,
        test_per_class=None,
    )
    cfg["optim"]["batch_size"] = min(int(cfg["optim"]["batch_size"]), n)
    cfg["optim"]["epochs"] = epochs or max(1, math.ceil(images / n))
    cfg["optim"]["warmup_epochs"] = min(1.0, cfg["optim"]["epochs"] * 0.1)
    return cfg


def len_classes(npz: Path) -> int:
    return len(np.unique(np.load(npz)["labels"]))


def train_and_score(name: str, cfg: dict, out: Path, knn: int | None) -> dict:
    """Train (or reuse a finished run), predict the test split, evaluate; one table row."""
    from taxovit.training.run.config import merge_config
    from taxovit.training.run.loop import train
    from taxovit.training.run.predict import predict

    cfg = merge_config(cfg).to_dict()
    ckpt, done = out / "checkpoint.pt", out / "row.json"
    if done.is_file():
        return json.loads(done.read_text())
    t0 = time.perf_counter()
    train(cfg, out=out, overwrite=True)
    wall = time.perf_counter() - t0
    log = fme.res_log(out) if (out / "log.jsonl").is_file() else []
    pred = predict(ckpt, out / "preds.csv", knn=knn if cfg["method"] == "knn" else None)
    m = fme.evaluate_json(out / "preds.csv", cfg["taxonomy"])["metrics"]
    last = log[-1] if log else {}
    row = {
        "arm": name,
        "train_per_class": cfg["data"]["train_per_class"],
        "accuracy": m["accuracy"],
        "hierarchical_f1_micro": m["hierarchical_f1_micro"],
        "classifier": pred["classifier"],
        "epochs": cfg["optim"]["epochs"],
        "train_s": sum(float(r.get("time_s", 0)) for r in log),
        "wall_s": wall,
        "trainable_params": 0 if cfg["method"] == "knn" else last.get("trainable_params"),
        "peak_mem_mb": last.get("peak_mem_mb"),
        "images_per_s": last.get("images_per_s"),
    }
    done.write_text(json.dumps(row))
    print(json.dumps(row), flush=True)
    return row


def export_backbone(ckpt: Path, dest: Path) -> Path:
    """The backbone of a taxovit run (its EMA weights when kept) as a plain state dict."""
    import torch

    ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    state = ck.get("model_ema") or ck["model"]
    torch.save(
        {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}, dest
    )
    return dest


# ------------------------------------------------------------------------------ the table
def table(rows: list[dict], base: list[dict]) -> str:
    lines = [
        "| arm | imgs/class | top-1 | hier. F1 | trainable params | img/s | peak RSS MB "
        "| train s | epochs | vs baselines |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in base:
        lines.append(
            f"| baseline: {b['arm']} | {b['train_per_class']} | {b['accuracy']:.4f} | "
            f"{b['hierarchical_f1_micro']:.4f} | — | — | — | {b['seconds']:.0f} "
            "(fit+predict) | — | |"
        )
    for r in rows:
        same = [b for b in base if b["train_per_class"] == r["train_per_class"]]
        lost = [b["arm"] for b in same if b["accuracy"] >= r["accuracy"]]
        verdict = ("LOSES to " + ", ".join(lost) if lost else "beats all") if same else ""
        cells = [
            r["arm"],
            r["train_per_class"] or "all",
            f"{r['accuracy']:.4f}",
            f"{r['hierarchical_f1_micro']:.4f}",
            _num(r.get("trainable_params"), "{:,}"),
            _num(r.get("images_per_s"), "{:.0f}"),
            _num(r.get("peak_mem_mb"), "{:.0f}"),
            f"{r['train_s']:.0f}",
            r["epochs"],
            verdict,
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _num(v, fmt: str) -> str:
    return "—" if v is None or v == 0 else fmt.format(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=20_000, help="training images seen per arm")
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--teacher-epochs", type=int, default=2)
    ap.add_argument("--no-distill", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--knn", type=int, default=20)
    ap.add_argument("--logreg-iter", type=int, default=200)
    ap.add_argument("--data-root", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--cache", default=str(REPO / "benchmarks" / ".cache" / "transfer"))
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    f = write_splits(cache, args.data_root)
    rows, base = run_all(args, cache, f)
    md = table(rows, base)
    (cache / "table.md").write_text(md + "\n")
    print(md)


def run_all(args: argparse.Namespace, cache: Path, f: dict[str, Path]) -> tuple[list, list]:
    base: list[dict] = []
    for n in args.sizes:  # baselines first, on each training set
        cfg = run_config(
            base_config(args.seed, args.threads),
            f["target_train"],
            f["target_test"],
            n,
            args.images,
        )
        saved = cache / f"baselines-n{n}.json"
        if not saved.is_file():
            saved.write_text(json.dumps(fme.baselines(cfg, args, cache)))
        base += json.loads(saved.read_text())
    pre = run_config(
        base_config(args.seed, args.threads),
        f["source_train"],
        f["source_test"],
        None,
        0,
        epochs=args.pretrain_epochs,
    )
    rows = [train_and_score("pretrain (source classes)", pre, cache / "pretrain", None)]
    weights = export_backbone(cache / "pretrain" / "checkpoint.pt", cache / "pretrained.pt")
    for n in args.sizes:
        for arm in args.arms:
            over, pretrained = ARMS[arm]
            cfg = _merge(base_config(args.seed, args.threads), json.loads(json.dumps(over)))
            cfg["model"]["pretrained"] = str(weights) if pretrained else None
            cfg = run_config(cfg, f["target_train"], f["target_test"], n, args.images)
            rows.append(train_and_score(arm, cfg, cache / f"{arm}-n{n}", args.knn))
            (cache / "rows.json").write_text(json.dumps(rows, indent=1))
    if not args.no_distill:
        rows += distillation(args, cache, f, weights)
    (cache / "rows.json").write_text(json.dumps(rows, indent=1))
    return rows, base


def distillation(args: argparse.Namespace, cache: Path, f: dict[str, Path], weights: Path) -> list:
    """Teacher: full fine-tuning on all target images; student vit_nano with / without it."""
    cfg = base_config(args.seed, args.threads)
    cfg["model"]["pretrained"] = str(weights)
    cfg = run_config(cfg, f["target_train"], f["target_test"], None, 0, epochs=args.teacher_epochs)
    rows = [train_and_score("teacher (full fine-tuning, all images)", cfg, cache / "teacher", None)]
    for name, over in (
        ("student vit_nano, CE", {"method": "ce"}),
        (
            "student vit_nano, DeiT hard distillation",
            {
                "method": "deit",
                "distill": {"teacher": str(cache / "teacher" / "checkpoint.pt"), "kind": "hard"},
            },
        ),
    ):
        cfg = _merge(base_config(args.seed, args.threads), json.loads(json.dumps(over)))
        cfg["model"]["preset"] = "vit_nano"
        cfg = run_config(cfg, f["target_train"], f["target_test"], 500, args.images)
        rows.append(
            train_and_score(name, cfg, cache / name.split(",")[1].strip().replace(" ", "_"), None)
        )
    return rows


if __name__ == "__main__":
    main()
