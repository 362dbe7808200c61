"""Value rules for the training config: each checks a type and a range, normalises the value
(numpy scalars become python numbers, paths become strings) and says what it expected; and
:func:`key`, one config key (default, rule and one-line doc) as a dataclass field of a
:class:`Section`.

Torch-free. Used by :mod:`taxovit.training.run.schema` and the methods' config sections.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "Bad",
    "KeyOf",
    "Problem",
    "Rule",
    "Section",
    "boolean",
    "choice",
    "choices_list",
    "integer",
    "key",
    "mapping",
    "number",
    "numbers_list",
    "ok",
    "one_of",
    "path",
    "show",
    "text",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: its key path and what is wrong."""

    path: str
    text: str


def ok(bad: set[str], *paths: str) -> bool:
    """None of ``paths`` (nor a section above them) is among the key paths ``bad`` (those
    that already have a problem: a check across keys skips them)."""
    return not any(p == b or p.startswith(b + ".") for p in paths for b in bad)


class Bad(Exception):
    """A value a rule rejects."""


@dataclass(frozen=True)
class Rule:
    """``clean(value)`` returns the normalised value or raises ``Bad``; ``expected`` says
    what a good value is."""

    expected: str
    clean: Callable[[Any], Any]


def show(value: Any) -> str:
    """A short, plain rendering of a config value (never a numpy/torch repr)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if type(value) in (int, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, list | tuple) and len(value) <= 8:
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return f"a {type(value).__name__}"


def _number(v: Any) -> int | float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise Bad
    if isinstance(v, numbers.Integral):
        return int(v)
    f = float(v)
    if not math.isfinite(f):
        raise Bad
    return f


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi}"
    return ""


def _nullable(rule: Rule, null: bool) -> Rule:
    if not null:
        return rule
    return Rule(f"null or {rule.expected}", lambda v: None if v is None else rule.clean(v))


def number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    null: bool = False,
    integer: bool = False,
) -> Rule:
    """A finite number within the bounds, as a float (``integer``: an int; never a bool)."""

    def clean(v: Any) -> int | float:
        x = _number(v)
        if integer and not isinstance(x, int):
            raise Bad
        if lo is not None and (x <= lo if lo_open else x < lo):
            raise Bad
        if hi is not None and (x >= hi if hi_open else x > hi):
            raise Bad
        return x if integer else float(x)

    what = "an integer" if integer else "a number"
    return _nullable(Rule(what + _range_text(lo, hi, lo_open, hi_open), clean), null)


def integer(lo: int | None = None, hi: int | None = None, *, null: bool = False) -> Rule:
    return number(lo, hi, null=null, integer=True)


def boolean() -> Rule:
    def clean(v: Any) -> bool:
        if not isinstance(v, bool):
            raise Bad
        return v

    return Rule("true or false", clean)


def choice(options: tuple[str, ...], *, null: bool = False) -> Rule:
    def clean(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise Bad
        return v

    return _nullable(Rule("one of " + ", ".join(options), clean), null)


class KeyOf:
    """A rule (like :class:`Rule`) accepting a key of ``table``, read when it checks: a
    registry filled after the rule is made (a new training method) is honoured."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.table = table

    @property
    def expected(self) -> str:
        return "one of " + ", ".join(self.table)

    def clean(self, v: Any) -> str:
        if not isinstance(v, str) or v not in self.table:
            raise Bad
        return v


def one_of(values: tuple[int, ...], expected: str) -> Rule:
    """One of the integers ``values``."""

    def clean(v: Any) -> int:
        x = _number(v)
        if x not in values or not isinstance(x, int):
            raise Bad
        return x

    return Rule(expected, clean)


def text(pattern: str = r".+", expected: str = "a non-empty string", *, null: bool = False) -> Rule:
    def clean(v: Any) -> str:
        if not isinstance(v, str) or not re.fullmatch(pattern, v):
            raise Bad
        return v

    return _nullable(Rule(expected, clean), null)


def path(*, null: bool = False) -> Rule:
    def clean(v: Any) -> str:
        if not isinstance(v, str | os.PathLike) or not os.fspath(v):
            raise Bad
        return str(os.fspath(v))

    return _nullable(Rule("a path (a non-empty string)", clean), null)


def numbers_list(
    item: Rule, length: int | None = None, *, ordered: bool = False, null: bool = False
) -> Rule:
    """A list of ``length`` items (any length when None), each passing ``item``;
    ``ordered``: non-decreasing."""

    def clean(v: Any) -> list[Any]:
        if not isinstance(v, list | tuple) or (length is not None and len(v) != length):
            raise Bad
        out = [item.clean(x) for x in v]
        if not out or (ordered and any(a > b for a, b in zip(out, out[1:], strict=False))):
            raise Bad
        return out

    n = f"{length} " if length is not None else ""
    what = f"a list of {n}{item.expected.replace('a number', 'numbers')}"
    return _nullable(Rule(what + (", lo <= hi" if ordered else ""), clean), null)


def choices_list(options: tuple[str, ...]) -> Rule:
    """A non-empty list of distinct items of ``options``."""

    def clean(v: Any) -> list[str]:
        if not isinstance(v, list | tuple) or not v or len(set(map(str, v))) != len(v):
            raise Bad
        if not all(isinstance(x, str) and x in options for x in v):
            raise Bad
        return list(v)

    return Rule("a non-empty list of distinct items of " + ", ".join(options), clean)


def mapping() -> Rule:
    def clean(v: Any) -> dict[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
            raise Bad
        return dict(v)

    return Rule("a mapping", clean)


# ------------------------------------------------------------------------- typed sections
def key(default: Any, rule: Rule, doc: str, *, input_file: bool = False) -> Any:
    """One config key as a dataclass field: its ``default``, its ``rule`` (type and range)
    and a one-line ``doc`` (lists and mappings are copied for every instance);
    ``input_file``: a path the run reads (checked to exist, never written)."""
    meta = {"rule": rule, "doc": doc, "input_file": input_file}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Section:
    """Base of a config section: a dataclass whose fields are :func:`key` fields (or nested
    sections). ``name`` is the section's key in the YAML file."""

    name: ClassVar[str] = ""

    @classmethod
    def rules(cls) -> Iterator[tuple[str, Rule, str]]:
        """``(key, rule, doc)`` of every key of the section, in order."""
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            yield f.name, f.metadata["rule"], f.metadata["doc"]

    @classmethod
    def input_files(cls) -> list[str]:
        """The keys of the section that name input files (``key(..., input_file=True)``)."""
        return [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.metadata["input_file"]
        ]

    def to_dict(self) -> dict[str, Any]:
        """The section as the plain mapping a checkpoint stores."""
        return copy.deepcopy({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})  # type: ignore[arg-type]

    def problems(self, bad: set[str]) -> list[Problem]:
        """Checks across the keys of this section (``bad``: key paths already wrong)."""
        return []
