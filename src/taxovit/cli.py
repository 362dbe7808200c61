"""The ``taxovit`` command line: ``evaluate``, ``taxonomy info|validate|convert``, ``train``, ``predict``.

Every input problem is one message naming the file, line and column, with exit status 2 and
nothing written: outputs are computed in full first, then each file is written atomically.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from taxovit.errors import TaxovitError

app = typer.Typer(
    name="taxovit",
    help="Taxonomy-aware evaluation of classifiers, and fine-grained ViT training.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
taxonomy_app = typer.Typer(
    help="Inspect, check and convert taxonomy files.", no_args_is_help=True
)
app.add_typer(taxonomy_app, name="taxonomy")

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class TaxonomyFormat(StrEnum):
    nested = "nested"
    edges = "edges"
    ranks = "ranks"
    node_link = "node-link"


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _load_tax(path: Path, add_root: bool = False):
    from taxovit.taxonomy import load_taxonomy

    return load_taxonomy(path, add_root=add_root)


# --------------------------------------------------------------------------- evaluate
@app.command()
def evaluate(
    preds: Path = typer.Argument(
        ...,
        help="Predictions CSV: header [bold]id,y_true,y_pred[/] then optional "
        "[bold]score_<label>[/] columns, one per class.",
        show_default=False,
    ),
    taxonomy: Path = typer.Option(
        ..., "--taxonomy", "-t", help="Taxonomy file (nested JSON, edge-list CSV, rank-column "
        "CSV/TSV or node-link JSON; detected from the file).", show_default=False,
    ),
    format: OutputFormat = typer.Option(
        OutputFormat.table, "--format", "-f", help="Report format."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report to this file instead of stdout."
    ),
    per_class: Path | None = typer.Option(
        None, "--per-class", help="Write the per-class table (support, P, R, F1, AP, mistake "
        "severity per true class) to this CSV.",
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write PNG plots to this folder: accuracy per rank, mistake "
        "severity histogram, confusion matrix at a rank.",
    ),
    plot_rank: str | None = typer.Option(
        None, "--plot-rank", help="Rank for the confusion-matrix plot (default: the finest "
        "rank with at most 40 taxa)."
    ),
    true_col: str = typer.Option("y_true", "--true-col", help="Column of true labels."),
    pred_col: str = typer.Option("y_pred", "--pred-col", help="Column of predicted labels."),
    id_col: str = typer.Option("id", "--id-col", help="Column of sample ids (must be unique)."),
    score_prefix: str = typer.Option(
        "score_", "--score-prefix", help="Prefix of the score columns; the rest of the "
        "column name is the class label."
    ),
    top_k: list[int] = typer.Option(
        [1, 5], "--top-k", "-k", help="k for top-k accuracy and average hierarchical distance@k "
        "(repeat the option for several).",
    ),
    bootstrap: int = typer.Option(
        0, "--bootstrap", "-b", min=0, help="Resamples for percentile confidence intervals of "
        "every metric (0 = off; 1000 is typical)."
    ),
    ci: float = typer.Option(0.95, "--ci", min=0.5, max=0.999, help="Confidence level."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    add_root: bool = typer.Option(
        False, "--add-root", help="Join several roots of an edge-list taxonomy under a virtual root."
    ),
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
    from taxovit.evaluation import evaluate as run_evaluate
    from taxovit.predictions import read_predictions
    from taxovit.render import build_table, render_csv, render_json, render_markdown, render_table

    if any(k < 1 for k in top_k):
        raise _fail("--top-k values must be at least 1")
    try:
        with err_console.status(f"loading {taxonomy}", spinner="dots"):
            tax = _load_tax(taxonomy, add_root)
        if plot_rank is not None and plot_rank not in tax.rank_names:
            raise _fail(
                f"--plot-rank {plot_rank!r} is not a rank of {taxonomy}; it has "
                f"{', '.join(tax.rank_names) or 'no ranks'}"
            )
        with err_console.status(f"reading {preds}", spinner="dots"):
            data = read_predictions(
                preds,
                tax._id_of,
                id_col=id_col,
                true_col=true_col,
                pred_col=pred_col,
                score_prefix=score_prefix,
            )
        report = _evaluate_with_progress(run_evaluate, data, tax, top_k, bootstrap, ci, seed)
    except TaxovitError as exc:
        raise _fail(str(exc)) from None

    # Everything is computed; now render, then write (atomically) or print.
    from taxovit.taxonomy.io import atomic_write_text

    extra = {"input": {"predictions": str(preds), "taxonomy": str(taxonomy)}}
    texts = {
        OutputFormat.json: lambda: render_json(report, extra),
        OutputFormat.csv: lambda: render_csv(report),
        OutputFormat.markdown: lambda: render_markdown(report),
        OutputFormat.table: lambda: render_table(report),
    }
    if per_class is not None:
        atomic_write_text(per_class, report.per_class.to_csv(lineterminator="\n", float_format="%.10g"))
    if plot is not None:
        from taxovit.plots import write_plots

        files = write_plots(report, tax, data.y_true, data.y_pred, plot, rank=plot_rank)
        err_console.print(f"wrote {len(files)} plots to {plot}")
    if output is not None:
        atomic_write_text(output, texts[format]())
        err_console.print(f"wrote {format.value} report to {output}")
    elif format is OutputFormat.table:
        out_console.print(build_table(report, title=f"{preds.name}: "))
    else:
        sys.stdout.write(texts[format]())


def _evaluate_with_progress(run, data, tax, top_k, bootstrap, ci, seed):
    kwargs: dict[str, Any] = dict(
        score_labels=data.score_labels if data.scores is not None else None,
        top_k=top_k,
        bootstrap=bootstrap,
        ci=ci,
        seed=seed,
    )
    if bootstrap <= 0:
        with err_console.status("evaluating", spinner="dots"):
            return run(data.y_true, data.y_pred, tax, data.scores, **kwargs)
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total}",
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("bootstrap", total=bootstrap)
        return run(
            data.y_true,
            data.y_pred,
            tax,
            data.scores,
            progress=lambda k: progress.advance(task, k),
            **kwargs,
        )


# --------------------------------------------------------------------------- taxonomy
@taxonomy_app.command("info")
def taxonomy_info(
    file: Path = typer.Argument(..., help="Taxonomy file.", show_default=False),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    add_root: bool = typer.Option(False, "--add-root", help="Join several roots under a virtual root."),
) -> None:
    """Show nodes, leaves, depth range, ranks with counts, and whether it is a tree or a DAG.

    [bold]Example[/]:  taxovit taxonomy info taxonomies/birds.json
    """
    try:
        tax = _load_tax(file, add_root)
    except TaxovitError as exc:
        raise _fail(str(exc)) from None
    s = tax.summary()
    if json_out:
        import json

        sys.stdout.write(json.dumps({"file": str(file), **s}, indent=2) + "\n")
        return
    from rich.table import Table

    t = Table(title=str(file), show_header=False, title_justify="left", title_style="bold")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("kind", s["kind"])
    t.add_row("root", s["root"])
    t.add_row("nodes", f"{s['nodes']:,}")
    t.add_row("edges", f"{s['edges']:,}")
    t.add_row("leaves", f"{s['leaves']:,}")
    t.add_row("max depth", str(s["max_depth"]))
    t.add_row("leaf depth", f"{s['leaf_depth_min']}–{s['leaf_depth_max']}")
    if s["nodes_with_several_parents"]:
        t.add_row("several parents", f"{s['nodes_with_several_parents']:,} nodes")
    ranks = s["ranks"]
    t.add_row(
        f"ranks ({len(ranks)})",
        ", ".join(f"{r} ({c:,})" for r, c in ranks.items()) if ranks else "none",
    )
    out_console.print(t)


@taxonomy_app.command("validate")
def taxonomy_validate(
    file: Path = typer.Argument(..., help="Taxonomy file.", show_default=False),
    add_root: bool = typer.Option(False, "--add-root", help="Join several roots under a virtual root."),
) -> None:
    """Check a taxonomy: one root, no cycle, non-empty unique names, no duplicate edge.

    Exit status 0 when valid, 2 with the problem named otherwise.
    """
    try:
        tax = _load_tax(file, add_root)
    except TaxovitError as exc:
        raise _fail(str(exc)) from None
    s = tax.summary()
    out_console.print(
        f"[green]valid[/] {file}: {s['kind']}, {s['nodes']:,} nodes, {s['leaves']:,} leaves, "
        f"max depth {s['max_depth']}"
    )


@taxonomy_app.command("convert")
def taxonomy_convert(
    src: Path = typer.Argument(..., help="Input taxonomy (format detected).", show_default=False),
    dst: Path = typer.Argument(..., help="Output file.", show_default=False),
    to: TaxonomyFormat | None = typer.Option(
        None, "--to", help="Output format (default from the extension: .json nested, .csv/.tsv edges)."
    ),
    add_root: bool = typer.Option(False, "--add-root", help="Join several roots under a virtual root."),
) -> None:
    """Convert between taxonomy formats (written atomically).

    [bold]Examples[/]

      taxovit taxonomy convert taxonomies/birds.json birds_edges.csv

      taxovit taxonomy convert birds.json birds_ranks.tsv --to ranks

      taxovit taxonomy convert imagenet1k.json imagenet.json --to node-link
    """
    from taxovit.taxonomy import save_taxonomy

    try:
        tax = _load_tax(src, add_root)
        save_taxonomy(tax, dst, format=to.value if to else None)
    except TaxovitError as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    out_console.print(f"wrote {dst}")


# --------------------------------------------------------------------------- training
def _register_training() -> None:
    # The functions import torch only when run, so `taxovit evaluate` never imports it.
    from taxovit.cli_train import predict_command, train_command

    app.command("train")(train_command)
    app.command("predict")(predict_command)


_register_training()


def main() -> None:
    try:
        app()
    except TaxovitError as exc:  # a last guard: never a traceback for bad input
        err_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
