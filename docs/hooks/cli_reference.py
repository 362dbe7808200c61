"""MkDocs hook: ``<!-- cli: evaluate -->`` in a page becomes the option table of that
command, generated from the typer application itself (the one source of every option's
name, type, default and help; ``taxovit COMMAND --help`` prints the same)."""

from __future__ import annotations

import enum
import re
import typing
from typing import Any

_MARK = re.compile(r"<!-- cli: ([a-z ]+) -->")
_RICH = re.compile(r"\[/?[a-z ]*\]")  # rich markup such as [bold] ... [/]


def _command(path: str) -> Any:
    from typer.main import get_command

    from taxovit.cli import app

    cmd = get_command(app)
    for name in path.split():
        cmd = cmd.commands[name]
    return cmd


def _type(param: Any) -> str:
    descriptor = getattr(param, "type_descriptor", None)  # typer >= 0.29; click's type before
    if descriptor is None:
        return getattr(getattr(param, "type", None), "name", "")
    annotation = descriptor.annotation
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation)
        suffix = " (repeatable)"
    else:
        suffix = ""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        name = " \\| ".join(f"`{m.value}`" for m in annotation)
    elif getattr(param, "is_flag", False):
        name = "flag"
    else:
        name = getattr(annotation, "__name__", str(annotation)).replace("Path", "path")
    return name + suffix


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if value is None or getattr(param, "is_flag", False) and value is False:
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(_RICH.sub("", text or "").split()).replace("|", "\\|")


def option_table(path: str) -> str:
    """The Markdown table of ``taxovit <path>``'s arguments and options."""
    cmd = _command(path)
    rows = ["| argument / option | type | default | what |", "| --- | --- | --- | --- |"]
    for p in cmd.params:  # --help is not among them
        names = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        if p.param_type_name == "argument":
            names = f"`{p.name.upper()}`"
        rows.append(f"| {names} | {_type(p)} | {_default(p)} | {_cell(p.help)} |")
    doc = _cell((cmd.help or "").split("\n\n")[0])
    return f"`taxovit {path}`: {doc}\n\n" + "\n".join(rows)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Option tables for ``<!-- cli: ... -->``; the metric table (``taxovit metrics
    --markdown``, from :mod:`taxovit.metrics.table`) for ``<!-- metric-table -->``."""
    if "<!-- metric-table -->" in markdown:
        from taxovit.metrics.table import markdown as metric_table

        markdown = markdown.replace("<!-- metric-table -->", metric_table())
    return _MARK.sub(lambda m: option_table(m.group(1)), markdown)
