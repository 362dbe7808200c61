"""Checking a user config into a typed :class:`~taxovit.training.run.schema.Config`:
:func:`validate` returns the config plus *every* problem found (key path and what was
expected), so a config is reported in one go; the checks across keys are here, in the
sections (:meth:`~taxovit.training.run.rules.Section.problems`) and in the methods
(:meth:`~taxovit.training.methods.base.Method.check`).

Torch-free: the model facts are data of :mod:`taxovit.models.presets`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from taxovit.models.presets import ARCH_ONLY_ARGUMENTS, ARCH_TITLES, PRESETS
from taxovit.training.run.rules import (
    Bad,
    Problem,
    Rule,
    Section,
    boolean,
    choice,
    integer,
    number,
    ok,
    show,
)
from taxovit.training.run.schema import Config, TopConfig, section_classes

__all__ = ["OVERRIDE_RULES", "validate"]

_OPEN_FRACTION = number(0, 1, hi_open=True)


#: ``model.overrides``: the ViT / TransFG constructor arguments a config may set (the others
#: come from ``data`` and ``model``); the ones of one architecture only are
#: :data:`taxovit.models.presets.ARCH_ONLY_ARGUMENTS`
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


# ------------------------------------------------------------------------------ validation
def validate(user: Mapping[str, Any]) -> tuple[Config, list[Problem]]:
    """The defaults updated by ``user``, typed and normalised; and every problem, in order."""
    problems: list[Problem] = []
    top = _merge(
        TopConfig,
        {k: v for k, v in user.items() if not _is_section(k)},
        "",
        problems,
        known=_known(),
    )
    sections = {}
    for name, cls in section_classes().items():
        value = user.get(name)
        if value is not None and not isinstance(value, Mapping):
            problems.append(Problem(name, f"{name!r} must be a mapping, got {show(value)}"))
            value = None
        sections[name] = _merge(cls, value or {}, name + ".", problems)
    cfg = Config(top, sections)
    bad = {p.path for p in problems}
    problems += _check_required(cfg, bad) + _check_model(cfg, bad) + _check_data(cfg, bad)
    problems += _check_augment(cfg, bad)
    for section in sections.values():
        problems += section.problems(bad)
    if ok(bad, "method"):
        problems += cfg.method_class.check(cfg, bad)
    return cfg, problems


def _known() -> list[str]:
    return [*(f.name for f in dataclasses.fields(TopConfig)), *section_classes()]


def _is_section(name: Any) -> bool:
    return isinstance(name, str) and name in section_classes()


def _merge(
    cls: type[Section],
    upd: Mapping[str, Any],
    where: str,
    problems: list[Problem],
    known: list[str] | None = None,
) -> Any:
    """An instance of ``cls`` with the keys of ``upd`` checked by their rules (a bad value
    keeps the default and is a problem)."""
    rules = {name: rule for name, rule, _ in cls.rules()}
    values = {}
    for k, value in upd.items():
        key_path = f"{where}{k}"
        if not isinstance(k, str) or k not in rules:
            names = ", ".join(sorted(known or rules))
            problems.append(Problem(key_path, f"unknown key {key_path!r} (known: {names})"))
            continue
        try:
            values[k] = copy.deepcopy(rules[k].clean(value))
        except Bad:
            problems.append(
                Problem(key_path, f"{key_path}: expected {rules[k].expected}, got {show(value)}")
            )
    return cls(**values)


def _check_required(cfg: Config, bad: set[str]) -> list[Problem]:
    if cfg.taxonomy is None and ok(bad, "taxonomy"):
        return [Problem("taxonomy", "taxonomy: required (the path to the taxonomy file)")]
    return []


def _check_model(cfg: Config, bad: set[str]) -> list[Problem]:
    """``model.overrides`` keys and values for the method's architecture, and the
    resulting width / heads."""
    m, out = cfg.model, []
    if not ok(bad, "model.overrides", "method"):
        return out
    arch = cfg.method_class.arch
    others = {k for a, keys in ARCH_ONLY_ARGUMENTS.items() if a != arch for k in keys}
    allowed = [k for k in OVERRIDE_RULES if k not in others]
    for name, value in m.overrides.items():
        where = f"model.overrides.{name}"
        if name not in allowed:
            out.append(
                Problem(
                    where,
                    f"{where}: not an argument of the {ARCH_TITLES[arch]} "
                    f"model (allowed: {', '.join(allowed)})",
                )
            )
            continue
        try:
            m.overrides[name] = OVERRIDE_RULES[name].clean(value)
        except Bad:
            out.append(
                Problem(
                    where, f"{where}: expected {OVERRIDE_RULES[name].expected}, got {show(value)}"
                )
            )
    if out or not ok(bad, "model.preset"):
        return out
    if m.preset == "auto":
        if m.pretrained is None and ok(bad, "model.pretrained"):
            out.append(
                Problem(
                    "model.pretrained",
                    "model.pretrained: required with model."
                    "preset auto (the checkpoint the "
                    "architecture is read from)",
                )
            )
        return out
    size = PRESETS[m.preset]._asdict()
    size.update({k: v for k, v in m.overrides.items() if k in size})
    if size["embed_dim"] % size["num_heads"]:
        out.append(
            Problem(
                "model.overrides",
                f"model: embed_dim {size['embed_dim']} is not "
                f"divisible by num_heads {size['num_heads']}",
            )
        )
    return out


def _check_data(cfg: Config, bad: set[str]) -> list[Problem]:
    d, m, out = cfg.data, cfg.model, []
    for name in ("patch_size", "stride"):
        v = getattr(m, name)
        if v is not None and ok(bad, f"model.{name}", "data.img_size") and v > d.img_size:
            out.append(
                Problem(
                    f"model.{name}", f"model.{name}: {v} is larger than data.img_size {d.img_size}"
                )
            )
    return out


def _check_augment(cfg: Config, bad: set[str]) -> list[Problem]:
    a, n, out = cfg.augment, cfg.data.in_chans, []
    for name in ("mean", "std"):
        v = getattr(a, name)
        if v is not None and ok(bad, f"augment.{name}", "data.in_chans") and len(v) != n:
            out.append(
                Problem(
                    f"augment.{name}",
                    f"augment.{name}: expected {n} value(s), one "
                    f"per channel (data.in_chans), got {len(v)}",
                )
            )
    return out
