"""``taxovit evaluate``: parse the options, read the inputs, call the library, write or print."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from taxovit.cli import app, err_console, handle_errors, out_console, rich_console, status
from taxovit.cli._html import html_output
from taxovit.cli._options import (
    AbstentionOpt,
    AddRootOpt,
    BootstrapOpt,
    CiOpt,
    ConfusedOpt,
    ConfusedRankOpt,
    CostsOpt,
    Engine,
    EngineOpt,
    FewBelowOpt,
    FormatOpt,
    GroupByOpt,
    HtmlOpt,
    IdColOpt,
    KnownOpt,
    LabelAttrOpt,
    ManyAboveOpt,
    MetaOpt,
    MinSupportOpt,
    OutputFormat,
    OutputOpt,
    PerClassOpt,
    PlotOpt,
    PlotRankOpt,
    PredColOpt,
    PredsArg,
    SchedulerOpt,
    ScoreKind,
    ScorePrefixOpt,
    ScoresOpt,
    SeedOpt,
    SubsetOpt,
    TaxonomyOpt,
    TopKOpt,
    TrainCountsOpt,
    TrueColOpt,
    TruthOpt,
    UnknownLabelOpt,
)
from taxovit.cli._questions import question_inputs, row_questions

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
            **question_inputs(o),
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
    out |= row_questions(o, tax)
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
