"""``taxovit leaderboard RUN... --taxonomy T``: many models on the same samples, ranked."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from taxovit.cli import app, err_console, handle_errors, out_console, rich_console, status
from taxovit.cli._html import html_output
from taxovit.cli._options import (
    AddRootOpt,
    CiOpt,
    FormatOpt,
    HtmlOpt,
    IdColOpt,
    LabelAttrOpt,
    OutputFormat,
    OutputOpt,
    PredColOpt,
    ScorePrefixOpt,
    SeedOpt,
    TaxonomyOpt,
    TopKOpt,
    TrueColOpt,
    TruthOpt,
)
from taxovit.errors import InputError
from taxovit.evaluation.arguments import MAX_BOOTSTRAP

RunsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Two or more predictions files over the same ids and y_true (any format taxovit "
        "evaluate reads), or saved JSON reports (taxovit evaluate -f json: ranked, not tested).",
        show_default=False,
    ),
]
MetricOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--metric",
        "-m",
        help="A metric key to show (repeat; the first ranks and is tested): "
        "accuracy, f1_macro, hierarchical_f1_micro, mistake_severity, top5_accuracy, "
        "per_rank/genus/accuracy, ... Default: accuracy, f1_macro, hierarchical_f1_micro, "
        "mistake_severity.",
        show_default=False,
    ),
]
BootstrapOpt = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        "-b",
        min=0,
        max=MAX_BOOTSTRAP,
        help="Paired resamples for the intervals and the tests (0 = values only).",
    ),
]


def _load(path: Path, labels, truth, cols) -> object:
    """A saved JSON report (a .json file), or predictions in any format."""
    from taxovit.predictions import read_any

    if path.suffix.lower() != ".json":
        return read_any(path, labels, truth=truth, **cols)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read it: {exc}", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg}, line {exc.lineno}, column {exc.colno}); "
            "expected a report of taxovit evaluate -f json",
            file=str(path),
        ) from None
    if not isinstance(report, dict):
        raise InputError("not a taxovit JSON report (expected an object)", file=str(path))
    return {**report, "path": str(path)}


def _names(runs: list[Path]) -> list[str]:
    stems = [p.stem for p in runs]
    return [s if stems.count(s) == 1 else str(p) for s, p in zip(stems, runs, strict=True)]


@app.command()
@handle_errors
def leaderboard(
    runs: RunsArg,
    taxonomy: TaxonomyOpt,
    metric: MetricOpt = None,
    format: FormatOpt = OutputFormat.table,
    output: OutputOpt = None,
    html: HtmlOpt = None,
    bootstrap: BootstrapOpt = 1000,
    ci: CiOpt = 0.95,
    seed: SeedOpt = 0,
    true_col: TrueColOpt = "y_true",
    pred_col: PredColOpt = "y_pred",
    id_col: IdColOpt = "id",
    score_prefix: ScorePrefixOpt = "score_",
    top_k: TopKOpt = [1, 5],  # noqa: B006  (typer reads the default from here)
    add_root: AddRootOpt = False,
    truth: TruthOpt = None,
    label_attr: LabelAttrOpt = None,
) -> None:
    """Rank many models on the same samples: one row per model, each metric with its
    bootstrap interval, paired tests against the best model with Holm's correction, and
    tiers of models not significantly different.

    [bold]Examples[/]

      taxovit leaderboard runs/*.csv --taxonomy taxonomies/birds.json

      taxovit leaderboard a.csv b.parquet c.json -t birds.json -m mistake_severity -m accuracy

      taxovit leaderboard runs/*.csv -t birds.json -f markdown -o board.md --html board.html

    Ranked by the first --metric (its direction: lower is better for mistake severity,
    LCA height, calibration errors, ...). Each model is tested against the best on that
    metric by a paired bootstrap (the same resampled rows for every model); the p-values
    are adjusted with Holm's correction for the number of comparisons.
    """
    from taxovit._outputs import OutputPlan
    from taxovit.evaluation.arguments import check_top_k
    from taxovit.evaluation.leaderboard import DEFAULT_METRICS
    from taxovit.evaluation.leaderboard_render import build_leaderboard_table, render_leaderboard
    from taxovit.taxonomy import load_taxonomy

    plan = OutputPlan(
        {
            **{f"run {i + 1}": p for i, p in enumerate(runs)},
            "--taxonomy": taxonomy,
            "--truth": truth,
        }
    )
    outs = {
        "report": plan.file("--output", output) if output is not None else None,
        "html": html_output(plan, html),
    }
    top = check_top_k(top_k)
    tax = load_taxonomy(taxonomy, add_root=add_root)
    cols = dict(id_col=id_col, true_col=true_col, pred_col=pred_col, score_prefix=score_prefix)
    loaded = _read_runs(runs, tax, label_attr, truth, cols)
    board = _run(loaded, tax, list(metric or DEFAULT_METRICS), bootstrap, ci, seed, top)
    if _write(plan, outs, board, format.value, taxonomy):
        return
    if format is OutputFormat.table:
        out_console.print(build_leaderboard_table(board))
    else:
        sys.stdout.write(render_leaderboard(board, format.value))


def _read_runs(runs: list[Path], tax, label_attr, truth, cols) -> list[tuple[str, object]]:
    """(name, predictions or saved report) of every run; names are the file stems (the
    paths where two stems are equal)."""
    from taxovit.predictions import label_map

    labels = label_map(tax, label_attr)
    with status("reading the runs"):
        loaded = [_load(path, labels, truth, cols) for path in runs]
    return list(zip(_names(runs), loaded, strict=True))


def _write(plan, outs, board, format: str, taxonomy) -> bool:
    """Write --output and --html (all or nothing); True when standard output got one."""
    from taxovit.evaluation.leaderboard_render import render_leaderboard

    contents = {outs["report"]: render_leaderboard(board, format)} if outs["report"] else {}
    if outs["html"] is not None:
        from taxovit.report_html import leaderboard_page

        contents[outs["html"]] = leaderboard_page(
            board, {"taxonomy": str(taxonomy), **{r["model"]: r["source"] for r in board.rows}}
        )
    plan.write(contents)
    for o, what in ((outs["report"], f"{format} leaderboard"), (outs["html"], "HTML leaderboard")):
        if o is not None and o.kind != "stdout":
            err_console.print(f"wrote {what} to {o.shown}")
    return any(o is not None and (o is outs["report"] or o.kind == "stdout") for o in outs.values())


def _run(runs, tax, metrics, bootstrap, ci, seed, top):
    """The leaderboard with a progress bar over the models, then the resamples."""
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    from taxovit.evaluation.leaderboard import leaderboard as run_board

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total}",
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=rich_console(err_console), transient=True) as progress:
        task = progress.add_task("models, then resamples", total=len(runs) + bootstrap)
        return run_board(
            runs,
            tax,
            metrics=metrics,
            bootstrap=bootstrap,
            ci=ci,
            seed=seed,
            top_k=top,
            progress=lambda k: progress.advance(task, k),
        )
