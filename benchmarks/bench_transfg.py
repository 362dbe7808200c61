"""Training-step time and peak memory: plain ViT vs TransFG (chain rollout) vs TransFG with
the reference cubic rollout on explicit-softmax attention, plus timm's ViT if installed.

All variants use the same preset, resolution and overlapping split (default patch 16,
stride 12, 448 px as in the TransFG paper). Steps are timed round-robin over the variants
(so that load from other processes hits them alike) and the median step time is reported,
with ratios against the plain ViT measured in the same run.

"step MiB" is the peak memory of one training step above what is resident before it (weights
and optimizer state): activations and saved tensors, temporaries, gradients. Use
``--threads 1`` on a shared CPU: multi-threaded kernels slow down erratically under load.

On CUDA: bf16 autocast, memory from ``torch.cuda.max_memory_allocated``, and model FLOPs
utilisation (a multiply-add counts as 2 FLOPs; a training step counts as 3x the forward's
model FLOPs; TransFG's rollout is not counted as model FLOPs). On CPU: float32, memory from
the peak resident set (VmHWM, reset through /proc/self/clear_refs), with glibc's mmap
threshold fixed so that freed tensors leave the resident set.

Examples::

    python benchmarks/bench_transfg.py --preset vit_micro --img 448 --batch 2 --steps 3 --rounds 3
    python benchmarks/bench_transfg.py --preset vit_b --img 448 --batch 16 --device cuda
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time


def _ensure_malloc_env() -> None:
    if sys.platform.startswith("linux") and os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


if __name__ == "__main__":
    _ensure_malloc_env()  # before torch is imported: re-exec costs next to nothing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from taxovit.models import build_transfg, build_vit, transfg_loss  # noqa: E402
from taxovit.models.vit import PRESETS, grid_size  # noqa: E402

VARIANTS = {
    "vit": "(a) plain ViT (SDPA)",
    "transfg": "(b) TransFG, chain rollout (SDPA)",
    "transfg_ref": "(c) TransFG, reference cubic rollout (explicit softmax)",
    "timm": "(d) timm VisionTransformer",
}

# dense bf16 peak, TFLOP/s (for MFU); matched against torch.cuda.get_device_name()
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def build(variant: str, a: argparse.Namespace) -> torch.nn.Module:
    common = dict(img_size=a.img, patch_size=a.patch, stride=a.stride, in_chans=3)
    if variant == "vit":
        return build_vit(a.preset, a.classes, **common)
    if variant == "transfg":
        return build_transfg(a.preset, a.classes, **common)
    if variant == "transfg_ref":
        return build_transfg(a.preset, a.classes, rollout="reference", **common)
    if variant == "timm":
        import timm
        from torch import nn

        dim, heads, depth = PRESETS[a.preset]
        m = timm.create_model(
            "vit_base_patch16_224",
            pretrained=False,
            img_size=a.img,
            patch_size=a.patch,
            embed_dim=dim,
            depth=depth,
            num_heads=heads,
            num_classes=a.classes,
        )
        if a.stride not in (None, a.patch):  # timm has no strided split: swap the conv in
            pe = m.patch_embed
            pe.proj = nn.Conv2d(3, dim, kernel_size=a.patch, stride=a.stride)
            g = grid_size(a.img, a.patch, a.stride)
            pe.grid_size, pe.num_patches = g, g[0] * g[1]
            m.pos_embed = nn.Parameter(torch.randn(1, 1 + g[0] * g[1], dim) * 0.02)
        return m
    raise ValueError(variant)


def model_flops_per_image(variant: str, a: argparse.Namespace) -> float:
    """Forward model FLOPs for one image (multiply-add = 2)."""
    d, h, depth = PRESETS[a.preset]
    gh, gw = grid_size(a.img, a.patch, a.stride)
    n = 1 + gh * gw

    def block(t: int) -> float:
        linear = 2 * t * d * (3 * d + d + 2 * 4 * d)  # qkv, proj, fc1 + fc2
        attn = 2 * 2 * t * t * d  # q k^T and attn v
        return linear + attn

    total = 2 * gh * gw * 3 * a.patch * a.patch * d + 2 * d * a.classes
    if variant.startswith("transfg"):
        total += (depth - 1) * block(n) + block(1 + h)
    else:
        total += depth * block(n)
    return float(total)


class Runner:
    def __init__(self, variant: str, a: argparse.Namespace, device: torch.device) -> None:
        torch.manual_seed(0)
        self.variant = variant
        self.device = device
        self.model = build(variant, a).to(device).train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.05)
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(a.batch, 3, a.img, a.img, generator=g).to(device)
        self.y = torch.randint(0, a.classes, (a.batch,), generator=g).to(device)
        self.autocast = device.type == "cuda"

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            if self.variant.startswith("transfg"):
                feats = self.model.forward_features(self.x)
                loss = transfg_loss(self.model.forward_head(feats), feats, self.y)
            else:
                loss = F.cross_entropy(self.model(self.x).float(), self.y)
        loss.backward()
        self.opt.step()

    def timed_step(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        self.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def step_memory_mib(r: Runner) -> float:
    """Peak memory of one training step above weights and optimizer state, in MiB."""
    r.opt.zero_grad(set_to_none=True)
    gc.collect()
    if r.device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        r.step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    # CPU: glibc runs with a fixed mmap threshold (set at start-up, see _ensure_malloc_env),
    # so freed buffers go back to the OS and the resident set follows live tensors.
    with open("/proc/self/clear_refs", "w") as fh:  # reset VmHWM to the current RSS
        fh.write("5")
    base = _status_kib("VmRSS")
    r.step()
    return (_status_kib("VmHWM") - base) / 1024


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="vit_micro")
    p.add_argument("--img", type=int, default=448)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--stride", type=int, default=12)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--classes", type=int, default=200)
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--variants", default="vit,transfg,transfg_ref,timm")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0: torch's)")
    p.add_argument("--peak-tflops", type=float, default=None, help="for MFU (default: by GPU)")
    p.add_argument("--json", default=None, help="also write the results here")
    raw = sys.argv[1:] if argv is None else argv
    a = p.parse_args(raw)
    if a.threads:
        torch.set_num_threads(a.threads)

    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(a.device)
    variants = [v for v in a.variants.split(",") if v]
    if "timm" in variants:
        try:
            import timm  # noqa: F401
        except ImportError:
            print("timm not installed: skipping (d)")
            variants.remove("timm")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variants {sorted(unknown)}; known: {sorted(VARIANTS)}")

    peak_tflops = a.peak_tflops
    dev_name = "CPU"
    if device.type == "cuda":
        dev_name = torch.cuda.get_device_name()
        if peak_tflops is None:
            peak_tflops = next((v for k, v in PEAK_TFLOPS.items() if k in dev_name), None)
    g = grid_size(a.img, a.patch, a.stride)
    print(
        f"{a.preset} {PRESETS[a.preset]} img {a.img} patch {a.patch} stride {a.stride} "
        f"-> {g[0]}x{g[1]} grid, {1 + g[0] * g[1]} tokens; batch {a.batch}; "
        f"device {dev_name}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
        f"{platform.processor() or platform.machine()}"
    )

    runners = {v: Runner(v, a, device) for v in variants}
    for r in runners.values():
        for _ in range(a.warmup):
            r.step()
    mem = {v: step_memory_mib(r) for v, r in runners.items()}

    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(a.rounds):
        for v, r in runners.items():
            times[v].extend(r.timed_step() for _ in range(a.steps))

    results = {}
    base_t = statistics.median(times[variants[0]])
    base_m = mem[variants[0]]
    print(f"\nratios vs {variants[0]!r}, median of {a.rounds * a.steps} steps per variant")
    print(
        f"{'variant':<58} {'step ms':>9} {'x time':>7} {'img/s':>8} "
        f"{'step MiB':>9} {'x mem':>6} {'MFU':>6}"
    )
    for v in variants:
        t = statistics.median(times[v])
        flops = 3 * model_flops_per_image(v, a) * a.batch
        mfu = flops / t / (peak_tflops * 1e12) if peak_tflops else None
        results[v] = {
            "label": VARIANTS[v],
            "step_ms": 1e3 * t,
            "step_ms_min": 1e3 * min(times[v]),
            "time_ratio": t / base_t,
            "images_per_s": a.batch / t,
            "peak_mem_mib": mem[v],
            "mem_ratio": mem[v] / base_m if base_m > 0 else float("nan"),
            "train_gflop_per_step": flops / 1e9,
            "mfu": mfu,
        }
        r = results[v]
        mfu_s = f"{100 * mfu:5.1f}%" if mfu is not None else "   n/a"
        print(
            f"{VARIANTS[v]:<58} {r['step_ms']:9.1f} {r['time_ratio']:7.3f} "
            f"{r['images_per_s']:8.2f} {r['peak_mem_mib']:9.1f} {r['mem_ratio']:6.2f} {mfu_s}"
        )
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"args": vars(a), "device": dev_name, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
