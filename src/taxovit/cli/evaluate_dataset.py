"""``taxovit evaluate DATASET``: a folder (hive partitions allowed) or a glob of Parquet files,
evaluated out of core in this process or on Dask (``--engine dask [--scheduler ADDRESS]``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from taxovit.cli import err_console, status
from taxovit.errors import ArgumentError

__all__ = ["is_dataset", "run_dataset"]

_UNSUPPORTED = {
    "per_class": "--per-class",
    "plot": "--plot",
    "plot_rank": "--plot-rank",
    "html": "--html",
}
_QUESTIONS = {
    "subset": None,
    "costs": None,
    "known": None,
    "train_counts": None,
    "meta": None,
    "group_by": None,
    "confused": 0,
    "abstention": False,
}


def is_dataset(preds: Path) -> bool:
    """A folder, or a path with glob characters that is not itself a file."""
    text = os.fspath(preds)
    return preds.is_dir() or (any(ch in text for ch in "*?[") and not preds.exists())


def run_dataset(preds: Path, taxonomy: Path, opts: dict[str, Any]) -> None:
    """Check every path, scan the dataset into one state, then render and write the report."""
    from taxovit._outputs import OutputPlan
    from taxovit.cli._options import OutputFormat
    from taxovit.cli.evaluate import _contents, _print_summary
    from taxovit.evaluation.dataset import dataset_files
    from taxovit.taxonomy import load_taxonomy, taxonomy_inputs

    for key, option in _UNSUPPORTED.items():
        if opts.get(key) is not None:
            raise ArgumentError(f"{option} is not available for a dataset ({preds}); give one file")
    for key, default in _QUESTIONS.items():  # the evaluators' questions: one file at a time
        if opts.get(key, default) not in (default, None, [], ()):
            option = "--" + key.replace("_", "-")
            raise ArgumentError(f"{option} is not available for a dataset ({preds}); give one file")
    opts["engine"] = getattr(opts["engine"], "value", opts["engine"])
    if opts["engine"] != "dask" and opts.get("scheduler"):
        raise ArgumentError("--scheduler needs --engine dask")
    if opts["engine"] == "dask" and opts.get("truth") is not None:
        raise ArgumentError(
            "--truth is not available with --engine dask (the truth is held in this process); "
            "give the files a y_true column, or use the default engine"
        )
    files = dataset_files(preds)
    inputs = {f"dataset file #{i + 1}": f for i, f in enumerate(files)}
    if opts.get("truth") is not None:
        inputs["--truth"] = opts["truth"]
    plan = OutputPlan({**inputs, **taxonomy_inputs("--taxonomy", taxonomy)})
    output = opts.get("output")
    outs = {
        "report": plan.file("--output", output) if output is not None else None,
        "per_class": None,
    }
    with status(f"loading {taxonomy}"):
        tax = load_taxonomy(taxonomy, add_root=opts["add_root"])
    report = _report(preds, tax, opts, len(files))
    fmt = opts["format"]
    meta = {
        "predictions": str(preds),
        "format": "parquet dataset",
        "files": str(len(files)),
        "taxonomy": str(taxonomy),
        "engine": opts["engine"],
    }
    contents, stdout_text = _contents(report, tax, outs, {}, fmt, None, meta)
    plan.write(contents)
    _print_summary(
        report,
        preds,
        fmt if isinstance(fmt, OutputFormat) else OutputFormat(fmt),
        outs,
        None,
        0,
        stdout_text,
    )


def _report(preds: Path, tax: Any, opts: dict[str, Any], n_files: int) -> Any:
    kw = {
        "top_k": opts["top_k"],
        "label_attr": opts["label_attr"],
        "score_kind": getattr(opts["scores"], "value", opts["scores"]),
        "n_resamples": opts["bootstrap"],
        "seed": opts["seed"],
    }
    what = f" with {opts['bootstrap']} Poisson resamples" if opts["bootstrap"] > 0 else ""
    if opts["engine"] == "dask":
        from taxovit.dask import evaluate as dask_evaluate

        with status(f"evaluating {n_files} files on Dask{what}"):
            state = dask_evaluate(os.fspath(preds), tax, scheduler=opts.get("scheduler"), **kw)
    else:
        from taxovit.evaluation.dataset import evaluate_dataset

        with status(f"scanning {n_files} files{what}"):
            state = evaluate_dataset(preds, tax, truth=opts.get("truth"), **kw)
    n = int(state.point.sums.get("one", 0) if what else state.sums.get("one", 0))
    err_console.print(f"evaluated {n} samples from {n_files} files")
    return state.report(opts["ci"]) if what else state.compute()
