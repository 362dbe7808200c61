"""Renderers for an :class:`~taxovit.evaluation.EvaluationReport`: table, JSON, CSV, markdown.

:func:`render` chooses one by name (:data:`RENDER_FORMATS`); :func:`per_class_csv` writes
the per-class table; :func:`build_table` is the rich view the CLI prints to a terminal (with
the report's notes, why some metrics are null, under the tables).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from taxovit.evaluation.report import EvaluationReport
from taxovit.metrics import table as metric_table

if TYPE_CHECKING:  # rich is imported by the table view only (not for JSON, CSV, markdown)
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

RENDER_FORMATS = ("table", "json", "csv", "markdown")


def _rows(group: str) -> list[tuple[str, str]]:
    """(key, label) of the table view's section ``group``, from the metric table; families
    (``top{k}_accuracy``) are expanded by :func:`build_table`."""
    return [
        (m.key, m.label)
        for m in metric_table.METRICS
        if m.group == group and m.shown and not m.params
    ]


# Display order and labels for the table view: the metric table's (taxovit.metrics.table)
FLAT_ROWS = _rows("flat")
HIER_ROWS = _rows("hierarchical")
CAL_ROWS = _rows("calibration")
CAL_KEYS = tuple(k for k, _ in CAL_ROWS)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (the JSON report never holds NaN)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):  # numpy scalars
        return _clean(obj.item())
    return obj


def render_json(report: EvaluationReport, extra: dict[str, Any] | None = None) -> str:
    obj = report.to_dict()
    if extra:
        obj = {**obj, **extra}
    return json.dumps(_clean(obj), indent=2, allow_nan=False) + "\n"


def render_csv(report: EvaluationReport) -> str:
    return report.to_frame().to_csv(index=False, lineterminator="\n", float_format="%.10g")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 2):
        return f"{int(v):,}"
    return f"{v:.4f}"


def render_markdown(report: EvaluationReport) -> str:
    frame = report.to_frame()
    cols = [c for c in ("group", "metric", "value", "ci_low", "ci_high") if c in frame]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame[cols].itertuples(index=False):
        cells = [x if isinstance(x, str) else _fmt(x) for x in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _metric_table(
    title: str, rows: list[tuple[str, str]], report: EvaluationReport
) -> Table | None:
    from rich import box
    from rich.table import Table

    ci = report.intervals is not None
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if ci:
        level = report.bootstrap["ci"] if report.bootstrap else 0.95
        table.add_column(f"{level:.0%} CI", justify="right")
    shown = 0
    for key, label in rows:
        val = report.metrics.get(key)
        if val is None and key.startswith(("map_", "top", *CAL_KEYS)):
            continue  # score-based keys when the file has no scores
        cells = [label, _fmt(val)]
        if ci:
            lo_hi = report.intervals.get(key) if report.intervals else None
            cells.append(f"{_fmt(lo_hi[0])} – {_fmt(lo_hi[1])}" if lo_hi else "")
        table.add_row(*cells)
        shown += 1
    return table if shown else None


def build_table(report: EvaluationReport, title: str = "") -> Group:
    from rich.console import Group
    from rich.text import Text

    m = report.metrics
    ks = sorted(
        int(k[3:-9])
        for k in m
        if k.startswith("top") and k.endswith("_accuracy") and m[k] is not None
    )
    flat_rows = list(FLAT_ROWS)
    hier_rows = list(HIER_ROWS)
    for k in reversed(ks):  # the k-families, labelled by the table
        flat_rows.insert(1, (f"top{k}_accuracy", metric_table.label(f"top{k}_accuracy")))
    for k in ks:
        for key in (f"avg_hierarchical_distance_at_{k}", f"avg_hierarchical_distance_at_{k}_depth"):
            hier_rows.append((key, metric_table.label(key)))
    head = Text(
        f"{title}{m['n_samples']:,} samples, {m['n_mistakes']:,} mistakes · "
        f"{report.taxonomy['kind']} of {report.taxonomy['nodes']:,} nodes, depth "
        f"{report.taxonomy['max_depth']}",
        style="bold",
    )
    parts: list[Any] = [head]
    for t in (
        _metric_table("Flat (labels as atomic classes)", flat_rows, report),
        _metric_table("Hierarchical", hier_rows, report),
    ):
        if t is not None:
            parts.append(t)
    for t in (
        _metric_table("Calibration (of the score columns' probabilities)", CAL_ROWS, report),
        _rank_table(report),
        _depth_table(m),
    ):
        if t is not None:
            parts.append(t)
    if report.sections:
        from taxovit.evaluation.sections_render import section_tables

        parts.extend(section_tables(report))
    if report.notes:
        parts.append(_notes_text(report.notes))
    return Group(*parts)


def _rank_table(report: EvaluationReport) -> Table | None:
    """Per rank: samples, accuracy (with its interval), macro P/R/F1, and with scores the
    top-1 accuracy and ECE of the rank's marginal probabilities."""
    if not report.per_rank:
        return None
    from rich import box
    from rich.table import Table

    marginal = any("top1_accuracy" in r for r in report.per_rank.values())
    ci = bool(report.intervals) and any(
        f"per_rank/{r}/accuracy" in report.intervals for r in report.per_rank
    )
    # short headers, one padding space: fits 80 columns (the caption spells them out)
    rt = Table(
        title="Per rank",
        box=box.SIMPLE_HEAVY,
        title_justify="left",
        title_style="bold",
        padding=(0, 0, 0, 1),
        caption_justify="left",
        caption_style="dim",
        caption="n: samples; P, R, F1: macro averages over the rank's taxa"
        + ("\ntop-1, ECE: of the rank's marginal probabilities" if marginal else ""),
    )
    cols = ["rank", "n", "accuracy", *(["CI"] if ci else []), "P", "R", "F1"]
    cols += ["top-1", "ECE"] if marginal else []
    for col in cols:
        rt.add_column(col, justify="left" if col == "rank" else "right", no_wrap=col != "rank")
    for rank, r in report.per_rank.items():
        cells = [rank, f"{r['n_samples']:,}", _fmt(r.get("accuracy"))]
        if ci:
            lo_hi = report.intervals.get(f"per_rank/{rank}/accuracy")
            cells.append(f"{lo_hi[0]:.3f}–{lo_hi[1]:.3f}" if lo_hi else "")
        cells += [
            _fmt(r.get("precision_macro")),
            _fmt(r.get("recall_macro")),
            _fmt(r.get("f1_macro")),
        ]
        if marginal:
            cells += [_fmt(r.get("top1_accuracy")), _fmt(r.get("ece"))]
        rt.add_row(*cells)
    return rt


def _depth_table(m: dict[str, Any]) -> Table | None:
    levels = m.get("per_level_accuracy")
    if not levels:
        return None
    from rich import box
    from rich.table import Table

    lt = Table(title="Per depth", box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    lt.add_column("depth")
    lt.add_column("accuracy", justify="right")
    for d, v in levels.items():
        lt.add_row(d, _fmt(v))
    return lt


def _notes_text(notes: dict[str, str]) -> Text:
    """The reasons for the metrics not shown, one line per reason."""
    from rich.text import Text

    by_reason: dict[str, list[str]] = {}
    for key, why in notes.items():
        by_reason.setdefault(why, []).append(key)
    text = Text("Not computed\n", style="bold")
    for why, keys in by_reason.items():
        text.append(f"  {', '.join(keys)}: {why}\n")
    return text


def render_table(report: EvaluationReport, width: int = 100) -> str:
    """Plain-text rendering of the table view (for ``--output FILE``)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=_NullFile(), color_system=None)
    console.print(build_table(report))
    return console.export_text()


def per_class_csv(report: EvaluationReport) -> str:
    """The per-class table (:attr:`EvaluationReport.per_class`) as CSV text."""
    return report.per_class.to_csv(lineterminator="\n", float_format="%.10g")


def render(report: EvaluationReport, format: str, extra: dict[str, Any] | None = None) -> str:
    """The report as text in ``format`` (one of :data:`RENDER_FORMATS`).

    ``extra``: more top-level keys for the JSON report (e.g. the input files); ignored by
    the other formats.
    """
    if format not in RENDER_FORMATS:
        raise ValueError(
            f"unknown report format {format!r}; choose one of {', '.join(RENDER_FORMATS)}"
        )
    if format == "json":
        return render_json(report, extra)
    if format == "csv":
        return render_csv(report)
    if format == "markdown":
        return render_markdown(report)
    return render_table(report)


class _NullFile:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
