"""``taxovit evaluate``: parse the options, read the inputs, call the library, write or print."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from taxovit.cli import app, err_console, handle_errors, out_console, rich_console, status
from taxovit.cli._html import html_output
from taxovit.evaluation.arguments import MAX_BOOTSTRAP


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


PredsArg = Annotated[
    Path,
    typer.Argument(
        help="Predictions file, format detected (see Formats): wide CSV or Parquet "
        "[bold]id,y_true,y_pred[/] + optional [bold]score_<label>[/] columns; top-k submission "
        "[bold]id,predicted[/]; long CSV or Parquet [bold]id,label,score[/][,y_true]; .npz "
        "arrays. '-' reads standard input.",
        show_default=False,
    ),
]
TruthOpt = Annotated[
    Path | None,
    typer.Option(
        "--truth",
        help="True labels for a file without them (top-k submission, long format "
        "without y_true): CSV or Parquet [bold]id,expected[/] (or id,y_true; other columns "
        "ignored), the same ids as the predictions.",
        show_default=False,
    ),
]
LabelAttrOpt = Annotated[
    str | None,
    typer.Option(
        "--label-attr",
        help="Match labels against this node attribute (e.g. an integer "
        "category_id) instead of the node name; values compared as text, one node per value.",
        show_default=False,
    ),
]
TaxonomyOpt = Annotated[
    Path,
    typer.Option(
        "--taxonomy",
        "-t",
        help="Taxonomy file (nested JSON, edge-list CSV, rank-column "
        "CSV/TSV or node-link JSON; detected from the file).",
        show_default=False,
    ),
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format.")]
OutputOpt = Annotated[
    str | None,
    typer.Option(  # str: keeps a trailing "/"
        "--output", "-o", help="Write the report to this file instead of stdout."
    ),
]
PerClassOpt = Annotated[
    str | None,
    typer.Option(
        "--per-class",
        help="Write the per-class table (support, P, R, F1, AP, mistake "
        "severity per true class) to this CSV.",
    ),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Write PNG plots to this folder: accuracy per rank, mistake "
        "severity histogram, confusion matrix at a rank.",
    ),
]
HtmlOpt = Annotated[
    Path | None,
    typer.Option(
        "--html",
        help="Also write a self-contained interactive HTML report to this file ('-': "
        "standard output); it opens offline (evaluate: the taxonomy as a sunburst coloured by "
        "recall, click a taxon for its classes, confusions and most-confused pairs). Needs the "
        "\\[report] extra: pip install 'taxovit\\[report]'.",
        show_default=False,
    ),
]
PlotRankOpt = Annotated[
    str | None,
    typer.Option(
        "--plot-rank",
        help="Rank for the confusion-matrix plot (default: the finest rank with at most 40 taxa).",
    ),
]
TrueColOpt = Annotated[str, typer.Option("--true-col", help="Column of true labels (wide format).")]
PredColOpt = Annotated[
    str, typer.Option("--pred-col", help="Column of predicted labels (wide format).")
]
IdColOpt = Annotated[
    str, typer.Option("--id-col", help="Column of sample ids (must be unique; wide format).")
]
ScorePrefixOpt = Annotated[
    str,
    typer.Option(
        "--score-prefix",
        help="Prefix of the score columns; the rest of the "
        "column name is the class label (wide format).",
    ),
]
TopKOpt = Annotated[
    list[int],
    typer.Option(
        "--top-k",
        "-k",
        help="k for top-k accuracy and average hierarchical distance@k "
        "(repeat the option for several).",
    ),
]
BootstrapOpt = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        "-b",
        min=0,
        max=MAX_BOOTSTRAP,
        help="Resamples for percentile "
        "confidence intervals of every metric (0 = off; 1000 is typical).",
    ),
]
CiOpt = Annotated[float, typer.Option("--ci", min=0.5, max=0.999, help="Confidence level.")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap.")]


class ScoreKind(StrEnum):
    probs = "probs"
    logits = "logits"


ScoresOpt = Annotated[
    ScoreKind,
    typer.Option(
        "--scores",
        help="What the score columns hold, for calibration and marginals: probs "
        "(non-negative; each row divided by its sum) or logits (softmax).",
    ),
]
SubsetOpt = Annotated[
    str | None,
    typer.Option(
        "--subset",
        help="Evaluate only the classes under this node (a clade) or in this "
        "checklist file (one taxon per line, or a CSV/TSV with a [bold]taxon[/] column; each name "
        "stands for its subtree): samples whose truth is outside are dropped, score columns "
        "outside removed and each row renormalised (a row with no mass left: uniform).",
        show_default=False,
    ),
]
CostsOpt = Annotated[
    Path | None,
    typer.Option(
        "--costs",
        help="Cost table CSV [bold]true,predicted,cost[/]: each side '*' or node names "
        "joined by '|' (a name stands for its subtree); the most specific rule wins (deepest true "
        "side, then deepest predicted side, then the later line); correct = 0, unmatched "
        "mistake = 1. Adds cost_mean, cost_total and per-rank cost_mean.",
        show_default=False,
    ),
]
KnownOpt = Annotated[
    str | None,
    typer.Option(
        "--known",
        help="The model's classes, for novel taxa (open set): a file (one class per "
        "line, or a CSV/TSV with a [bold]taxon[/] column) or 'auto' (the score columns). A sample "
        "whose truth the model cannot name is novel: known/novel metrics, deepest-known-ancestor "
        "accuracy, and with scores AUROC and FPR@95%TPR. Trees only.",
        show_default=False,
    ),
]
UnknownLabelOpt = Annotated[
    str,
    typer.Option(
        "--unknown-label", help="The node a prediction of which means 'unknown' (as does the root)."
    ),
]
TrainCountsOpt = Annotated[
    Path | None,
    typer.Option(
        "--train-counts",
        help="CSV [bold]class,count[/] of training images per class: many-, "
        "medium- and few-shot buckets of the test samples' true classes (accuracy, macro "
        "recall/F1, mistake severity, hier. F1 each).",
        show_default=False,
    ),
]
FewBelowOpt = Annotated[
    int,
    typer.Option(
        "--few-below",
        min=0,
        help="--train-counts: classes with fewer training images are few-shot.",
    ),
]
ManyAboveOpt = Annotated[
    int,
    typer.Option(
        "--many-above",
        min=0,
        help="--train-counts: classes with more are many-shot (the rest medium).",
    ),
]
ConfusedOpt = Annotated[
    int,
    typer.Option(
        "--confused",
        min=0,
        help="List the N most frequent (true, predicted) mistakes with their "
        "count, share of the true class, LCA and the rank where they split (0 = off).",
    ),
]
ConfusedRankOpt = Annotated[
    str | None,
    typer.Option(
        "--confused-rank", help="Read both labels at this rank for --confused.", show_default=False
    ),
]
AbstentionOpt = Annotated[
    bool,
    typer.Option(
        "--abstention",
        help="With scores: the risk-coverage curve (accept the most confident "
        "first) and its AURC, and the confident-ancestor back-off curve (accuracy against depth "
        "for thresholds 0..1) and its area; --plot draws both.",
    ),
]
GroupByOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--group-by",
        help="Slice by this column (repeatable) of the predictions file or of "
        "--meta: one report per group with its own bootstrap intervals, small groups flagged, "
        "worst and best group.",
        show_default=False,
    ),
]
MetaOpt = Annotated[
    Path | None,
    typer.Option(
        "--meta",
        help="CSV or Parquet with the id column and the --group-by columns, joined to "
        "the predictions by id.",
        show_default=False,
    ),
]
MinSupportOpt = Annotated[
    int,
    typer.Option(
        "--min-support",
        min=1,
        help="Groups with fewer samples are flagged small (and left out of worst/best).",
    ),
]
AddRootOpt = Annotated[
    bool,
    typer.Option(
        "--add-root", help="Join several roots of an edge-list taxonomy under a virtual root."
    ),
]


class Engine(StrEnum):
    local = "local"
    dask = "dask"


EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="For a dataset (a folder "
        "or glob of Parquet files): local reads it out of core in this process; dask maps its "
        'files to states on a Dask cluster (pip install "taxovit\\[dask]").'
        " Example: taxovit evaluate 'lake/*.parquet' -t tax.json --engine dask -f json -o r.json",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="With --engine dask: the scheduler's address (tcp://host:8786); "
        "without it a LocalCluster of one worker per core.",
        show_default=False,
    ),
]


FORMATS_HELP = """\
[bold]Formats[/] (Parquet and .npz told by their first bytes, then by the columns)

wide CSV or .parquet; [bold]score_<label>[/] columns optional (top-k, mAP):

  id,y_true,y_pred,score_Laysan_Albatross,score_Mallard
  img1,Mallard,Anatidae,0.1,0.7

top-k submission, K labels best first, with --truth (no mAP, no k > K):

  id,predicted
  img1,Mallard Laysan_Albatross Anatidae

long CSV or .parquet, a row per (id, label), y_true or --truth (mAP only
when every id lists every label once):

  id,label,score,y_true
  img1,Mallard,0.7,Mallard

.npz (numpy.savez): scores (N x C), classes (C), ids, y_true, y_pred
(optional, default the arg-max):

  np.savez("p.npz", scores=S, classes=names, ids=ids, y_true=truth)
  taxovit evaluate p.npz -t birds.json

--truth FILE: id,expected (or id,y_true). --label-attr category_id: labels
are that node attribute (e.g. iNaturalist's integer ids), not node names.
"""


@app.command(epilog=FORMATS_HELP)
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
    truth: TruthOpt = None,
    label_attr: LabelAttrOpt = None,
    scores: ScoresOpt = ScoreKind.probs,
    html: HtmlOpt = None,
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    subset: SubsetOpt = None,
    costs: CostsOpt = None,
    known: KnownOpt = None,
    unknown_label: UnknownLabelOpt = "unknown",
    train_counts: TrainCountsOpt = None,
    few_below: FewBelowOpt = 20,
    many_above: ManyAboveOpt = 100,
    confused: ConfusedOpt = 0,
    confused_rank: ConfusedRankOpt = None,
    abstention: AbstentionOpt = False,
    group_by: GroupByOpt = None,
    meta: MetaOpt = None,
    min_support: MinSupportOpt = 30,
) -> None:
    """Evaluate predictions against a taxonomy: flat, hierarchical and per-rank metrics.

    [bold]Examples[/]

      taxovit evaluate examples/birds_preds.csv --taxonomy taxonomies/birds.json

      taxovit evaluate preds.csv -t birds.json --format json -o report.json --bootstrap 1000

      taxovit evaluate preds.csv -t birds.json --per-class classes.csv --plot plots/

      taxovit evaluate out.csv -t tax.csv --true-col label --pred-col guess --score-prefix p_

    Definitions of every metric: docs/metrics.md (the documentation's "Metrics" page).
    Exit status 2 on bad input (file, line or row, column named); nothing written.
    """
    _evaluate_command(SimpleNamespace(**locals()))


def _evaluate_command(o: SimpleNamespace) -> None:
    """The body of ``taxovit evaluate`` (``o``: its options by parameter name)."""
    from taxovit._outputs import OutputPlan
    from taxovit.taxonomy import load_taxonomy, taxonomy_inputs

    if _is_dataset(o.preds, o.engine, o.scheduler):  # taxovit.cli.evaluate_dataset
        return _run_dataset(o.preds, o.taxonomy, vars(o))
    # every output location is checked before any input is read or anything written
    plan = OutputPlan(
        {
            "predictions file": o.preds,
            **taxonomy_inputs("--taxonomy", o.taxonomy),
            "--truth": o.truth,
            **_question_inputs(o),
        }
    )
    outs = {
        "report": plan.file("--output", o.output) if o.output is not None else None,
        "per_class": plan.file("--per-class", o.per_class) if o.per_class is not None else None,
        "html": html_output(plan, o.html),
    }
    plot_dir = plan.folder("--plot", o.plot) if o.plot is not None else None
    from taxovit.predictions import prefetch

    # a long Parquet file is read beside the taxonomy (not when the taxonomy is sure to fail)
    prefetched = prefetch(o.preds, o.pred_col) if Path(o.taxonomy).is_file() else None
    with status(f"loading {o.taxonomy}"):
        tax = load_taxonomy(o.taxonomy, add_root=o.add_root)
    plots = _plot_files(plan, tax, o.taxonomy, plot_dir, o.plot_rank)
    if o.abstention and plot_dir is not None:
        from taxovit.evaluation.abstention_plots import ABSTENTION_PLOTS

        plots |= {n: plan.file("--plot", plot_dir / n, stdout_ok=False) for n in ABSTENTION_PLOTS}
    cols = {
        "id_col": o.id_col,
        "true_col": o.true_col,
        "pred_col": o.pred_col,
        "score_prefix": o.score_prefix,
    }
    data, inputs = _read(o.preds, o.taxonomy, tax, o.truth, o.label_attr, cols, prefetched)
    questions = _questions(o, tax, data.ids)
    report = _run_evaluation(
        data, tax, o.top_k, o.bootstrap, o.ci, o.seed, o.scores.value, questions
    )
    contents, stdout_text = _contents(report, tax, outs, plots, o.format, o.plot_rank, inputs)
    plan.write(contents)
    n_plots = sum(out in contents for out in plots.values())
    _print_summary(report, o.preds, o.format, outs, plot_dir, n_plots, stdout_text)


def _question_inputs(o: SimpleNamespace) -> dict[str, Path]:
    """The questions' input files (a --subset or --known may be a node name or 'auto')."""
    files = {"--costs": o.costs, "--train-counts": o.train_counts, "--meta": o.meta}
    for name, v in (("--subset", o.subset), ("--known", o.known)):
        if v is not None and Path(v).is_file():
            files[name] = Path(v)
    return files


def _group_columns(preds, meta, id_col, group_by, ids):
    """The --group-by columns, from --meta or the predictions file, aligned by id."""
    from taxovit.errors import ArgumentError
    from taxovit.evaluation.group_columns import read_group_columns

    source = meta if meta is not None else preds
    if str(source) == "-":
        raise ArgumentError("--group-by with predictions on standard input needs --meta FILE")
    return read_group_columns(source, id_col, list(group_by), ids)


def _questions(o: SimpleNamespace, tax, ids) -> dict[str, Any]:
    """The questions' arguments of ``taxovit.evaluate``, their files read and checked."""
    out: dict[str, Any] = {
        "confused": o.confused,
        "confused_rank": o.confused_rank,
        "abstention": o.abstention,
    }
    if o.subset is not None:
        from taxovit.evaluation.subset import read_subset

        out["subset"] = read_subset(tax, o.subset)
    if o.costs is not None:
        from taxovit.evaluation.costs import read_costs

        out["costs"] = read_costs(tax, o.costs)
    if o.known is not None:
        from taxovit.evaluation.novel import as_known

        out["known"] = (
            o.known if o.known == "auto" else as_known(tax, o.known, None, o.unknown_label)
        )
        out["unknown_label"] = o.unknown_label
    if o.train_counts is not None:
        from taxovit.evaluation.long_tail import read_train_counts

        out["train_counts"] = read_train_counts(tax, o.train_counts, (o.few_below, o.many_above))
    if o.group_by:
        out |= {
            "groups": _group_columns(o.preds, o.meta, o.id_col, o.group_by, ids),
            "min_support": o.min_support,
        }
    return out


def _is_dataset(preds: Path, engine: Engine, scheduler: str | None) -> bool:
    from taxovit.cli.evaluate_dataset import is_dataset

    return is_dataset(preds) or engine is not Engine.local or scheduler is not None


def _run_dataset(preds: Path, taxonomy: Path, opts: dict[str, Any]) -> None:
    from taxovit.cli.evaluate_dataset import run_dataset

    run_dataset(preds, taxonomy, opts)


def _plot_files(plan, tax, taxonomy, plot_dir, plot_rank) -> dict:
    """--plot-rank checked, and the output of each plot --plot may write (the plots module
    is imported only when a plot option is given)."""
    if plot_rank is None and plot_dir is None:
        return {}
    from taxovit.evaluation.plots import check_plot_rank, plot_names

    check_plot_rank(tax, plot_rank, str(taxonomy))
    return {
        name: plan.file("--plot", plot_dir / name, stdout_ok=False)
        for name in (plot_names(tax, plot_rank) if plot_dir is not None else [])
    }


def _read(preds, taxonomy, tax, truth, label_attr, cols, prefetched) -> tuple[Any, dict[str, str]]:
    """The predictions in any format (with --truth, --label-attr), and the inputs for the
    JSON report."""
    from taxovit.predictions import label_map, read_any

    with status(f"reading {preds}"):
        data = read_any(
            preds, label_map(tax, label_attr), truth=truth, prefetched=prefetched, **cols
        )
    inputs = {"predictions": str(preds), "format": data.format, "taxonomy": str(taxonomy)}
    if truth is not None:
        inputs["truth"] = str(truth)
    return data, inputs


def _run_evaluation(data, tax, top_k, bootstrap, ci, seed, score_kind, questions):
    """``taxovit.evaluate`` with a spinner, or a progress bar over the bootstrap resamples."""
    from taxovit.evaluation import evaluate as run

    kwargs: dict[str, Any] = dict(
        score_labels=data.score_labels if data.scores is not None else None,
        ranked=data.ranked if data.scores is None else None,
        notes=data.notes,
        ranked_scores=data.ranked_scores if data.scores is None else None,
        top_k=top_k,
        bootstrap=bootstrap,
        ci=ci,
        seed=seed,
        score_kind=score_kind,
        **questions,
    )
    if bootstrap <= 0:
        with status("evaluating"):
            return run(data.y_true, data.y_pred, tax, data.scores, **kwargs)
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total}",
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=rich_console(err_console), transient=True) as progress:
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

        pngs = draw_plots(report, tax, plot_rank)
        if "abstention" in report.sections:
            from taxovit.evaluation.abstention_plots import draw_abstention_plots

            pngs |= draw_abstention_plots(report.sections["abstention"])
        for name, png in pngs.items():
            contents[plots[name]] = png
    if outs.get("html") is not None:
        from taxovit.report_html import evaluation_html

        with status("writing the HTML report"):
            contents[outs["html"]] = evaluation_html(report, tax, inputs)
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
    elif outs["report"] is None and getattr(outs.get("html"), "kind", None) != "stdout":
        out_console.print(build_table(report, title=f"{preds.name}: "))
    if plot_dir is not None:
        err_console.print(f"wrote {n_plots} plots to {plot_dir}")
    if outs["report"] is not None and outs["report"].kind != "stdout":
        err_console.print(f"wrote {format.value} report to {outs['report'].shown}")
    if outs.get("html") is not None and outs["html"].kind != "stdout":
        err_console.print(f"wrote HTML report to {outs['html'].shown}")
