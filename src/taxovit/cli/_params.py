"""Option values converted without pydantic, for a faster start.

typer 0.29 converts every option value (``str``, ``int``, ``Path``, an enum...) through a
pydantic ``TypeAdapter`` built on first use: importing pydantic and building the adapters of
``evaluate``'s 20 options cost 0.08-0.1 s of each run. :class:`FastTyper` (the CLI's
``typer.Typer``) gives each parameter a converter that handles the ordinary values itself, with typer's own functions
for paths and choices (``coerce_cli_path``, ``coerce_cli_choice``), and hands anything else
(a value it does not recognise, or any that fails a check) to typer's own conversion, so
results and error messages are typer's (tested against it in ``tests/test_cli_params.py``).
With another typer (without these internals) nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import typer.core

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path
except ImportError:  # pragma: no cover  (another typer: its own conversion throughout)
    RuntimeParam = None  # type: ignore[assignment,misc]

__all__ = ["FastCommand", "FastGroup", "FastTyper", "fast_runtime_param", "install"]

# strings converted here exactly as pydantic (lax mode) converts them; any other string
# (signs, spaces, exponents, underscores, leading zeros, non-ASCII digits) goes to typer
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})", re.ASCII)
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?", re.ASCII)

Convert = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> value; raises to hand over


class _HandOver(Exception):
    """The value is for typer's own conversion."""


def _number(kind: type, pattern: re.Pattern[str], lo: Any, hi: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is kind:
            number = value
        elif type(value) is str and pattern.fullmatch(value):
            number = kind(value)
        else:
            raise _HandOver
        if (lo is not None and not number >= lo) or (hi is not None and not number <= hi):
            raise _HandOver
        return number

    return convert


def _exact(kind: type) -> Convert:
    """A value already of type ``kind`` passes as it is; any other goes to typer."""

    def convert_exact(value: Any, param: Any, ctx: Any) -> Any:
        if type(value) is not kind:
            raise _HandOver
        return value

    return convert_exact


def _leaf(annotation: Any, info: Any) -> Convert | None:
    if annotation is bool or annotation is str:
        return _exact(annotation)
    if annotation is int or annotation is float:
        pattern = _INT if annotation is int else _FLOAT
        number = _number(annotation, pattern, info.min, info.max)
        return lambda value, param, ctx: number(value)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        choices, case_sensitive = list(annotation), info.case_sensitive
        return lambda value, param, ctx: coerce_cli_choice(
            value, choices=choices, case_sensitive=case_sensitive, ctx=ctx)  # fmt: skip
    if annotation is Path and info.path_type is None:
        def convert_path(value: Any, param: Any, ctx: Any) -> Any:
            if type(value) is str:
                value = Path(value)
            elif not isinstance(value, Path):
                raise _HandOver
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)

        return convert_path
    return None


def _converter(annotation: Any, info: Any) -> Convert | None:
    if get_origin(annotation) is list:
        (item_type,) = get_args(annotation)
        item = _leaf(item_type, info)
        if item is None:
            return None

        def convert_list(value: Any, param: Any, ctx: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise _HandOver
            return [item(v, param, ctx) for v in value]

        return convert_list
    return _leaf(annotation, info)


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _FastRuntimeParam(RuntimeParam):
        """Converts with ``convert``; typer's own conversion (built when first needed)
        takes every value that ``convert`` does not return."""

        convert: Convert
        descriptor: Any
        _typer: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.convert(value, param, ctx)
            except Exception:  # noqa: BLE001  (typer converts it, or reports the error)
                pass
            if not self._typer:
                self._typer.append(build_runtime_param(self.descriptor))
            return self._typer[0]._coerce_value(value, param=param, ctx=ctx)


def fast_runtime_param(descriptor: Any) -> Any | None:
    """The converter of a parameter's type descriptor, or None where typer's is kept."""
    if RuntimeParam is None:
        return None  # pragma: no cover
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None or info.clamp:
        return None
    convert = _converter(descriptor.annotation, info)
    if convert is None:
        return None
    return _FastRuntimeParam(parameter_info=info, annotation=descriptor.annotation,
                             convert=convert, descriptor=descriptor)  # fmt: skip


def install(params: Any) -> None:
    """Give each typer parameter in ``params`` the fast converter (once)."""
    for param in params:
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            fast = fast_runtime_param(param.type_descriptor)
            if fast is not None:
                param._runtime_param = fast


class FastCommand(typer.core.TyperCommand):
    """A typer command whose parameters (``--help`` included) convert with :func:`install`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        install(params)
        return params


class FastGroup(typer.core.TyperGroup):
    """A typer group whose parameters (``--help``) convert with :func:`install`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        install(params)
        return params


class FastTyper(typer.Typer):
    """``typer.Typer`` whose group is a :class:`FastGroup` and whose commands are
    :class:`FastCommand` unless ``cls`` says otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cls", FastGroup)
        super().__init__(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", FastCommand)
        return super().command(*args, **kwargs)
