"""The ``taxovit`` command line: ``evaluate``, ``compare``, ``decide``,
``taxonomy info|validate|convert``, ``train``, ``predict``.

The commands only parse options, call the library and print. Every input problem is one
message naming the file, line and column, with exit status 2 and nothing written: outputs
are computed in full first, then each file is written atomically. :func:`handle_errors` is
the one place that turns a library error into that message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from taxovit.errors import TaxovitError

__all__ = ["app", "err_console", "fail", "handle_errors", "main", "out_console", "taxonomy_app"]

app = typer.Typer(
    name="taxovit",
    help="Taxonomy-aware evaluation of classifiers, and fine-grained ViT training.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
taxonomy_app = typer.Typer(help="Inspect, check and convert taxonomy files.", no_args_is_help=True)
app.add_typer(taxonomy_app, name="taxonomy")

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr; return the exit (status 2) to raise."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def handle_errors(command: F) -> F:
    """Run ``command``; a :class:`TaxovitError` (bad input) becomes :func:`fail`."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TaxovitError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def main() -> None:
    """Entry point of the ``taxovit`` script."""
    try:
        app()
    except TaxovitError as exc:  # a last guard: never a traceback for bad input
        err_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None


# The command modules register themselves on `app`; the training commands import torch only
# when they run, so `taxovit evaluate` never imports it.
from taxovit.cli import compare as _compare  # noqa: E402, F401
from taxovit.cli import decide as _decide  # noqa: E402, F401
from taxovit.cli import evaluate as _evaluate  # noqa: E402, F401
from taxovit.cli import taxonomy as _taxonomy  # noqa: E402, F401
from taxovit.cli import train as _train  # noqa: E402, F401
