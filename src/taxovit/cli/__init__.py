"""The ``taxovit`` command line: ``evaluate``, ``compare``, ``leaderboard``, ``decide``,
``taxonomy info|validate|convert``, ``train``, ``predict``.

The commands only parse options, call the library and print. Every input problem is one
message naming the file, line and column, with exit status 2 and nothing written: outputs
are computed in full first, then each file is written atomically. :func:`handle_errors` is
the one place that turns a library error into that message.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from taxovit.cli._process import tune_process

tune_process()  # before numpy is imported: memory settings of a one-shot command

import typer  # noqa: E402

from taxovit.errors import ArgumentError, TaxovitError  # noqa: E402

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "app",
    "as_typed",
    "err_console",
    "fail",
    "handle_errors",
    "main",
    "out_console",
    "rich_console",
    "status",
    "taxonomy_app",
]

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


class _LazyConsole:
    """A ``rich.console.Console(**options)`` made on first use: importing rich costs
    0.02 s, and a run that prints nothing through rich (``--format json`` to stdout or a
    file, no terminal) need not pay it."""

    def __init__(self, **options: Any) -> None:
        self._lazy_options = options
        self._lazy_console: Console | None = None

    def rich_console(self) -> Console:
        """The console itself (for rich objects that take one, e.g. ``Progress``)."""
        if self._lazy_console is None:
            from rich.console import Console

            self._lazy_console = Console(**self._lazy_options)
        return self._lazy_console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich_console(), name)


out_console: Console = _LazyConsole(highlight=False)  # type: ignore[assignment]
err_console: Console = _LazyConsole(stderr=True, highlight=False)  # type: ignore[assignment]


def rich_console(console: Console) -> Console:
    """The rich ``Console`` behind :data:`err_console` or :data:`out_console`, to hand to
    rich objects that use it directly (``with console:`` does not go through the proxy)."""
    return console.rich_console() if isinstance(console, _LazyConsole) else console


def _stderr_not_a_terminal() -> bool:
    """True only where rich certainly treats stderr as no terminal (and no Jupyter), so
    that its spinner would show nothing: no TTY_COMPATIBLE or FORCE_COLOR variable, and
    ``sys.stderr.isatty()`` answers False."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return False
    if hasattr(builtins, "get_ipython"):
        return False
    try:
        return sys.stderr.isatty() is False
    except Exception:  # noqa: BLE001  (rich would decide; let it)
        return False


def status(message: str) -> contextlib.AbstractContextManager[Any]:
    """``err_console.status(message, spinner="dots")``; where stderr is no terminal the
    spinner shows nothing (rich draws a transient status only on a terminal), so there it
    is skipped without importing rich."""
    if _stderr_not_a_terminal():
        return contextlib.nullcontext()
    return err_console.status(message, spinner="dots")


F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr; return the exit (status 2) to raise."""
    from rich.markup import escape  # a message's brackets ("taxovit[report]") are text

    err_console.print(
        f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    return typer.Exit(code=2)


def as_typed(message: str) -> str:
    """``message`` of the library's :class:`~taxovit.errors.ArgumentError`, with each Python
    argument name of the running command (``top_k``, ``min_rank``) written as the option the
    user typed (``--top-k``, ``--min-rank``). Names without an underscore are common words
    and are kept, except as ``name=``."""
    try:
        from typer._click.globals import get_current_context  # typer >= 0.29 vendors click
    except ImportError:  # pragma: no cover
        from click import get_current_context

    ctx = get_current_context(silent=True)
    for param in ctx.command.params if ctx is not None else ():
        name, opts = param.name, [o for o in param.opts if o.startswith("--")]
        if name and opts:
            # a whole word, not part of a path or file name (``data/top_k.csv``)
            pattern = (
                rf"(?<![\w\-/.]){name}(?![\w\-/]|\.\w)" if "_" in name else rf"(?<![\w\-/.]){name}="
            )
            message = re.sub(pattern, opts[0] + ("" if "_" in name else " "), message)
    return message


def handle_errors(command: F) -> F:
    """Run ``command``; a :class:`TaxovitError` (bad input) becomes :func:`fail`, an
    :class:`~taxovit.errors.ArgumentError` naming the options as typed (:func:`as_typed`)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ArgumentError as exc:
            raise fail(as_typed(str(exc))) from None
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
from taxovit.cli import leaderboard as _leaderboard  # noqa: E402, F401
from taxovit.cli import metrics as _metrics  # noqa: E402, F401
from taxovit.cli import taxonomy as _taxonomy  # noqa: E402, F401
from taxovit.cli import train as _train  # noqa: E402, F401
