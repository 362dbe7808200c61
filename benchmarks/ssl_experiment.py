"""Self-supervised pretraining on Fashion-MNIST (MAE, MoCo v3, DINO), read out with few labels.

Each method pretrains on the 60,000 training images without labels (configs/ssl_<method>_cpu.yaml,
``--epochs`` each; its log's kNN column, measured every epoch on 5,000 / 2,000 images, is the
learning curve), then its checkpoint is read out, unchanged, by the package's own paths, at
``--labels`` labelled images per class (10 and 100: ``--subsets`` random subsets each; ``all``:
one), on the 10,000-image test set (``--test-per-class``: its first N images per class):

  knn        method knn (cosine kNN, k 20, T 0.07) on the labelled images' CLS embeddings
  linear     method linear (a linear head on the frozen backbone)
  finetune   method ce from model.pretrained, layer-wise LR decay 0.75, ``--ft-steps`` steps

Every table starts with the baselines, recomputed here on the same labelled subsets:

  pixel_knn     cosine kNN on the centred raw pixels (k 20, T 0.07)
  pixel_logreg  logistic regression on the raw pixels (scikit-learn)
  untrained     the kNN read-out of the network with random weights
  scratch       method ce from random weights, the fine-tuning budget (``--ft-steps``)

    python benchmarks/ssl_experiment.py                                  # the full experiment
    python benchmarks/ssl_experiment.py --methods mocov3 --epochs 1 --labels 10 --subsets 1

Results are appended, one JSON row per read-out, to benchmarks/.cache/ssl/rows.jsonl (a rerun
skips the rows already there, so an interrupted run continues) and the Markdown tables are
printed and saved as benchmarks/.cache/ssl/table.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = "/usr/share/datasets/fashion-mnist"
READOUTS = ("knn", "linear", "finetune")
BASELINES = ("pixel_knn", "pixel_logreg", "untrained", "scratch")


def write_arrays(
    cache: Path, labels: list[str], subsets: int, test_per_class: int | None
) -> dict[str, Path]:
    """The labelled subsets (random, per class; seeded by size and subset) and the test set
    as .npz files (data.format npy); ``{tag: path}``, tag ``n10-s0`` ... ``all``."""
    import numpy as np

    from taxovit.training.data.readers import load_fashion_mnist

    cache.mkdir(parents=True, exist_ok=True)
    xtr, ytr = load_fashion_mnist(ROOT, "train")
    xte, yte = load_fashion_mnist(ROOT, "test")
    out = {"test": cache / f"test-{test_per_class or 'all'}.npz"}
    if not out["test"].exists():
        keep = np.sort(
            np.concatenate([np.flatnonzero(yte == c)[:test_per_class] for c in range(10)])
        )
        np.savez(out["test"], images=xte[keep], labels=yte[keep])
    for lab in labels:
        for s in range(1 if lab == "all" else subsets):
            tag = "all" if lab == "all" else f"n{lab}-s{s}"
            path = out[tag] = cache / f"train-{tag}.npz"
            if path.exists():
                continue
            if lab == "all":
                keep = np.arange(len(ytr))
            else:
                rng = np.random.default_rng(1000 * int(lab) + s)
                keep = np.sort(
                    np.concatenate(
                        [
                            rng.choice(np.flatnonzero(ytr == c), int(lab), replace=False)
                            for c in range(10)
                        ]
                    )
                )
            np.savez(path, images=xtr[keep], labels=ytr[keep])
    return out


def readout_config(
    kind: str, ckpt: str | None, train: Path, test: Path, n: int, args: argparse.Namespace
) -> dict:
    """A read-out run's config: ``kind`` knn | linear | finetune | scratch on ``train``."""
    batch = min(64 if kind != "linear" else 256, n)
    steps_per_epoch = n // batch
    steps = args.ft_steps if kind in ("finetune", "scratch") else args.linear_steps
    epochs = max(1, math.ceil(steps / steps_per_epoch)) if kind != "knn" else 1
    cfg = {
        "seed": 0,
        "device": "cpu",
        "taxonomy": str(REPO / "taxonomies/fashion_mnist.json"),
        "train_rank": "class",
        "method": {"finetune": "ce", "scratch": "ce"}.get(kind, kind),
        "data": {
            "format": "npy",
            "train": str(train),
            "test": str(test),
            "img_size": 28,
            "in_chans": 1,
            "loader": "auto",
        },
        "optim": {
            "epochs": epochs,
            "batch_size": batch,
            "lr": 1e-3,
            "min_lr": 1e-5,
            "weight_decay": 0.05,
            "warmup_epochs": min(1.0, epochs * 0.1),
        },
        "augment": {
            "crop_scale": [0.8, 1.0],
            "hflip": 0.5,
            "mean": [0.286],
            "std": [0.353],
            "enabled": kind in ("finetune", "scratch"),
        },
        "eval": {"every": 0},
        "log": {"progress": False},
    }
    if ckpt is None:
        cfg["model"] = {"preset": "vit_micro", "patch_size": 4, "stem": "conv"}
    else:
        cfg["model"] = {"preset": "auto", "pretrained": ckpt}
    if kind == "linear":
        cfg["optim"].update(lr=0.01, weight_decay=0.0)
    if kind == "finetune":
        cfg["optim"]["layer_decay"] = 0.75
    return cfg


def run_readout(
    kind: str,
    ckpt: str | None,
    train: Path,
    test: Path,
    n: int,
    out: Path,
    args: argparse.Namespace,
) -> float:
    from taxovit.training.run.config import merge_config
    from taxovit.training.run.loop import train as train_run
    from taxovit.training.run.predict import predict

    cfg = merge_config(readout_config(kind, ckpt, train, test, n, args))
    res = train_run(cfg, out=out)
    pred = predict(
        res["checkpoint"], out / "preds.csv", knn=20 if kind == "knn" else None, device="cpu"
    )
    return float(pred["accuracy"])


def pixel_baselines(train: Path, test: Path) -> dict[str, float]:
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from taxovit.training.run.neighbors import knn_classify

    tr, te = np.load(train), np.load(test)
    xtr = tr["images"].reshape(len(tr["labels"]), -1).astype(np.float32) / 255
    xte = te["images"].reshape(len(te["labels"]), -1).astype(np.float32) / 255
    mean = xtr.mean(0, keepdims=True)
    q, db = (torch.nn.functional.normalize(torch.from_numpy(a - mean), dim=1) for a in (xte, xtr))
    ytr = torch.from_numpy(tr["labels"].astype(np.int64))
    scores = knn_classify(q, db, ytr, 10, k=20, temperature=0.07).numpy()
    out = {"pixel_knn": float((scores.argmax(1) == te["labels"]).mean())}
    clf = LogisticRegression(max_iter=200).fit(xtr, tr["labels"])
    out["pixel_logreg"] = float((clf.predict(xte) == te["labels"]).mean())
    return out


def pretrain(method: str, epochs: int, cache: Path, per_class: int | None) -> str:
    from taxovit.training.run.config import load_config
    from taxovit.training.run.loop import train

    out = cache / f"pretrain-{method}"
    ck = out / "checkpoint.pt"
    if (out / "curve.json").exists():  # written when the pretraining has finished
        return str(ck)
    cfg = load_config(REPO / f"configs/ssl_{method}_cpu.yaml")
    cfg.optim.epochs, cfg.log.progress = epochs, False
    cfg.data.train_per_class = per_class
    t0 = time.perf_counter()
    res = train(cfg, out=out)
    curve = [
        {
            "epoch": r["epoch"],
            "knn": r.get("knn_top1_fine"),
            "loss": r["loss"],
            "time_s": r["time_s"],
        }
        for r in res["history"]
    ]
    (out / "curve.json").write_text(
        json.dumps({"seconds": time.perf_counter() - t0, "history": res["history"]}, default=str)
    )
    print(json.dumps({"pretrained": method, "curve": curve}, default=str), flush=True)
    return str(ck)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["mae", "mocov3", "dino"])
    ap.add_argument(
        "--epochs",
        nargs="+",
        default=["10"],
        help="pretraining epochs: N (every method) and/or METHOD=N",
    )
    ap.add_argument(
        "--test-per-class",
        type=int,
        default=None,
        help="test images per class (default: all 1,000; fewer: a cheaper run)",
    )
    ap.add_argument(
        "--pretrain-per-class",
        type=int,
        default=None,
        help="pretraining images per class (default: all 6,000; smaller: a smoke test)",
    )
    ap.add_argument("--labels", nargs="+", default=["10", "100", "all"])
    ap.add_argument("--subsets", type=int, default=3, help="random label subsets at 10 / 100")
    ap.add_argument("--readouts", nargs="+", default=list(READOUTS), choices=READOUTS)
    ap.add_argument("--ft-steps", type=int, default=300, help="fine-tuning / scratch steps")
    ap.add_argument("--linear-steps", type=int, default=300)
    ap.add_argument("--cache", type=Path, default=REPO / "benchmarks/.cache/ssl")
    ap.add_argument(
        "--pretrain-only",
        action="store_true",
        help="pretrain, no read-out (a second run on the same cache reads out meanwhile)",
    )
    ap.add_argument(
        "--tables-only",
        action="store_true",
        help="print the tables of the rows already measured (an interrupted run)",
    )
    args = ap.parse_args()
    if args.tables_only:
        print(tables(_rows(args.cache / "rows.jsonl")) + curves(args.cache))
        return
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    files = write_arrays(args.cache, args.labels, args.subsets, args.test_per_class)
    rows_path = args.cache / "rows.jsonl"

    def record(level: str, subset: str, name: str, fn) -> None:
        # the rows read now: another run on the same cache (e.g. read-outs beside a
        # pretraining) may have measured it meanwhile
        if (level, subset, name) in {
            (r["level"], r["subset"], r["name"]) for r in _rows(rows_path)
        }:
            return
        t0 = time.perf_counter()
        acc = fn()
        row = {
            "level": level,
            "subset": subset,
            "name": name,
            "accuracy": acc,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(row), flush=True)
        with rows_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")

    epochs = {
        m: int(e.split("=")[-1])
        for e in args.epochs
        for m in args.methods
        if "=" not in e or e.split("=")[0] == m
    }
    ckpts = {m: pretrain(m, epochs[m], args.cache, args.pretrain_per_class) for m in args.methods}
    if args.pretrain_only:
        return
    # the first subset of every level first, then all labels, then the other subsets: an
    # interrupted run has every level
    tags = sorted(
        (t for t in files if t != "test"),
        key=lambda t: (0 if t == "all" else int(t.split("-s")[-1]), t == "all"),
    )
    for tag in tags:
        one_level(tag, files[tag], files["test"], ckpts, record, args)
    table = tables(_rows(rows_path)) + curves(args.cache)
    (args.cache / "table.md").write_text(table)
    print(table)


def one_level(
    tag: str, train: Path, test: Path, ckpts: dict[str, str], record, args: argparse.Namespace
) -> None:
    """The baselines and every method's read-outs on one labelled subset."""
    level = tag.split("-")[0]
    n = 10 * (6000 if level == "all" else int(level[1:]))
    pixels: dict[str, float] = {}

    def pixel(name: str) -> float:
        if not pixels:
            pixels.update(pixel_baselines(train, test))
        return pixels[name]

    for name in ("pixel_knn", "pixel_logreg"):
        record(level, tag, name, lambda name=name: pixel(name))
    rd = args.cache / "readouts" / tag
    for name, kind, ck in [("untrained", "knn", None), ("scratch", "scratch", None)] + [
        (f"{m}+{kind}", kind, ck) for m, ck in ckpts.items() for kind in args.readouts
    ]:
        record(
            level,
            tag,
            name,
            lambda kind=kind, ck=ck, name=name: run_readout(
                kind, ck, train, test, n, rd / name, args
            ),
        )


def _rows(path: Path) -> list[dict]:
    """The measured rows, the first of each (level, subset, read-out) only."""
    rows = (
        [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    )
    return list({(r["level"], r["subset"], r["name"]): r for r in reversed(rows)}.values())[::-1]


def curves(cache: Path) -> str:
    """The learning curves: each pretraining epoch's kNN read-out (5,000 labelled training
    images, 2,000 test images, fine classes) and loss."""
    out = [
        "\n#### Learning curves (kNN on 5,000 / 2,000 images after each pretraining epoch)\n",
        "| method | epoch | images seen | kNN top-1 | loss | epoch seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for log in sorted(cache.glob("pretrain-*/log.jsonl")):
        method = log.parent.name.removeprefix("pretrain-")
        for r in (json.loads(x) for x in log.read_text().splitlines() if x.strip()):
            seen = r["step"] * 256
            out.append(
                f"| {method} | {r['epoch']} | {seen:,} | {r.get('knn_top1_fine', 0):.3f} "
                f"| {r['loss']:.3f} | {r['time_s']:.0f} |"
            )
    return "\n".join(out) + "\n"


def tables(rows: list[dict]) -> str:
    """One Markdown table per label level: mean ± std over the subsets (n = subsets)."""
    out = []
    for level in sorted({r["level"] for r in rows}, key=lambda v: (v == "all", v)):
        these = [r for r in rows if r["level"] == level]
        names = list(
            dict.fromkeys(
                [b for b in BASELINES if any(r["name"] == b for r in these)]
                + [r["name"] for r in these]
            )
        )
        title = "all labels" if level == "all" else f"{level[1:]} labels per class"
        out += [
            f"\n#### {title}\n",
            "| read-out | test accuracy | subsets | seconds (mean) |",
            "| --- | --- | --- | --- |",
        ]
        for name in names:
            accs = [r["accuracy"] for r in these if r["name"] == name]
            secs = statistics.mean(r["seconds"] for r in these if r["name"] == name)
            sd = f" ± {statistics.stdev(accs):.3f}" if len(accs) > 1 else ""
            label = f"baseline: {name}" if name in BASELINES else name
            out.append(f"| {label} | {statistics.mean(accs):.3f}{sd} | {len(accs)} | {secs:.0f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
