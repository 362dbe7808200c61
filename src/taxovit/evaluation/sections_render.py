"""Terminal tables of the report's optional sections (``subset``, ``costs``, ...): one
table per section, its scalar entries as rows, nested dicts as a row each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from taxovit.evaluation.report import EvaluationReport

__all__ = ["section_tables"]

TITLES = {"subset": "Subset (only these classes evaluated)", "costs": "Costs",
          "novel": "Novel taxa (open set)"}


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _table(name: str, section: dict[str, Any]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=TITLES.get(name, name), box=box.SIMPLE_HEAVY, title_justify="left",
                  title_style="bold")  # fmt: skip
    table.add_column("")
    table.add_column("value", justify="right")
    for key, v in section.items():
        if isinstance(v, dict):
            v = ", ".join(f"{k} {_cell(x)}" for k, x in v.items())
        table.add_row(key.replace("_", " "), _cell(v))
    return table


def section_tables(report: EvaluationReport) -> list[Table]:
    """A table per section of ``report.sections``, in their order."""
    return [_table(name, s) for name, s in report.sections.items() if isinstance(s, dict)]
