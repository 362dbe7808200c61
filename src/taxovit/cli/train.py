"""``taxovit train`` and ``taxovit predict``.

torch is imported only inside the function bodies, so ``taxovit --help`` and
``taxovit evaluate`` stay torch-free.
"""

from __future__ import annotations

from pathlib import Path

import typer

from taxovit.cli import app, handle_errors


@handle_errors
def train_command(
    config: Path = typer.Option(
        ...,
        "--config",
        "-c",
        help="YAML training config (see configs/*.yaml).",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (overrides the config's 'out')."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue from OUT/checkpoint.pt exactly where it stopped "
        "(the config must be the checkpoint's, up to epochs, logging, evaluation, threads).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the run already in OUT (refused otherwise)."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show the progress bar and epoch lines."
    ),
) -> None:
    r"""Train a ViT on the training rank of a taxonomy (methods: ce, grafit, transfg, hierarchy, linear, knn, lora, vpt, deit).

    Writes OUT/checkpoint.pt after every epoch (atomically) and OUT/log.jsonl (one line per epoch: loss parts, images/s, trainable parameters, peak memory, kNN top-1 on the fine labels). A NaN/inf loss stops the run and keeps the last good checkpoint. Every config key with its default, range and doc: taxovit.training.run.schema.describe_keys().

    The whole config, its input files, the data and OUT are checked before anything is written. An OUT that already holds a run is never replaced unless --overwrite is given; --resume continues it.

    Examples:

      taxovit train --config configs/fashion_mnist_cpu.yaml

      taxovit train -c configs/fashion_mnist_grafit.yaml --out runs/grafit

      taxovit train -c configs/fashion_mnist_grafit.yaml -o runs/grafit --resume

      torchrun --nproc_per_node 8 $(which taxovit) train \
        -c configs/fashion_mnist_gpu.yaml
    """
    from taxovit.training.run.loop import train
    from taxovit.training.run.progress import ConsoleReporter, SilentReporter

    reporter = ConsoleReporter() if progress else SilentReporter()
    result = train(config, out=out, resume=resume, overwrite=overwrite, reporter=reporter)
    hist = result["history"]
    last = hist[-1] if hist else {}
    msg = f"checkpoint: {result['checkpoint']}  log: {result['log']}"
    if "knn_top1_fine" in last:
        msg += f"  kNN top-1 (fine): {last['knn_top1_fine']:.4f}"
    typer.echo(msg)


@handle_errors
def predict_command(
    checkpoint: Path = typer.Option(
        ...,
        "--checkpoint",
        help="checkpoint.pt written by 'taxovit train'.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    split: str = typer.Option("test", "--split", help="Split to classify: test or train."),
    out: str = typer.Option(  # str, not Path: keeps a trailing "/" (a folder, refused)
        ..., "--out", "-o", help="Predictions file to write ('-': standard output)."
    ),
    knn: int | None = typer.Option(
        None,
        "--knn",
        help="kNN classifier with K neighbours (DINO weighted vote, T=0.07) "
        "over the training set's embeddings; default: the classifier head if it predicts "
        "the fine classes, else kNN with the config's eval.knn_k.",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Embedding batch size."),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="Replace the config's data.root (data moved)."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="csv (wide, a score per class), "
        "topk (id,predicted), long (id,label,score,y_true; Parquet when --out ends .parquet), "
        "parquet (wide) or npz. Default: csv up to 1,000 classes, else refused.",
    ),
    top_k: int | None = typer.Option(
        None, "--top-k", "-k", help="Labels per image: topk (default 5), long (default all)."
    ),
    truth_out: str | None = typer.Option(
        None,
        "--truth-out",
        help="With --format topk: write "
        "the true labels (id,expected) here, for 'taxovit evaluate --truth'.",
    ),
) -> None:
    r"""Classify a split with a trained model; write the predictions CSV for evaluate.

    Columns: id,y_true,y_pred,score_<class>... (scores sum to 1 per row); --format writes the other formats evaluate reads.

    The CSV's labels are the taxonomy names of the fine classes, so it feeds straight into 'taxovit evaluate'. Without --knn the classifier head is used when it was trained on the fine classes; otherwise (e.g. a model trained on coarse groups) the kNN classifier.

    The options, the checkpoint (finite weights that fit its config) and --out (never an input, never a folder) are checked before anything is computed; with --out - the CSV goes to standard output and the summary to standard error.

    Examples:

      taxovit predict --checkpoint runs/grafit/checkpoint.pt \
        --split test --out preds.csv --knn 20

      taxovit evaluate preds.csv --taxonomy taxonomies/fashion_mnist.json
    """
    from taxovit.training.run.predict import predict

    r = predict(
        checkpoint,
        out,
        split=split,
        knn=knn,
        device=device,
        batch_size=batch_size,
        data_root=None if data_root is None else str(data_root),
        fmt=fmt,
        top_k=top_k,
        truth_out=truth_out,
    )
    how = f"kNN (k={r['k']})" if r["classifier"] == "knn" else "classifier head"
    where = "standard output" if r["out"] == "-" else r["out"]
    typer.echo(
        f"wrote {r['rows']} rows to {where} with the {how}; top-1 {r['accuracy']:.4f}",
        err=r["out"] == "-",
    )


app.command("train")(train_command)
app.command("predict")(predict_command)
