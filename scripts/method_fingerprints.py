"""Fingerprints of a short CPU training run per method: loss curve, checkpoint tensors and
prediction CSV, to check that a refactoring of the training wing trains bit-for-bit as before.

Every run trains a tiny ViT (``vit_nano``, patch 7) for 2 epochs on the shipped
Fashion-MNIST subset (``tests/data/fashion-mnist-mini``: 4 training images per class, batch
20), seed 3, deterministic, one CPU thread; then ``taxovit predict`` writes the test split
(2 images per class) as CSV. Per run it records:

* ``loss``: every epoch's logged loss and its parts (``repr`` of the floats: exact);
* ``tensors``: a SHA-256 per checkpoint entry (``model``, ``model_ema``, ``target``,
  ``bank``, ``optimizer``) over its tensors' names, dtypes, shapes and bytes, and
  ``adapters`` for the ``adapters.pt`` of ``lora`` / ``vpt``;
* ``predictions``: the SHA-256 of the prediction CSV.

Usage::

    python scripts/method_fingerprints.py --out tests/data/method_fingerprints.json
    python scripts/method_fingerprints.py --check tests/data/method_fingerprints.json

``--check`` prints one line per run and field, ``same`` or ``DIFFERS``, and exits 1 when
anything differs. Bit-for-bit equality holds on one machine and torch build (floating point
on other CPUs may differ in the last bits).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "data" / "fashion-mnist-mini"
TAXONOMY = REPO / "taxonomies" / "fashion_mnist.json"

BASE: dict[str, Any] = {
    "taxonomy": str(TAXONOMY),
    "train_rank": "group",
    "seed": 3,
    "deterministic": True,
    "device": "cpu",
    "threads": 1,
    "data": {"root": str(MINI), "train_per_class": 4, "test_per_class": 2},
    "model": {"preset": "vit_nano", "patch_size": 7},
    "grafit": {"bank_size": 80, "proj_hidden": 32, "proj_dim": 16},
    "optim": {"epochs": 2, "batch_size": 20, "warmup_epochs": 0.5},
    "eval": {"every": 1, "train_max": 40, "knn_k": 5},
    "log": {"progress": False},
}

#: run name -> (config changes, whether it starts from the ``pretrained`` run)
RUNS: dict[str, tuple[dict[str, Any], bool]] = {
    "ce": ({"method": "ce"}, False),
    "ce_fine_ema_llrd": (
        {
            "method": "ce",
            "train_rank": "class",
            "optim": {"ema_weights": 0.9, "layer_decay": 0.7, "lr": 1e-2},
        },
        False,
    ),
    "grafit_byol": ({"method": "grafit"}, False),
    "grafit_nce_ce": ({"method": "grafit", "grafit": {"instance": "nce", "lambda_ce": 0.5}}, False),
    "transfg": ({"method": "transfg"}, False),
    "hierarchy_hxe": ({"method": "hierarchy", "train_rank": "class"}, False),
    "hierarchy_rank_ce": (
        {"method": "hierarchy", "train_rank": "class", "hierarchy": {"loss": "rank_ce"}},
        False,
    ),
    "linear": ({"method": "linear", "augment": {"enabled": False}}, True),
    "knn": ({"method": "knn"}, True),
    "lora": ({"method": "lora", "lora": {"rank": 2, "targets": ["qkv", "fc1"]}}, True),
    "vpt": ({"method": "vpt", "vpt": {"tokens": 3}}, True),
    "deit": ({"method": "deit", "distill": {"kind": "soft"}}, False),
    "ce_freeze_dataloader": (
        {
            "method": "ce",
            "optim": {"epochs": 3, "freeze_epochs": 1},
            "data": {"loader": "dataloader"},
        },
        True,
    ),
    "ce_conv_stem_smoothing": (
        {
            "method": "ce",
            "model": {"stem": "conv", "patch_size": 4},
            "ce": {"label_smoothing": 0.1},
            "augment": {"erasing": 0.5},
        },
        False,
    ),
    "grafit_bf16_views3": (
        {"method": "grafit", "precision": "bf16", "grafit": {"views": 3, "k": 5}},
        False,
    ),
    "hierarchy_soft_labels": (
        {"method": "hierarchy", "train_rank": "class", "hierarchy": {"loss": "soft_labels"}},
        False,
    ),
    "lora_dropout_fc": (
        {"method": "lora", "lora": {"rank": 2, "dropout": 0.2, "targets": ["fc1", "fc2", "proj"]}},
        True,
    ),
    "vpt_shallow": ({"method": "vpt", "vpt": {"tokens": 2, "depth": "shallow"}}, True),
    "deit_hard": ({"method": "deit"}, False),
    "transfg_dataloader": (
        {
            "method": "transfg",
            "data": {"loader": "dataloader"},
            "transfg": {"label_smoothing": 0.1},
        },
        False,
    ),
}


def _config(changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    cfg = json.loads(json.dumps(BASE))
    for section, values in {**changes, **extra}.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
        else:
            cfg[section] = values
    return cfg


def _hash_tensors(obj: Any) -> str:
    import torch

    h = hashlib.sha256()

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{prefix}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            for k in sorted(value, key=str):
                walk(f"{prefix}.{k}", value[k])
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif isinstance(value, int | float | str | bool) or value is None:
            h.update(f"{prefix}={value!r}|".encode())

    walk("", obj)
    return h.hexdigest()


def _fingerprint(res: dict[str, Any], csv: Path) -> dict[str, Any]:
    import torch

    ck = torch.load(res["checkpoint"], map_location="cpu", weights_only=True)
    rows = [json.loads(line) for line in Path(res["log"]).read_text().splitlines()]
    skip = {"images_per_s", "time_s", "peak_mem_mb", "peak_mem_kind"}
    out: dict[str, Any] = {
        "loss": [{k: repr(v) for k, v in sorted(r.items()) if k not in skip} for r in rows],
        "tensors": {
            k: _hash_tensors(ck.get(k))
            for k in ("model", "model_ema", "target", "bank", "optimizer")
        },
        "predictions": hashlib.sha256(csv.read_bytes()).hexdigest(),
    }
    adapters = Path(res["out"]) / "adapters.pt"
    if adapters.is_file():
        obj = torch.load(adapters, map_location="cpu", weights_only=True)
        out["tensors"]["adapters"] = _hash_tensors(obj["tensors"])
    return out


def run_all(names: list[str]) -> dict[str, Any]:
    """Train and predict every run of ``names``; their fingerprints by name."""
    import torch

    from taxovit.training import train

    try:
        from taxovit.training.run.predict import predict
    except ImportError:  # before the restructure
        from taxovit.training.predict import predict

    torch.set_num_threads(1)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        pre = train(
            _config({"method": "ce", "train_rank": "class"}, optim={"epochs": 1, "batch_size": 20}),
            out=t / "pretrained",
        )
        for name in names:
            changes, from_pre = RUNS[name]
            extra: dict[str, Any] = {}
            if from_pre:
                extra["model"] = {
                    "preset": "vit_nano",
                    "patch_size": 7,
                    "pretrained": pre["checkpoint"],
                }
            if name.startswith("deit"):
                extra["distill"] = {**changes.get("distill", {}), "teacher": pre["checkpoint"]}
                extra["train_rank"] = "class"
            res = train(_config(changes, **extra), out=t / name)
            csv = t / f"{name}.csv"
            predict(res["checkpoint"], csv, split="test")
            results[name] = _fingerprint(res, csv)
            print(f"{name}: done", file=sys.stderr)
    return results


def compare(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Print the comparison; True when every field of every run is the same."""
    same = True
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            print(f"{name}: only in {'new' if a is None else 'old'}")
            same = False
            continue
        fields = ["loss", "predictions", *(f"tensors.{k}" for k in sorted(a["tensors"]))]
        for f in fields:
            va = a["tensors"].get(f[8:]) if f.startswith("tensors.") else a[f]
            vb = b["tensors"].get(f[8:]) if f.startswith("tensors.") else b[f]
            ok = va == vb
            same &= ok
            print(f"{name:22s} {f:18s} {'same' if ok else 'DIFFERS'}")
    return same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the fingerprints (JSON) here")
    ap.add_argument("--check", type=Path, help="compare with the fingerprints in this file")
    ap.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    args = ap.parse_args()
    new = run_all(args.runs)
    if args.out:
        args.out.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
    if args.check:
        old = json.loads(args.check.read_text())
        old = {k: v for k, v in old.items() if k in args.runs}
        return 0 if compare(old, new) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
