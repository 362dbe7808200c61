"""Fashion-MNIST coarse-to-fine experiment (Grafit, Touvron et al. ICCV 2021), CPU-sized.

Baselines first, on the same training images and the same test split as the trained arms:

  pixel_knn     cosine kNN on the centred raw pixels (k = 20, weighted vote exp(cos / 0.07),
                the trained arms' read-out)
  pixel_logreg  logistic regression on the raw pixels (scikit-learn)
  untrained     the kNN read-out (as the arms) of the arms' network with random weights

Arms, all trained with the same budget (configs/fashion_mnist_{ce_coarse,grafit,ce_fine}.yaml;
``cpu`` is the README's quick config, on its own training subset with its own baselines):

  (a) ce_coarse  cross-entropy on the 5 coarse groups (tops, bottoms, dresses, footwear, bags)
  (b) grafit     instance + kNN losses on the 5 coarse groups
  (c) ce_fine    cross-entropy on the 10 fine classes (ceiling: sees the fine labels)

Every run is read out at the *fine* level the same way: ``taxovit predict --knn 20`` (DINO
weighted vote over the training images' CLS embeddings, on the 10 fine labels) on the full
10k test set, then ``taxovit evaluate --format json`` on the written CSV.

    python benchmarks/fashion_mnist_experiment.py                  # baselines, 3 arms x 3 seeds
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

import yaml

REPO = Path(__file__).resolve().parents[1]
ARMS = {
    "ce_coarse": "(a) CE on coarse groups",
    "grafit": "(b) Grafit (instance + kNN) on coarse groups",
    "ce_fine": "(c) CE on fine classes (ceiling)",
    "cpu": "quick config (configs/fashion_mnist_cpu.yaml, CE on fine, 4 epochs)",
}
BASELINES = {
    "pixel_knn": "baseline: cosine kNN on centred pixels (k 20, T 0.07)",
    "pixel_logreg": "baseline: logistic regression on pixels",
    "untrained": "baseline: kNN read-out of the untrained network",
}
KEYS = ("accuracy", "hierarchical_f1_micro", "mistake_severity")


def evaluate_json(preds: Path, taxonomy: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "taxovit.cli",
        "evaluate",
        str(preds),
        "--taxonomy",
        taxonomy,
        "--format",
        "json",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout[res.stdout.index("{") :])


def res_log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if x.strip()]


def arm_config(arm: str, seed: int, args: argparse.Namespace) -> dict:
    from taxovit.training.run.config import load_config

    cfg = load_config(REPO / "configs" / f"fashion_mnist_{arm}.yaml").to_dict()
    cfg["seed"] = seed
    cfg["log"]["progress"] = False
    if args.data_root:
        cfg["data"]["root"] = args.data_root
    if args.train_per_class is not None:
        cfg["data"]["train_per_class"] = args.train_per_class
    if args.epochs is not None:
        cfg["optim"]["epochs"] = args.epochs
    if args.threads is not None:
        cfg["threads"] = args.threads
    for item in args.set:  # KEY=VALUE, dotted key, YAML value: grafit.k=20
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = cfg
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise SystemExit(f"--set {item}: the config has no key {key!r}")
        node[leaf] = yaml.safe_load(value)
    return cfg


def run_one(arm: str, seed: int, args: argparse.Namespace, cache: Path) -> dict:
    from taxovit.training.run.loop import train
    from taxovit.training.run.predict import predict

    cfg = arm_config(arm, seed, args)
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
    else:  # an unfinished run of this config (killed) is continued
        res = train(cfg, out=out, resume=ckpt.is_file() and not done.is_file())
        train_s = sum(float(r["time_s"]) for r in res_log(out))  # the epochs' training time
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
    row["train_per_class"] = cfg["data"]["train_per_class"]
    if cfg["train_rank"] == "class":  # a classifier head on the fine classes
        row["head_top1"] = predict(res["checkpoint"], out / "preds_head.csv")["accuracy"]
    row["config"] = {
        "train_per_class": cfg["data"]["train_per_class"],
        "epochs": cfg["optim"]["epochs"],
        "preset": cfg["model"]["preset"],
        "patch_size": cfg["model"]["patch_size"],
    }
    print(json.dumps(row), flush=True)
    return row


# ------------------------------------------------------------------------------ baselines
def _evaluate_scores(name: str, scores, test, space, cfg: dict, out: Path) -> dict:
    """Write ``scores`` (test x fine classes) as a predictions CSV and evaluate it."""
    from taxovit.predictions.writers import wide_csv

    out.mkdir(parents=True, exist_ok=True)
    fine = list(space.fine_names)
    y_true = [fine[i] for i in test.fine]
    (out / "preds.csv").write_text(wide_csv(test.ids, y_true, fine, scores))
    report = evaluate_json(out / "preds.csv", cfg["taxonomy"])
    (out / "eval.json").write_text(json.dumps(report, indent=1))
    m = report["metrics"]
    row = {"arm": name, **{k: m[k] for k in KEYS}}
    row["group_accuracy"] = report.get("per_rank", {}).get("group", {}).get("accuracy")
    return row


def _pixels(samples):
    import numpy as np

    return samples.images.reshape(len(samples), -1).astype(np.float32) / 255.0


def baselines(cfg: dict, args: argparse.Namespace, cache: Path) -> list[dict]:
    """The three baselines on ``cfg``'s training images and test split."""
    import numpy as np
    import torch

    from taxovit.taxonomy import load_taxonomy
    from taxovit.training.data.splits import load_split
    from taxovit.training.parts.network import build_online
    from taxovit.training.run.embed import embed_samples
    from taxovit.training.run.neighbors import knn_classify

    tax = load_taxonomy(cfg["taxonomy"])
    train_s, space = load_split(cfg["data"], "train", tax, cfg["train_rank"])
    test_s, _ = load_split(cfg["data"], "test", tax, cfg["train_rank"])
    n, tag = len(space.fine_names), f"n{cfg['data']['train_per_class'] or 'all'}"
    xtr, xte = _pixels(train_s), _pixels(test_s)
    rows, labels = [], torch.from_numpy(train_s.fine)

    def add(name: str, scores, t0: float) -> None:
        row = _evaluate_scores(
            name, np.asarray(scores), test_s, space, cfg, cache / f"{name}-{tag}"
        )
        row.update(seconds=time.perf_counter() - t0, train_per_class=cfg["data"]["train_per_class"])
        print(json.dumps(row), flush=True)
        rows.append(row)

    t0 = time.perf_counter()
    mean = xtr.mean(axis=0, keepdims=True)  # centred on the training images' mean
    q, db = (torch.nn.functional.normalize(torch.from_numpy(a - mean), dim=1) for a in (xte, xtr))
    add("pixel_knn", knn_classify(q, db, labels, n, k=args.knn, temperature=0.07).numpy(), t0)
    t0 = time.perf_counter()
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=args.logreg_iter).fit(xtr, train_s.fine)
    add("pixel_logreg", clf.predict_proba(xte), t0)
    t0 = time.perf_counter()
    torch.manual_seed(int(cfg["seed"]))
    net = build_online(cfg, len(space.train_names), pretrained=False).eval()
    db, _ = embed_samples(net, train_s, space, cfg, torch.device("cpu"))
    q, _ = embed_samples(net, test_s, space, cfg, torch.device("cpu"))
    add("untrained", knn_classify(q, db, labels, n, k=args.knn, temperature=0.07).numpy(), t0)
    return rows


# ------------------------------------------------------------------------------ the table
def _ms(vals: list, fmt: str = "{:.4f}") -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "—"
    if len(vals) == 1:
        return fmt.format(vals[0])
    return f"{fmt.format(statistics.mean(vals))} ± {fmt.format(statistics.stdev(vals))}"


def _verdict(rs: list[dict], base: list[dict]) -> str:
    """How the arm's fine top-1 (its head when it has one, else kNN) compares to the
    baselines of its own training set."""
    acc = statistics.mean(r.get("head_top1") or r["accuracy"] for r in rs)
    same = [b for b in base if b["train_per_class"] == rs[0]["train_per_class"]]
    lost = [b["arm"] for b in same if b["accuracy"] >= acc]
    if not same:
        return "no baseline"
    return "LOSES to " + ", ".join(lost) if lost else "beats all baselines"


def table(rows: list[dict], base: list[dict]) -> str:
    lines = [
        "| row | train imgs/class | fine kNN top-1 | fine head top-1 | hier. F1 (micro) "
        "| mistake severity | group acc. | train s/run | vs baselines |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in base:
        lines.append(
            f"| {BASELINES[b['arm']]} | {b['train_per_class'] or 'all'} | "
            + " | ".join(_ms([b[k]]) for k in KEYS[:1])
            + " | — | "
            + " | ".join(_ms([b[k]]) for k in (*KEYS[1:], "group_accuracy"))
            + f" | {b['seconds']:.0f} (fit+predict) | |"
        )
    for arm, title in ARMS.items():
        rs = [r for r in rows if r["arm"] == arm]
        if not rs:
            continue
        cells = [_ms([r["accuracy"] for r in rs]), _ms([r.get("head_top1") for r in rs])]
        cells += [_ms([r[k] for r in rs]) for k in (*KEYS[1:], "group_accuracy")]
        cells.append(_ms([r["train_s"] for r in rs], "{:.0f}"))
        cells.append(_verdict(rs, base))
        lines.append(
            f"| {title} | {rs[0]['train_per_class'] or 'all'} | " + " | ".join(cells) + " |"
        )
    seeds = sorted({r["seed"] for r in rows})
    lines += ["", f"mean ± sd over seeds {seeds}; per-seed fine top-1 (kNN / head):"]
    for arm in ARMS:
        rs = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["seed"])
        if rs:
            lines.append(
                f"- {arm}: "
                + ", ".join(
                    f"s{r['seed']}={r['accuracy']:.4f}"
                    + (f"/{r['head_top1']:.4f}" if r.get("head_top1") else "")
                    for r in rs
                )
            )
    return "\n".join(lines)


def all_baselines(args: argparse.Namespace, cache: Path) -> list[dict]:
    """The baselines of every distinct training set of the arms, before any trained arm
    (``--reuse``: the ones already in ``baselines.json`` are kept)."""
    saved = cache / "baselines.json"
    base = json.loads(saved.read_text()) if args.reuse and saved.is_file() else []
    done = {b["train_per_class"] for b in base}
    for arm in args.arms:
        cfg = arm_config(arm, args.seeds[0], args)
        if cfg["data"]["train_per_class"] not in done:
            done.add(cfg["data"]["train_per_class"])
            base += baselines(cfg, args, cache)
            saved.write_text(json.dumps(base, indent=1))
    return base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--arms", nargs="+", default=["ce_coarse", "grafit", "ce_fine"], choices=list(ARMS)
    )
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="override optim.epochs")
    ap.add_argument("--train-per-class", type=int, default=None)
    ap.add_argument("--knn", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="override threads (CPU)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key of every arm (dotted key, YAML value), "
        "e.g. --set grafit.k=20; repeatable",
    )
    ap.add_argument("--logreg-iter", type=int, default=200, help="logistic regression max_iter")
    ap.add_argument("--no-baselines", action="store_true", help="trained arms only")
    ap.add_argument("--baselines-only", action="store_true", help="no trained arm")
    ap.add_argument("--data-root", default=None, help="Fashion-MNIST idx folder")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="reuse finished runs and baselines in the cache (same config); only predict again",
    )
    ap.add_argument("--cache", default=str(REPO / "benchmarks" / ".cache" / "fashion_mnist"))
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    base = [] if args.no_baselines else all_baselines(args, cache)
    if args.baselines_only:
        return
    rows = []
    for seed in args.seeds:  # seeds outermost: a partial run still covers every arm
        for arm in args.arms:
            rows.append(run_one(arm, seed, args, cache))
            (cache / "rows.json").write_text(json.dumps(rows, indent=1))
            (cache / "table.md").write_text(table(rows, base) + "\n")
    md = table(rows, base)
    (cache / "table.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
