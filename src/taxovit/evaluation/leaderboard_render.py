"""Renderers for a :class:`~taxovit.evaluation.leaderboard.Leaderboard`: table, JSON, CSV,
markdown (the HTML page is :func:`taxovit.report_html.leaderboard_html`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from taxovit.evaluation.leaderboard import Leaderboard
from taxovit.evaluation.metric_info import metric_info
from taxovit.evaluation.render import RENDER_FORMATS, _clean, _fmt, _NullFile

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Group

__all__ = ["explanation", "leaderboard_frame", "render_leaderboard"]


def explanation(lb: Leaderboard) -> str:
    """What the ranking and the tests are, in one paragraph (printed under every view)."""
    t, b = lb.test, lb.bootstrap
    info = metric_info(t["metric"])
    text = f"Ranked by {info.label} ({'higher' if info.higher_is_better else 'lower'} is better)."
    if b["resamples"] and t["against"] is not None:
        text += (
            f" Paired bootstrap tests ({b['resamples']:,} resamples drawing the same rows for "
            f"every model, two-sided) of each model against the best, {t['against']}, on "
            f"{info.label}; p-values adjusted with Holm's correction for "
            f"{t['comparisons']} comparison{'s' if t['comparisons'] != 1 else ''}; "
            "significant when the adjusted p < "
            f"{t['alpha']:g}. Tier: models not significantly different from the tier's "
            f"leader; intervals: {b['ci']:.0%} percentile."
        )
    elif b["resamples"]:
        text += (
            " No tests: no run has per-sample data (saved reports only); the intervals "
            "are the reports' own."
        )
    else:
        text += " No bootstrap (--bootstrap 0): no intervals, no tests."
    return text


def leaderboard_frame(lb: Leaderboard) -> pd.DataFrame:
    """One row per model, best first: position, tier, model, each metric with its interval,
    the difference to the best on the first metric, p, Holm's p, significant."""
    import pandas as pd

    rows = []
    for r in lb.rows:
        row: dict[str, Any] = {"position": r["position"], "tier": r["tier"], "model": r["model"]}
        for k in lb.metrics:
            ci = r[f"{k}/ci"] or [None, None]
            row[k], row[f"{k}_ci_low"], row[f"{k}_ci_high"] = r[k], ci[0], ci[1]
        sig = r["significant"]
        row.update(
            {
                "diff_to_best": r["diff"],
                "p": r["p"],
                "p_holm": r["p_holm"],
                "significant": "" if sig is None else "yes" if sig else "no",
                "source": r["source"],
            }
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["tier"] = frame["tier"].astype("Int64")
    return frame


def build_leaderboard_table(lb: Leaderboard, title: str = "Leaderboard") -> Group:
    """The rich view: one row per model, each metric with its interval, p vs the best."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(
        title=title,
        box=box.SIMPLE_HEAVY,
        title_justify="left",
        title_style="bold",
        padding=(0, 0, 0, 1),
    )  # one space between columns: 4 metrics fit 80 columns
    for col in ("#", "tier", "model"):
        t.add_column(col, justify="right" if col != "model" else "left", overflow="fold")
    for k in lb.metrics:
        info = metric_info(k)
        t.add_column(
            f"{info.label} {'↑' if info.higher_is_better else '↓'}", justify="right", min_width=11
        )
    t.add_column("p (Holm)", justify="right", no_wrap=True)
    resamples = lb.bootstrap["resamples"]
    for r in lb.rows:
        cells = [str(r["position"]), "" if r["tier"] is None else str(r["tier"]), r["model"]]
        for k in lb.metrics:
            ci = r[f"{k}/ci"]
            cells.append(_fmt(r[k]) + (f"\n[dim]{ci[0]:.3f}–{ci[1]:.3f}[/]" if ci else ""))
        mark = " *" if r["significant"] else ""
        cells.append(_p(r["p_holm"], resamples) + mark)
        t.add_row(*cells, style="bold" if r["tier"] == 1 else None)
    parts: list[Any] = [t, Text(explanation(lb) + " *: significantly different from the best.")]
    parts += [Text(n, style="dim") for n in lb.notes]
    return Group(*parts)


def _p(p: float | None, resamples: int) -> str:
    """A p-value; 0 (no resample on the other side) as "< 1/B"."""
    if p is None:
        return "—"
    return f"<{1 / resamples:.0e}" if p == 0 and resamples else f"{p:.3g}"


def _cell(x: Any) -> str:
    if x is None or (isinstance(x, float) and x != x) or str(x) == "<NA>":
        return ""
    if isinstance(x, str):
        return x
    if isinstance(x, int) or (hasattr(x, "is_integer") and type(x).__name__.startswith("int")):
        return str(x)
    return _fmt(x)


def render_leaderboard(lb: Leaderboard, format: str) -> str:
    """The leaderboard as text in ``format`` (one of ``RENDER_FORMATS``)."""
    if format not in RENDER_FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(RENDER_FORMATS)}")
    if format == "json":
        return (
            json.dumps(
                _clean({**lb.to_dict(), "explanation": explanation(lb)}), indent=2, allow_nan=False
            )
            + "\n"
        )
    frame = leaderboard_frame(lb)
    if format == "csv":
        return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    if format == "markdown":
        cols = [c for c in frame.columns if c != "source"]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in frame[cols].itertuples(index=False):
            lines.append("| " + " | ".join(_cell(x) for x in row) + " |")
        return "\n".join(lines) + "\n\n" + explanation(lb) + "\n"
    from rich.console import Console

    console = Console(width=140, record=True, file=_NullFile(), color_system=None)
    console.print(build_leaderboard_table(lb))
    return console.export_text()
