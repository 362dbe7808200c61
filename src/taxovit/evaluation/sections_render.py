"""Terminal tables of the report's optional sections (``subset``, ``costs``, ...): one
table per section, its scalar entries as rows, nested dicts as a row each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from taxovit.evaluation.report import EvaluationReport

__all__ = ["section_tables"]

TITLES = {
    "subset": "Subset (only these classes evaluated)",
    "costs": "Costs",
    "long_tail": "Long tail (by training images of the true class)",
    "confused_pairs": "Most-confused pairs",
    "abstention": "Abstention (risk-coverage, back-off)",
    "novel": "Novel taxa (open set)",
}


def _cell(v: Any) -> str:
    if isinstance(v, list):
        return f"{len(v)} points (JSON report)"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _new_table(title: str) -> Table:
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")


def _table(name: str, section: dict[str, Any]) -> list[Table]:
    """The scalar entries as rows; dict entries sharing their keys (e.g. one per bucket or
    group) as a grid, a row each; other dicts as one row of ``key value`` pairs."""
    grid = {
        k: v
        for k, v in section.items()
        if isinstance(v, dict) and v and all(not isinstance(x, dict | list) for x in v.values())
    }
    by_shape: dict[tuple[str, ...], list[str]] = {}
    for k, v in grid.items():
        by_shape.setdefault(tuple(v), []).append(k)
    shape, members = max(by_shape.items(), key=lambda kv: len(kv[1]), default=((), []))
    grid = {k: grid[k] for k in members} if len(members) >= 2 else {}
    table = _new_table(TITLES.get(name, name))
    table.add_column("")
    table.add_column("value", justify="right")
    lists = [
        _list_table(k, v)
        for k, v in section.items()
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
    ]
    for key, v in section.items():
        if key in grid or (isinstance(v, list) and v and isinstance(v[0], dict)):
            continue
        if isinstance(v, dict) and v and all(isinstance(x, list) for x in v.values()):
            v = f"{len(next(iter(v.values())))} points of {', '.join(v)} (JSON report)"
        elif isinstance(v, dict):
            v = ", ".join(f"{k} {_cell(x)}" for k, x in v.items())
        table.add_row(key.replace("_", " "), _cell(v))
    if not grid:
        return [table, *lists]
    cols = shape
    g = _new_table("")
    g.add_column("")
    for c in cols:
        g.add_column(c.replace("_", " "), justify="right")
    for key, v in grid.items():
        g.add_row(key, *(_cell(v[c]) for c in cols))
    return [table, g, *lists]


def _list_table(name: str, rows: list[dict[str, Any]]) -> Table:
    """A list of records (e.g. the confused pairs) as a grid, a record per row."""
    g = _new_table(name.replace("_", " "))
    cols = list(rows[0])
    for c in cols:
        g.add_column(
            c.replace("_", " "), justify="left" if isinstance(rows[0][c], str) else "right"
        )
    for r in rows:
        g.add_row(*("" if r.get(c) is None else _cell(r.get(c)) for c in cols))
    return g


def _interval_cell(row: dict[str, Any], key: str) -> str:
    if row.get(key) is None:
        return ""
    ci = row.get(f"{key}_ci")
    return _cell(row[key]) + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci else "")


def _slice_tables(section: dict[str, Any]) -> list[Table]:
    """Per grouping column: its groups (intervals beside the values, small groups flagged)
    and the worst and best group."""
    from taxovit.evaluation.slices import HEADLINE

    out = []
    for column, s in section.items():
        rows = s["summary"]
        keys = [k for k in HEADLINE if any(r.get(k) is not None for r in rows)]
        g = _new_table(f"Slices by {column} (groups under {s['min_support']} samples: small)")
        for c in ("group", "samples", *keys, ""):
            g.add_column(c.replace("_", " "), justify="left" if c in ("group", "") else "right")
        for r in rows:
            g.add_row(
                r["group"],
                _cell(r["n_samples"]),
                *(_interval_cell(r, k) for k in keys),
                "small" if r["small"] else "",
            )
        for end in ("worst", "best"):  # per metric: its worst / best group (not small)
            sp = s["spread"]
            g.add_row(
                f"{end} group",
                "",
                *(
                    f"{sp[k][end]['group']}: {_cell(sp[k][end]['value'])}" if k in sp else ""
                    for k in keys
                ),
                "",
                style="italic",
            )
        out.append(g)
    return out


def section_tables(report: EvaluationReport) -> list[Table]:
    """The tables of each section of ``report.sections``, in their order."""
    return [
        t
        for name, s in report.sections.items()
        if isinstance(s, dict)
        for t in (_slice_tables(s) if name == "slices" else _table(name, s))
    ]
