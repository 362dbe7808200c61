"""Error types. Every user-facing error says where (file, row, column) and what was expected."""

from __future__ import annotations


class TaxovitError(Exception):
    """Base class: the CLI turns any of these into one message and exit status 2."""


class ArgumentError(TaxovitError, ValueError):
    """An argument or option value that is not allowed (a ``ValueError`` too, so Python
    callers can catch either). The message names the argument and what was expected."""


class UnknownLabelError(TaxovitError, KeyError):
    """A label that is not a node of the taxonomy (a ``KeyError`` too)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class TaxonomyError(TaxovitError):
    """The taxonomy is not a valid single-rooted DAG (cycle, several roots, bad names...)."""


class InputError(TaxovitError):
    """A problem in an input file, located as precisely as we can.

    ``row`` is the 1-based line number in the file (the header is line 1), ``column`` the
    column's name as written in the header.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"line {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return (", ".join(where) + ": " if where else "") + self.message


class ModelFileError(InputError, ValueError):
    """A model or checkpoint file that cannot be read safely (foreign, truncated, a header
    that does not fit the file, objects that would need pickle). Names the file; a
    ``ValueError`` too, so Python callers can catch either."""
