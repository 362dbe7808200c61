"""Renderers for a :class:`~taxovit.evaluation.compare.Comparison`: table, JSON, CSV, markdown.

A difference is marked significant when its paired-bootstrap interval excludes 0.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from taxovit.evaluation.compare import Comparison
from taxovit.evaluation.render import RENDER_FORMATS, _clean, _fmt
from taxovit.metrics.table import LOWER, NEITHER, direction

__all__ = ["comparison_frame", "render_comparison"]


def _significant(entry: dict[str, Any]) -> bool | None:
    ci = entry.get("ci")
    return None if ci is None else bool(ci[0] > 0 or ci[1] < 0)


def comparison_frame(cmp: Comparison) -> pd.DataFrame:
    """One row per compared metric: a, b, diff, ci_low, ci_high, p, significant."""
    rows = []
    for key, e in cmp.rows():
        ci = e.get("ci") or [None, None]
        sig = _significant(e)
        rows.append(
            {
                "metric": key,
                "a": e["a"],
                "b": e["b"],
                "diff": e["diff"],
                "ci_low": ci[0],
                "ci_high": ci[1],
                "p": e["p"],
                "significant": "" if sig is None else "yes" if sig else "no",
            }
        )
    return pd.DataFrame(rows)


def _mcnemar_line(name: str, m: dict[str, Any]) -> str:
    return (
        f"McNemar ({name}): right only for A {m['a_only']:,}, only for B {m['b_only']:,}, "
        f"p = {m['p']:.4g}"
    )


def _verdict(key: str, e: dict[str, Any]) -> Text:
    """B better or worse, by the direction of the key's row in the metric table."""
    if not _significant(e) or direction(key) == NEITHER:
        return Text("")
    better = (e["diff"] < 0) == (direction(key) == LOWER)
    return Text("better" if better else "worse", style="bold green" if better else "bold red")


def _p(p: float | None, b: int) -> str:
    if p is None:
        return "—"
    return f"< {1 / b:.0e}" if p == 0 and b else f"{p:.3f}"


def build_comparison_table(cmp: Comparison, title: str = "") -> Group:
    """The rich view: one row per metric, significant differences marked B better/worse."""
    level, b = cmp.bootstrap.get("ci", 0.95), cmp.bootstrap.get("resamples", 0)
    t = Table(title=f"{title}B − A", box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    t.add_column("metric", overflow="fold", min_width=12)
    for col in ("A", "B", "B − A", f"{level:.0%} CI", "p", "B is"):
        t.add_column(col, justify="left" if col == "B is" else "right", no_wrap=True)
    for key, e in cmp.rows():
        if (e["a"] is None and e["b"] is None) or key.endswith("n_samples"):
            continue
        ci = e.get("ci")
        t.add_row(
            key,
            _fmt(e["a"]),
            _fmt(e["b"]),
            _fmt(e["diff"]),
            f"{_fmt(ci[0])}…{_fmt(ci[1])}" if ci else "",
            _p(e["p"], b),
            _verdict(key, e),
        )
    lines = [Text(_mcnemar_line("accuracy", cmp.mcnemar))]
    lines += [Text(_mcnemar_line(f"{r} accuracy", v["mcnemar"])) for r, v in cmp.per_rank.items()]
    return Group(t, *lines)


def render_comparison(cmp: Comparison, format: str) -> str:
    """The comparison as text in ``format`` (one of ``RENDER_FORMATS``)."""
    if format not in RENDER_FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(RENDER_FORMATS)}")
    if format == "json":
        return json.dumps(_clean(cmp.to_dict()), indent=2, allow_nan=False) + "\n"
    frame = comparison_frame(cmp)
    if format == "csv":
        return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    if format == "markdown":
        cols = list(frame.columns)
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in frame.itertuples(index=False):
            lines.append(
                "| " + " | ".join(x if isinstance(x, str) else _fmt(x) for x in row) + " |"
            )
        return "\n".join(lines) + "\n"
    console = Console(width=120, record=True, file=_Null(), color_system=None)
    console.print(build_comparison_table(cmp))
    return console.export_text()


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
