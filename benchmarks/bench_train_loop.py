"""Training-loop overhead: ``taxovit train``'s images/s vs a bare forward+backward+step.

The loop (``train_one_epoch``: data path, augmentation, autocast, loss logging and its
all-reduce, gradient clipping, scheduler, EMA) is timed over one epoch of a real run; the
bare step is the same network, loss and AdamW on one pre-made batch, nothing else. The
overhead is ``bare / loop - 1`` (images/s). Rounds alternate the two to share the noise of a
shared machine; the median of each is reported.

    python benchmarks/bench_train_loop.py                       # ce, vit_micro, patch 4
    python benchmarks/bench_train_loop.py --stem conv --loader dataloader --images 6000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from taxovit.training.parts.network import build_online, param_groups
from taxovit.training.run.config import merge_config
from taxovit.training.run.loop import train

REPO = Path(__file__).resolve().parents[1]


def config(args: argparse.Namespace) -> dict:
    per_class = args.images // 10
    return merge_config(
        {
            "taxonomy": str(REPO / "taxonomies" / "fashion_mnist.json"),
            "train_rank": "class",
            "method": "ce",
            "device": args.device,
            "threads": args.threads,
            "precision": args.precision,
            "data": {"root": args.data_root, "train_per_class": per_class, "loader": args.loader},
            "model": {"preset": args.preset, "patch_size": args.patch, "stem": args.stem},
            "optim": {"epochs": 1, "batch_size": args.batch, "warmup_epochs": 0},
            "eval": {"every": 0},
            "log": {"progress": False},
        }
    )


def loop_rate(cfg) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        res = train(cfg, out=Path(tmp) / "run")
    return float(res["history"][-1]["images_per_s"])


def bare_rate(cfg, steps: int) -> float:
    torch.manual_seed(0)
    device = torch.device(
        "cuda" if cfg.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu"
    )
    net = build_online(cfg, 10).to(device)
    opt = torch.optim.AdamW(param_groups(net, 0.05), lr=1e-3)
    b, s = int(cfg.optim.batch_size), int(cfg.data.img_size)
    x = torch.randn(b, int(cfg.data.in_chans), s, s, device=device)
    y = torch.randint(0, 10, (b,), device=device)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x)["logits"].float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * b / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--images", type=int, default=12000, help="training images per epoch")
    ap.add_argument("--preset", default="vit_micro")
    ap.add_argument("--patch", type=int, default=4)
    ap.add_argument("--stem", default="patch", choices=("patch", "conv"))
    ap.add_argument("--loader", default="auto", choices=("auto", "memory", "dataloader"))
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config(args)
    steps = args.images // args.batch
    loops, bares = [], []
    for r in range(args.rounds):
        bares.append(bare_rate(cfg, steps))
        loops.append(loop_rate(cfg))
        print(f"round {r + 1}: bare {bares[-1]:.0f} img/s, loop {loops[-1]:.0f} img/s", flush=True)
    bare, loop = statistics.median(bares), statistics.median(loops)
    print(
        f"{args.preset} patch {args.patch} stem {args.stem} batch {args.batch} loader "
        f"{args.loader} precision {args.precision} threads {torch.get_num_threads()}: "
        f"bare {bare:.0f} img/s, loop {loop:.0f} img/s, overhead {bare / loop - 1:+.1%}"
    )


if __name__ == "__main__":
    main()
