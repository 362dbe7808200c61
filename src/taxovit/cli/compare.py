"""``taxovit compare A B --taxonomy T``: is B really better than A on the same samples?"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from taxovit.cli import app, err_console, handle_errors, out_console, status
from taxovit.cli.evaluate import (
    AddRootOpt,
    CiOpt,
    FormatOpt,
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
from taxovit.evaluation.arguments import MAX_BOOTSTRAP

FileA = Annotated[Path, typer.Argument(help="Predictions of model A (the baseline).",
                                       show_default=False)]  # fmt: skip
FileB = Annotated[Path, typer.Argument(help="Predictions of model B, over the same ids and "
                                       "y_true.", show_default=False)]  # fmt: skip
PairedBootstrapOpt = Annotated[int, typer.Option(
    "--bootstrap", "-b", min=0, max=MAX_BOOTSTRAP, help="Paired resamples for the intervals and "
    "p-values of B − A (0 = differences only).",
)]  # fmt: skip


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
    submissions, long CSV/Parquet, .npz), even two different ones.
    """
    from taxovit._outputs import OutputPlan
    from taxovit.evaluation.arguments import check_top_k
    from taxovit.evaluation.compare import compare as run_compare
    from taxovit.evaluation.compare_render import build_comparison_table, render_comparison
    from taxovit.predictions import label_map, read_any
    from taxovit.taxonomy import load_taxonomy

    plan = OutputPlan({"file A": a, "file B": b, "--taxonomy": taxonomy, "--truth": truth})
    out = plan.file("--output", output) if output is not None else None
    top = check_top_k(top_k)
    tax = load_taxonomy(taxonomy, add_root=add_root)
    cols = dict(id_col=id_col, true_col=true_col, pred_col=pred_col, score_prefix=score_prefix)
    labels = label_map(tax, label_attr)
    pa, pb = (read_any(f, labels, truth=truth, **cols) for f in (a, b))
    with status(f"comparing ({bootstrap:,} paired resamples)"):
        result = run_compare(pa, pb, tax, top_k=top, bootstrap=bootstrap, ci=ci, seed=seed)
    if out is not None:
        plan.write({out: render_comparison(result, format.value)})
        if out.kind != "stdout":
            err_console.print(f"wrote {format.value} comparison to {out.shown}")
    elif format is OutputFormat.table:
        out_console.print(build_comparison_table(result, title=f"{a.name} (A) vs {b.name} (B): "))
    else:
        sys.stdout.write(render_comparison(result, format.value))
