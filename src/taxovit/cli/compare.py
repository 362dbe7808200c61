"""``taxovit compare A B --taxonomy T``: is B really better than A on the same samples?"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import typer

from taxovit.cli import app, err_console, handle_errors, out_console, status
from taxovit.cli._html import html_output
from taxovit.cli._options import (
    AddRootOpt,
    CiOpt,
    CostsOpt,
    FewBelowOpt,
    FormatOpt,
    HtmlOpt,
    IdColOpt,
    KnownOpt,
    LabelAttrOpt,
    ManyAboveOpt,
    OutputFormat,
    OutputOpt,
    PredColOpt,
    ScorePrefixOpt,
    SeedOpt,
    TaxonomyOpt,
    TopKOpt,
    TrainCountsOpt,
    TrueColOpt,
    TruthOpt,
    UnknownLabelOpt,
)
from taxovit.cli._questions import question_inputs, row_questions
from taxovit.evaluation.arguments import MAX_BOOTSTRAP

FileA = Annotated[
    Path, typer.Argument(help="Predictions of model A (the baseline).", show_default=False)
]
FileB = Annotated[
    Path,
    typer.Argument(
        help="Predictions of model B, over the same ids and y_true.", show_default=False
    ),
]
PairedBootstrapOpt = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        "-b",
        min=0,
        max=MAX_BOOTSTRAP,
        help="Paired resamples for the intervals and p-values of B − A (0 = differences only).",
    ),
]


@app.command()
@handle_errors
def compare(
    a: FileA,
    b: FileB,
    taxonomy: TaxonomyOpt,
    format: FormatOpt = OutputFormat.table,
    output: OutputOpt = None,
    true_col: TrueColOpt = "y_true",
    pred_col: PredColOpt = "y_pred",
    id_col: IdColOpt = "id",
    score_prefix: ScorePrefixOpt = "score_",
    top_k: TopKOpt = [1, 5],  # noqa: B006  (typer reads the default from here)
    bootstrap: PairedBootstrapOpt = 1000,
    ci: CiOpt = 0.95,
    seed: SeedOpt = 0,
    add_root: AddRootOpt = False,
    truth: TruthOpt = None,
    label_attr: LabelAttrOpt = None,
    html: HtmlOpt = None,
    costs: CostsOpt = None,
    known: KnownOpt = None,
    unknown_label: UnknownLabelOpt = "unknown",
    train_counts: TrainCountsOpt = None,
    few_below: FewBelowOpt = 20,
    many_above: ManyAboveOpt = 100,
) -> None:
    """Compare two models on the same samples: every metric for A and B, B − A with a paired
    bootstrap interval and p-value, and McNemar's exact test for accuracy (overall, per rank).

    A difference is [bold]significant[/] when its interval excludes 0; the last column then
    says if B is better or worse, by the metric's direction ([bold]taxovit metrics[/]);
    mAP and ece_adaptive need every score and get no interval (the rest are resampled sums).

    [bold]Examples[/]

      taxovit compare baseline.csv new.csv --taxonomy taxonomies/birds.json

      taxovit compare a.csv b.csv -t birds.json --bootstrap 2000 --format json -o cmp.json

      taxovit compare a_top5.csv b_long.parquet -t tax.json --truth solution.csv

    A and B may be in any format taxovit evaluate reads (wide CSV or Parquet, top-k
    submissions, long CSV/Parquet, .npz), even two different ones. --costs, --known and
    --train-counts (as in taxovit evaluate) add their rows (expected cost, known/novel,
    many/medium/few-shot), compared like every metric.
    """
    _compare_command(SimpleNamespace(**locals()))


def _compare_command(o: SimpleNamespace) -> None:
    """The body of ``taxovit compare`` (``o``: its options by parameter name)."""
    from taxovit._outputs import OutputPlan
    from taxovit.evaluation.arguments import check_top_k
    from taxovit.evaluation.compare import compare as run_compare
    from taxovit.evaluation.compare_render import build_comparison_table, render_comparison
    from taxovit.predictions import label_map, read_any
    from taxovit.taxonomy import load_taxonomy, taxonomy_inputs

    a, b, truth = o.a, o.b, o.truth
    plan = OutputPlan(
        {
            "file A": a,
            "file B": b,
            **taxonomy_inputs("--taxonomy", o.taxonomy),
            "--truth": truth,
            **question_inputs(o),
        }
    )
    out = plan.file("--output", o.output) if o.output is not None else None
    html_out = html_output(plan, o.html)
    top = _stdin_once(a, b, truth) or check_top_k(o.top_k)
    tax = load_taxonomy(o.taxonomy, add_root=o.add_root)
    questions = row_questions(o, tax)
    cols = dict(
        id_col=o.id_col, true_col=o.true_col, pred_col=o.pred_col, score_prefix=o.score_prefix
    )
    labels = label_map(tax, o.label_attr)
    pa, pb = (read_any(f, labels, truth=truth, truth_optional=True, **cols) for f in (a, b))
    with status(f"comparing ({o.bootstrap:,} paired resamples)"):
        result = run_compare(
            pa, pb, tax, top_k=top, bootstrap=o.bootstrap, ci=o.ci, seed=o.seed, **questions
        )
    files = (a, b, o.taxonomy, pa, pb, tax)
    if _write(plan, {"report": out, "html": html_out}, result, o.format.value, files):
        return
    if o.format is OutputFormat.table:
        out_console.print(build_comparison_table(result, title=f"{a.name} (A) vs {b.name} (B): "))
    else:
        sys.stdout.write(render_comparison(result, o.format.value))


def _write(plan, outs, result, format: str, files) -> bool:
    """Write --output and --html (all or nothing); True when standard output got one."""
    from taxovit.evaluation.compare_render import render_comparison

    contents = {outs["report"]: render_comparison(result, format)} if outs["report"] else {}
    if outs["html"] is not None:
        from taxovit.report_html.pages import comparison_page, recall_difference

        a, b, taxonomy, pa, pb, tax = files
        meta = {"file A": a, "file B": b, "taxonomy": taxonomy}
        tree = recall_difference(pa, pb, tax)
        contents[outs["html"]] = comparison_page(result, (a.name, b.name), meta, tree)
    plan.write(contents)
    for o, what in ((outs["report"], f"{format} comparison"), (outs["html"], "HTML comparison")):
        if o is not None and o.kind != "stdout":
            err_console.print(f"wrote {what} to {o.shown}")
    return any(o is not None and (o is outs["report"] or o.kind == "stdout") for o in outs.values())


def _stdin_once(a, b, truth) -> None:
    """At most one of A, B and --truth is '-' (standard input is read once)."""
    from taxovit.errors import ArgumentError

    stdin = [
        what
        for what, f in (("A", a), ("B", b), ("--truth", truth))
        if f is not None and str(f) == "-"
    ]
    if len(stdin) > 1:
        raise ArgumentError(f"{' and '.join(stdin)} are both '-': standard input can be read once")
