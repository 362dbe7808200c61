"""``taxovit metrics``: every report key, its label, direction, needs and interval."""

from __future__ import annotations

from typing import Annotated

import typer

from taxovit.cli import app, out_console

MarkdownOpt = Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown.")]


@app.command("metrics")
def metrics(markdown: MarkdownOpt = False) -> None:
    """List every metric of the reports (one row of the metric table each): its key (a
    family: [bold]{k}[/], [bold]{level}[/], [bold]{rank}[/]), label, which value is better
    (compare marks B better or worse by it), what it needs (labels only, the k best
    candidates, a score for every class, probabilities, a tree) and its bootstrap interval.

    Every sum-decomposable metric gets a percentile interval from the resampled sums of its
    per-sample statistics (evaluate --bootstrap, compare); mAP and ece_adaptive need every
    score (a ranking, a sort) and get none.

    [bold]Examples[/]

      taxovit metrics

      taxovit metrics --markdown
    """
    from taxovit.metrics import table

    if markdown:
        typer.echo(table.markdown(), nl=False)
        return
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAVY)
    t.add_column("key", no_wrap=True)
    for col in ("label", "better", "needs", "interval"):
        t.add_column(col, overflow="fold")
    for d in table.describe():
        t.add_row(d["key"], d["label"], d["better"], d["needs"], d["interval"])
    out_console.print(t)
