"""The options of ``taxovit evaluate`` (and those ``compare``, ``leaderboard`` and ``decide``
share with it): each option's name, type, range and help, declared once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

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
        "ignored), the same ids as the predictions; for a dataset (top-k or long), held in "
        "memory (~100 bytes per sample).",
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
