"""Reading a YAML config strictly: duplicated keys are errors, ``1e-3`` is a number.

Torch-free. PyYAML's ``safe_load`` silently keeps the last of two equal keys (two ``optim:``
blocks lose the first) and reads ``1e-3`` as a string (YAML 1.1 floats need a dot);
:func:`read_yaml` does neither, and returns the line of every key for error messages.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["read_yaml"]

# a number with an exponent but no dot (1e-3, -2E5): YAML 1.2 reads it as a float, 1.1 not
_EXP_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


@cache
def _loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that also resolves exponent-only floats (its own resolver table)."""

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+0123456789"))
    return Loader


def _walk(node: Any, prefix: str, lines: dict[str, int], dups: list[str]) -> None:
    """Record the line of every mapping key (dotted path) and every duplicated key."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _walk(item, prefix, lines, dups)
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key, line = key_node.value, key_node.start_mark.line + 1
        if key in seen:
            dups.append(f"key {prefix + key!r} is written twice, at lines {seen[key]} and {line}")
        else:
            seen[key] = line
            lines.setdefault(prefix + key, line)
        _walk(value_node, prefix + key + ".", lines, dups)


def read_yaml(path: Path, error: type[Exception]) -> tuple[Any, dict[str, int]]:
    """The document in ``path`` and the line of each key (``"optim.lr" -> 12``); any problem
    is raised as ``error`` naming the file (and line)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read the config ({exc})") from None
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        dups: list[str] = []
        if node is not None:
            _walk(node, "", lines, dups)
        if dups:
            raise error(f"{path}: " + "; ".join(dups))
        return (loader.construct_document(node) if node is not None else None), lines
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
