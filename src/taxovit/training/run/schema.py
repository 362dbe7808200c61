"""The training config's schema: one rule (type, range, length) per key of ``DEFAULTS``.

:func:`validate` checks a user config against :data:`SCHEMA` and returns the merged,
normalised config plus *every* problem found (key path and what was expected), so a config
is reported in one go. Torch-free: the model facts it needs (:data:`PRESET_SIZES`,
:data:`OVERRIDE_RULES`) are copies that :mod:`taxovit.training.parts.network` checks against
:mod:`taxovit.models` when it is imported.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from taxovit.training.run.rules import (
    Bad,
    Problem,
    Rule,
    boolean,
    choice,
    choices_list,
    integer,
    mapping,
    number,
    numbers_list,
    one_of,
    path,
    show,
    text,
)

__all__ = ["METHODS", "OVERRIDE_RULES", "PRESET_SIZES", "SCHEMA", "TRANSFG_ONLY", "Problem",
           "Rule", "show", "validate"]  # fmt: skip

#: the keys of :data:`taxovit.training.objectives.OBJECTIVES` (checked there)
METHODS = ("ce", "grafit", "transfg", "linear", "knn", "hierarchy", "lora", "vpt", "deit")
#: :data:`taxovit.models.vit.PRESETS` as ``name -> (embed_dim, num_heads, depth)``
PRESET_SIZES: dict[str, tuple[int, int, int]] = {
    "vit_nano": (32, 2, 3),
    "vit_micro": (64, 4, 4),
    "vit_ti": (192, 3, 12),
    "vit_s": (384, 6, 12),
    "vit_b": (768, 12, 12),
    "vit_l": (1024, 16, 24),
    "vit_h": (1280, 16, 32),
    "dinov2_s": (384, 6, 12),
    "dinov2_b": (768, 12, 12),
    "dinov2_l": (1024, 16, 24),
    "dinov2_s_reg4": (384, 6, 12),
    "dinov2_b_reg4": (768, 12, 12),
    "dinov2_l_reg4": (1024, 16, 24),
}
DATA_FORMATS = ("fashion_mnist", "npy", "csv", "imagefolder")


_FRACTION = number(0, 1)
_OPEN_FRACTION = number(0, 1, hi_open=True)

#: every config key's rule; nested dicts are sections (see ``DEFAULTS`` in ``config``)
SCHEMA: dict[str, Any] = {
    "seed": integer(0, 2**32 - 1),
    "deterministic": boolean(),
    "device": text(r"auto|cpu|cuda(:[0-9]+)?", "auto, cpu, cuda or cuda:N"),
    "threads": integer(1, null=True),
    "taxonomy": path(null=True),
    "train_rank": text(null=True),
    "method": choice(METHODS),
    "precision": choice(("auto", "fp32", "bf16")),
    "out": path(),
    "data": {
        "format": choice(DATA_FORMATS),
        "root": path(null=True),
        "train": path(null=True),
        "test": path(null=True),
        "train_per_class": integer(1, null=True),
        "test_per_class": integer(1, null=True),
        "img_size": integer(1),
        "in_chans": one_of((1, 3), "1 (grey) or 3 (RGB)"),
        "num_workers": integer(0),
        "loader": choice(("auto", "memory", "dataloader")),
    },
    "model": {
        "preset": choice((*PRESET_SIZES, "auto")),
        "patch_size": integer(1),
        "stride": integer(1, null=True),
        "pretrained": path(null=True),
        "stem": choice(("patch", "conv")),
        "compile": boolean(),
        "overrides": mapping(),
    },
    "grafit": {
        "views": integer(1),
        "instance": choice(("byol", "nce")),
        "tau_inst": number(0, lo_open=True),
        "lambda_inst": number(0),
        "lambda_knn": number(0),
        "lambda_ce": number(0),
        "sigma": number(0, lo_open=True),
        "k": integer(1, null=True),
        "bank_size": integer(0),
        "proj_hidden": integer(1),
        "proj_dim": integer(1),
        "ema": _FRACTION,
        "ema_end": _FRACTION,
    },
    "ce": {"label_smoothing": _OPEN_FRACTION},
    "transfg": {"label_smoothing": _OPEN_FRACTION},
    "hierarchy": {
        "loss": choice(("soft_labels", "hxe", "rank_ce")),
        "alpha": number(0),
        "beta": number(0, lo_open=True),
        "rank_weights": mapping(),
    },
    "lora": {
        "rank": integer(1),
        "alpha": number(0, lo_open=True),
        "dropout": _OPEN_FRACTION,
        "targets": choices_list(("qkv", "proj", "fc1", "fc2")),
    },
    "vpt": {"tokens": integer(1), "depth": choice(("shallow", "deep"))},
    "distill": {
        "teacher": path(null=True),
        "kind": choice(("hard", "soft")),
        "tau": number(0, lo_open=True),
        "alpha": _FRACTION,
    },
    "optim": {
        "epochs": integer(1),
        "batch_size": integer(1),
        "lr": number(0, lo_open=True),
        "min_lr": number(0),
        "weight_decay": number(0),
        "warmup_epochs": number(0),
        "betas": numbers_list(_OPEN_FRACTION, 2),
        "grad_clip": number(0, null=True),
        "ema_weights": number(0, 1, hi_open=True, null=True),
        "layer_decay": number(0, 1, lo_open=True, null=True),
        "freeze_epochs": integer(0),
    },
    "augment": {
        "enabled": boolean(),
        "crop_scale": numbers_list(number(0, 1, lo_open=True), 2, ordered=True),
        "hflip": _FRACTION,
        "color_jitter": number(0),
        "erasing": _FRACTION,
        "mean": numbers_list(number(), null=True),
        "std": numbers_list(number(0, lo_open=True), null=True),
    },
    "eval": {
        "every": integer(0),
        "knn_k": integer(1),
        "temperature": number(0, lo_open=True),
        "train_max": integer(1, null=True),
        "test_max": integer(1, null=True),
        "batch_size": integer(1),
    },
    "log": {"progress": boolean()},
}

#: ``model.overrides``: the ViT / TransFG constructor arguments a config may set (the others
#: come from ``data`` and ``model``); TransFG-only ones are marked in :data:`TRANSFG_ONLY`
OVERRIDE_RULES: dict[str, Rule] = {
    "embed_dim": integer(1),
    "depth": integer(1),
    "num_heads": integer(1),
    "mlp_ratio": number(0, lo_open=True),
    "qkv_bias": boolean(),
    "drop_rate": _OPEN_FRACTION,
    "attn_drop_rate": _OPEN_FRACTION,
    "drop_path_rate": _OPEN_FRACTION,
    "attention": choice(("sdpa", "explicit")),
    "init_values": number(0, lo_open=True, null=True),
    "reg_tokens": integer(0),
    "distilled": boolean(),
    "no_embed_class": boolean(),
    "rollout": choice(("chain", "reference")),
    "rollout_chunk_elems": integer(1, null=True),
}
TRANSFG_ONLY = ("rollout", "rollout_chunk_elems")


# ------------------------------------------------------------------------------ validation
def validate(user: Mapping[str, Any], defaults: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """``defaults`` updated by ``user``, normalised; and every problem, in key order."""
    problems: list[Problem] = []
    cfg = _merge(defaults, SCHEMA, user, "", problems)
    bad = {p.path for p in problems}
    for check in (_check_required, _check_model, _check_data, _check_augment, _check_optim,
                  _check_hierarchy):  # fmt: skip
        problems += check(cfg, bad)
    return cfg, problems


def _merge(base: dict[str, Any], schema: dict[str, Any], upd: Mapping[str, Any], where: str,
           problems: list[Problem]) -> dict[str, Any]:  # fmt: skip
    out = copy.deepcopy(base)
    for key, value in upd.items():
        key_path = f"{where}{key}"
        if not isinstance(key, str) or key not in schema:
            known = ", ".join(sorted(schema))
            problems.append(Problem(key_path, f"unknown key {key_path!r} (known: {known})"))
            continue
        rule = schema[key]
        if isinstance(rule, dict):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                problems.append(Problem(key_path, f"{key_path!r} must be a mapping, got "
                                                  f"{show(value)}"))  # fmt: skip
                continue
            out[key] = _merge(base[key], rule, value, key_path + ".", problems)
            continue
        try:
            out[key] = rule.clean(value)
        except Bad:
            problems.append(Problem(key_path, f"{key_path}: expected {rule.expected}, got "
                                              f"{show(value)}"))  # fmt: skip
    return out


def _ok(bad: set[str], *paths: str) -> bool:
    """None of ``paths`` (nor a section above them) had a problem of its own."""
    return not any(p == b or p.startswith(b + ".") for p in paths for b in bad)


def _check_hierarchy(cfg: dict[str, Any], bad: set[str]) -> list[Problem]:
    """``hierarchy.rank_weights``: rank name -> a number >= 0 (the ranks are checked against
    the taxonomy when training starts)."""
    out = []
    for rank, w in cfg["hierarchy"]["rank_weights"].items():
        where = f"hierarchy.rank_weights.{rank}"
        if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0:
            out.append(Problem(where, f"{where}: expected a number >= 0, got {show(w)}"))
    return out


def _check_required(cfg: dict[str, Any], bad: set[str]) -> list[Problem]:
    out = []
    if cfg["taxonomy"] is None and _ok(bad, "taxonomy"):
        out.append(Problem("taxonomy", "taxonomy: required (the path to the taxonomy file)"))
    views = cfg["grafit"]["views"]
    if cfg["method"] == "grafit" and views < 2 and _ok(bad, "method", "grafit.views"):
        out.append(Problem("grafit.views", f"grafit.views: must be >= 2 for method grafit "
                                           f"(instance loss), got {views}"))  # fmt: skip
    teacher = cfg["distill"]["teacher"]
    if cfg["method"] == "deit" and teacher is None and _ok(bad, "method", "distill.teacher"):
        out.append(Problem("distill.teacher", "distill.teacher: required for method deit (a "
                                              "taxovit training checkpoint or a model file "
                                              "trained on the same classes)"))  # fmt: skip
    return out


def _check_model(cfg: dict[str, Any], bad: set[str]) -> list[Problem]:
    """``model.overrides`` keys and values, and the resulting architecture."""
    m, out = cfg["model"], []
    if not _ok(bad, "model.overrides", "method"):
        return out
    transfg = cfg["method"] == "transfg"
    allowed = [k for k in OVERRIDE_RULES if transfg or k not in TRANSFG_ONLY]
    for key, value in m["overrides"].items():
        where = f"model.overrides.{key}"
        if key not in allowed:
            out.append(Problem(where, f"{where}: not an argument of the "
                                      f"{'TransFG' if transfg else 'ViT'} model (allowed: "
                                      f"{', '.join(allowed)})"))  # fmt: skip
            continue
        try:
            m["overrides"][key] = OVERRIDE_RULES[key].clean(value)
        except Bad:
            out.append(Problem(where, f"{where}: expected {OVERRIDE_RULES[key].expected}, "
                                      f"got {show(value)}"))  # fmt: skip
    if out or not _ok(bad, "model.preset"):
        return out
    if m["preset"] == "auto":
        return _check_auto(m, bad)
    size = dict(zip(("embed_dim", "num_heads", "depth"), PRESET_SIZES[m["preset"]], strict=True))
    size.update({k: v for k, v in m["overrides"].items() if k in size})
    if size["embed_dim"] % size["num_heads"]:
        out.append(Problem("model.overrides", f"model: embed_dim {size['embed_dim']} is not "
                                              f"divisible by num_heads {size['num_heads']}"))
    if transfg and size["depth"] < 2:
        out.append(Problem("model.overrides.depth",
                           "model.overrides.depth: method transfg needs depth >= 2"))
    return out


def _check_auto(m: dict[str, Any], bad: set[str]) -> list[Problem]:
    """``model.preset: auto`` reads the architecture from ``model.pretrained``: required."""
    if m["pretrained"] is None and _ok(bad, "model.pretrained"):
        return [Problem("model.pretrained", "model.pretrained: required with model.preset auto "
                                            "(the checkpoint the architecture is read from)")]
    return []


def _check_data(cfg: dict[str, Any], bad: set[str]) -> list[Problem]:
    d, m, out = cfg["data"], cfg["model"], []
    for key in ("patch_size", "stride"):
        v = m[key]
        if v is not None and _ok(bad, f"model.{key}", "data.img_size") and v > d["img_size"]:
            out.append(Problem(f"model.{key}", f"model.{key}: {v} is larger than "
                                               f"data.img_size {d['img_size']}"))  # fmt: skip
    return out


def _check_augment(cfg: dict[str, Any], bad: set[str]) -> list[Problem]:
    a, n, out = cfg["augment"], cfg["data"]["in_chans"], []
    for key in ("mean", "std"):
        v = a[key]
        if v is not None and _ok(bad, f"augment.{key}", "data.in_chans") and len(v) != n:
            out.append(Problem(f"augment.{key}", f"augment.{key}: expected {n} value(s), one "
                                                 f"per channel (data.in_chans), got {len(v)}"))
    return out


def _check_optim(cfg: dict[str, Any], bad: set[str]) -> list[Problem]:
    o, out = cfg["optim"], []
    if _ok(bad, "optim.lr", "optim.min_lr") and o["min_lr"] > o["lr"]:
        out.append(Problem("optim.min_lr", f"optim.min_lr: {o['min_lr']} is above optim.lr "
                                           f"{o['lr']}"))  # fmt: skip
    n = o["freeze_epochs"]
    if _ok(bad, "optim.freeze_epochs", "optim.epochs") and n and n >= o["epochs"]:
        out.append(Problem("optim.freeze_epochs", f"optim.freeze_epochs: {n} leaves no epoch "
                                                  f"with the backbone trained (optim.epochs "
                                                  f"{o['epochs']}); expected fewer"))  # fmt: skip
    return out
