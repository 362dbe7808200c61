"""Predictions of a trained checkpoint on a split, written as the CSV ``taxovit evaluate`` reads.

Columns: ``id,y_true,y_pred,score_<label>...`` where the labels are the taxonomy node names of
the dataset's fine classes (e.g. ``score_T-shirt/top``) and the scores of a row sum to 1.

Two classifiers:

* **kNN** (``knn=K``): DINO-style weighted vote over the ``K`` training images nearest in
  cosine similarity of the backbone's CLS feature, weights ``exp(cos / 0.07)``, on the *fine*
  labels. This is how a model trained on coarse labels (Grafit, or cross-entropy on coarse)
  is read out at the fine level.
* **the classifier head** (``knn=None``) when the model has one *and* it was trained on the
  fine classes; otherwise the kNN classifier with ``eval.knn_k`` neighbours is used. The
  method prepares its network first (:meth:`~taxovit.training.methods.base.Method.for_predict`:
  a LoRA run's adapters are merged into the weights; a DeiT network averages its two heads,
  as the paper infers).

Everything is checked before any embedding is computed: the options, the checkpoint
(:func:`~taxovit.training.run.checkpoint.read_run_checkpoint`: a foreign file, missing entries,
non-finite weights, weights that do not fit its config), the input files and ``--out``
(:class:`~taxovit._outputs.OutputPlan`: never an input, never a folder; ``-`` is standard
output). The CSV is written all at once at the end.

This module imports torch; ``import taxovit`` never imports it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from taxovit._outputs import Output, OutputPlan
from taxovit.errors import TaxovitError
from taxovit.predictions.writers import choose_format, encode, truth_csv
from taxovit.taxonomy import load_taxonomy
from taxovit.training.data.splits import LabelSpace, SampleSet, load_split
from taxovit.training.parts.network import Network, build_online
from taxovit.training.run.checkpoint import load_weights, read_run_checkpoint
from taxovit.training.run.config import Config, ConfigError, check_files, input_files
from taxovit.training.run.embed import embed_samples
from taxovit.training.run.neighbors import knn_classify
from taxovit.training.run.runtime import resolve_device

__all__ = ["predict"]

SPLITS = ("train", "test")


def _check_options(split: str, knn: Any, batch_size: Any) -> None:
    if split not in SPLITS:
        raise TaxovitError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    for option, value in (("--knn", knn), ("--batch-size", batch_size)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise TaxovitError(f"{option} {value}: expected an integer >= 1")


def _device(name: str) -> torch.device:
    try:
        return resolve_device(name, int(os.environ.get("LOCAL_RANK", "0")), what="--device")
    except ConfigError as exc:
        raise TaxovitError(str(exc)) from None


def predict(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    split: str = "test",
    knn: int | None = None,
    *,
    device: str = "auto",
    batch_size: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    top_k: int | None = None,
    truth_out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Classify ``split`` with the model in ``checkpoint`` and write its predictions to ``out``
    (``-``: standard output); ``fmt``, ``top_k``, ``truth_out``: see :func:`_outputs`.

    ``data_root`` replaces the config's ``data.root`` (e.g. the data moved). Returns
    ``{"out", "format", "classifier", "k", "rows", "accuracy"}``."""
    _check_options(split, knn, batch_size)
    dev = _device(device)
    ck, cfg, space = read_run_checkpoint(checkpoint, "--checkpoint")
    method = cfg.method_class
    for key in method.training_inputs:  # e.g. a distilled run's teacher
        cfg.set(key, None)
    if data_root is not None:
        if not os.path.isdir(data_root):
            raise TaxovitError(f"--data-root {os.fspath(data_root)}: folder not found")
        cfg.data.root = os.fspath(data_root)
    fine = space.fine_names
    fmt, top_k = choose_format(fmt, fine, top_k, out)
    head_is_fine = method.has_head(method.own(cfg)) and list(space.train_names) == list(fine)
    use_knn = knn is not None or not head_is_fine
    check_files(
        cfg,
        f"--checkpoint {checkpoint} (its config)",
        splits=(split, "train") if use_knn and split != "train" else (split,),
    )
    plan = OutputPlan({"--checkpoint": checkpoint, **input_files(cfg)})
    targets = _outputs(plan, out, fmt, truth_out)

    online = _network(ck, cfg, space, checkpoint).to(dev).eval()
    tax = load_taxonomy(cfg.taxonomy)
    samples, split_space = load_split(cfg.data, split, tax, cfg.train_rank)
    plan.add_inputs(f"an image of the {split!r} split", samples.paths or [])
    if split_space.fine_names != space.fine_names:
        raise TaxovitError(
            f"the {split!r} split's classes differ from the ones the checkpoint was trained on"
        )
    k = None
    if not use_knn:
        _, logits = embed_samples(online, samples, space, cfg, dev, batch_size, with_logits=True)
        scores = torch.softmax(logits, dim=1).numpy()
        # train_names are in fine order when the head is fine (LabelSpace keeps that order)
    else:
        k = int(knn if knn is not None else cfg.eval.knn_k)
        train_samples, _ = load_split(cfg.data, "train", tax, cfg.train_rank)
        plan.add_inputs("an image of the 'train' split", train_samples.paths or [])
        scores = _knn_scores(online, train_samples, samples, space, cfg, dev, batch_size, k)
    y_true = [fine[i] for i in samples.fine]
    contents = [
        encode(fmt, samples.ids, y_true, list(fine), scores, top_k, out),
        *([truth_csv(samples.ids, y_true)] if truth_out is not None else []),
    ]
    plan.write(dict(zip(targets, contents, strict=False)))
    acc = float((scores.argmax(axis=1) == samples.fine).mean()) if len(samples) else float("nan")
    return {
        "out": os.fspath(out),
        "format": fmt,
        "classifier": "knn" if use_knn else "head",
        "k": k,
        "rows": len(samples),
        "accuracy": acc,
    }


def _network(ck: dict[str, Any], cfg: Config, space: Any, checkpoint: Any) -> Any:
    """The run's network with its weights: the EMA of the weights when the run kept one
    (``optim.ema_weights``), prepared by its method (e.g. LoRA adapters folded into the
    weights: same outputs)."""
    online = build_online(cfg, len(space.train_names), pretrained=False)
    load_weights(online, ck.get("model_ema") or ck["model"], f"--checkpoint {checkpoint}")
    cfg.method_class.for_predict(online)
    return online


def _outputs(plan: OutputPlan, out: Any, fmt: str, truth_out: Any) -> list[Output]:
    """``--out`` in format ``fmt`` (:func:`~taxovit.predictions.writers.choose_format`: the
    wide CSV by default up to 1,000 classes) and ``--truth-out``, the true labels
    (``id,expected``) of a ``topk`` submission."""
    if truth_out is not None and fmt != "topk":
        raise TaxovitError("--truth-out is for --format topk (the other formats hold y_true)")
    targets = [plan.file("--out", out)]
    return targets + ([] if truth_out is None else [plan.file("--truth-out", truth_out)])


def _knn_scores(
    online: Network,
    train_samples: SampleSet,
    samples: SampleSet,
    space: LabelSpace,
    cfg: Config,
    device: torch.device,
    batch_size: int | None,
    k: int,
) -> np.ndarray:
    """Fine-class scores of ``samples`` by the weighted vote of their ``k`` nearest
    training images."""
    db, _ = embed_samples(online, train_samples, space, cfg, device, batch_size)
    q, _ = embed_samples(online, samples, space, cfg, device, batch_size)
    return knn_classify(
        q,
        db,
        torch.from_numpy(train_samples.fine),
        len(space.fine_names),
        k=k,
        temperature=cfg.eval.temperature,
    ).numpy()
