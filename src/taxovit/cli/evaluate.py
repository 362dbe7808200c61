"""``taxovit evaluate``: parse the options, read the inputs, call the library, write or print."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from taxovit.cli import app, err_console, handle_errors, out_console
from taxovit.evaluation.arguments import MAX_BOOTSTRAP


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


PredsArg = Annotated[Path, typer.Argument(
    help="Predictions CSV: header [bold]id,y_true,y_pred[/] then optional "
    "[bold]score_<label>[/] columns, one per class.", show_default=False,
)]  # fmt: skip
TaxonomyOpt = Annotated[Path, typer.Option(
    "--taxonomy", "-t", help="Taxonomy file (nested JSON, edge-list CSV, rank-column "
    "CSV/TSV or node-link JSON; detected from the file).", show_default=False,
)]  # fmt: skip
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write the report to this file instead of stdout.")]  # fmt: skip
PerClassOpt = Annotated[Path | None, typer.Option(
    "--per-class", help="Write the per-class table (support, P, R, F1, AP, mistake "
    "severity per true class) to this CSV.",
)]  # fmt: skip
PlotOpt = Annotated[Path | None, typer.Option(
    "--plot", help="Write PNG plots to this folder: accuracy per rank, mistake "
    "severity histogram, confusion matrix at a rank.",
)]  # fmt: skip
PlotRankOpt = Annotated[str | None, typer.Option(
    "--plot-rank", help="Rank for the confusion-matrix plot (default: the finest "
    "rank with at most 40 taxa).",
)]  # fmt: skip
TrueColOpt = Annotated[str, typer.Option("--true-col", help="Column of true labels.")]
PredColOpt = Annotated[str, typer.Option("--pred-col", help="Column of predicted labels.")]
IdColOpt = Annotated[str, typer.Option("--id-col", help="Column of sample ids (must be unique).")]
ScorePrefixOpt = Annotated[str, typer.Option(
    "--score-prefix", help="Prefix of the score columns; the rest of the "
    "column name is the class label.",
)]  # fmt: skip
TopKOpt = Annotated[list[int], typer.Option(
    "--top-k", "-k", help="k for top-k accuracy and average hierarchical distance@k "
    "(repeat the option for several).",
)]  # fmt: skip
BootstrapOpt = Annotated[int, typer.Option(
    "--bootstrap", "-b", min=0, max=MAX_BOOTSTRAP, help="Resamples for percentile "
    "confidence intervals of every metric (0 = off; 1000 is typical).",
)]  # fmt: skip
CiOpt = Annotated[float, typer.Option("--ci", min=0.5, max=0.999, help="Confidence level.")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap.")]
AddRootOpt = Annotated[bool, typer.Option(
    "--add-root", help="Join several roots of an edge-list taxonomy under a virtual root.")]  # fmt: skip


@app.command()
@handle_errors
def evaluate(
    preds: PredsArg,
    taxonomy: TaxonomyOpt,
    format: FormatOpt = OutputFormat.table,
    output: OutputOpt = None,
    per_class: PerClassOpt = None,
    plot: PlotOpt = None,
    plot_rank: PlotRankOpt = None,
    true_col: TrueColOpt = "y_true",
    pred_col: PredColOpt = "y_pred",
    id_col: IdColOpt = "id",
    score_prefix: ScorePrefixOpt = "score_",
    top_k: TopKOpt = [1, 5],  # noqa: B006  (typer reads the default from here)
    bootstrap: BootstrapOpt = 0,
    ci: CiOpt = 0.95,
    seed: SeedOpt = 0,
    add_root: AddRootOpt = False,
) -> None:
    """Evaluate predictions against a taxonomy: flat, hierarchical and per-rank metrics.

    [bold]Examples[/]

      taxovit evaluate examples/birds_preds.csv --taxonomy taxonomies/birds.json

      taxovit evaluate preds.csv -t birds.json --format json -o report.json --bootstrap 1000

      taxovit evaluate preds.csv -t birds.json --per-class classes.csv --plot plots/

      taxovit evaluate out.csv -t tax.csv --true-col label --pred-col guess --score-prefix p_

    Definitions of every metric: shared/docs/metrics.md (README: "Metrics").
    Exit status 2 on bad input, with the file, line and column named; nothing is written then.
    """
    from taxovit._outputs import OutputPlan
    from taxovit.evaluation.plots import check_plot_rank, plot_names
    from taxovit.predictions import read_predictions
    from taxovit.taxonomy import load_taxonomy

    # every output location is checked before any input is read or anything written
    plan = OutputPlan({"predictions file": preds, "--taxonomy": taxonomy})
    outs = {"report": plan.file("--output", output) if output is not None else None,
            "per_class": plan.file("--per-class", per_class) if per_class is not None else None}
    plot_dir = plan.folder("--plot", plot) if plot is not None else None
    with err_console.status(f"loading {taxonomy}", spinner="dots"):
        tax = load_taxonomy(taxonomy, add_root=add_root)
    check_plot_rank(tax, plot_rank, str(taxonomy))
    plots = {name: plan.file("--plot", plot_dir / name, stdout_ok=False)
             for name in (plot_names(tax, plot_rank) if plot_dir is not None else [])}
    with err_console.status(f"reading {preds}", spinner="dots"):
        data = read_predictions(preds, tax.name_to_id, id_col=id_col, true_col=true_col,
                                pred_col=pred_col, score_prefix=score_prefix)  # fmt: skip
    report = _run_evaluation(data, tax, top_k, bootstrap, ci, seed)
    contents, stdout_text = _contents(report, tax, outs, plots, format, plot_rank,
                                      {"predictions": str(preds), "taxonomy": str(taxonomy)})
    plan.write(contents)
    n_plots = sum(out in contents for out in plots.values())
    _print_summary(report, preds, format, outs, plot_dir, n_plots, stdout_text)


def _run_evaluation(data, tax, top_k, bootstrap, ci, seed):
    """``taxovit.evaluate`` with a spinner, or a progress bar over the bootstrap resamples."""
    from taxovit.evaluation import evaluate as run

    kwargs: dict[str, Any] = dict(
        score_labels=data.score_labels if data.scores is not None else None,
        top_k=top_k, bootstrap=bootstrap, ci=ci, seed=seed,
    )  # fmt: skip
    if bootstrap <= 0:
        with err_console.status("evaluating", spinner="dots"):
            return run(data.y_true, data.y_pred, tax, data.scores, **kwargs)
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    columns = ("[progress.description]{task.description}", BarColumn(),
               "{task.completed}/{task.total}", TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("bootstrap", total=bootstrap)
        advance = lambda k: progress.advance(task, k)  # noqa: E731
        return run(data.y_true, data.y_pred, tax, data.scores, progress=advance, **kwargs)


def _contents(report, tax, outs, plots, format, plot_rank, inputs) -> tuple[dict, str | None]:
    """Everything is computed; render each requested output (nothing is written yet), and
    the report for standard output when there is no --output."""
    from taxovit.evaluation.render import per_class_csv, render

    contents = {}
    if outs["per_class"] is not None:
        contents[outs["per_class"]] = per_class_csv(report)
    if plots:
        from taxovit.evaluation.plots import draw_plots

        for name, png in draw_plots(report, tax, plot_rank).items():
            contents[plots[name]] = png
    stdout_text = None
    if outs["report"] is not None:
        contents[outs["report"]] = render(report, format.value, {"input": inputs})
    elif format is not OutputFormat.table:
        stdout_text = render(report, format.value, {"input": inputs})
    return contents, stdout_text


def _print_summary(report, preds, format, outs, plot_dir, n_plots, stdout_text) -> None:
    """The table on a terminal, or plain text on stdout, and what was written (stderr)."""
    from taxovit.evaluation.render import build_table

    if stdout_text is not None:
        sys.stdout.write(stdout_text)
    elif outs["report"] is None:
        out_console.print(build_table(report, title=f"{preds.name}: "))
    if plot_dir is not None:
        err_console.print(f"wrote {n_plots} plots to {plot_dir}")
    if outs["report"] is not None and outs["report"].kind != "stdout":
        err_console.print(f"wrote {format.value} report to {outs['report'].shown}")

