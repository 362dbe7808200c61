"""Predictions of a trained checkpoint on a split, written as the CSV ``taxovit evaluate`` reads.

Columns: ``id,y_true,y_pred,score_<label>...`` where the labels are the taxonomy node names of
the dataset's fine classes (e.g. ``score_T-shirt/top``) and the scores of a row sum to 1.

Two classifiers:

* **kNN** (``knn=K``): DINO-style weighted vote over the ``K`` training images nearest in
  cosine similarity of the backbone's CLS feature, weights ``exp(cos / 0.07)``, on the *fine*
  labels. This is how a model trained on coarse labels (Grafit, or cross-entropy on coarse)
  is read out at the fine level.
* **the classifier head** (``knn=None``) when the model has one *and* it was trained on the
  fine classes; otherwise the kNN classifier with ``eval.knn_k`` neighbours is used.

This module imports torch; ``import taxovit`` never imports it.
"""


from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from taxovit.errors import TaxovitError
from taxovit.predictions import write_predictions
from taxovit.taxonomy import load_taxonomy
from taxovit.training.checkpoint import load_checkpoint
from taxovit.training.config import merge_config
from taxovit.training.data import LabelSpace, SampleSet, load_split
from taxovit.training.embed import embed_samples
from taxovit.training.neighbors import knn_classify
from taxovit.training.network import Network, build_online
from taxovit.training.runtime import resolve_device

__all__ = ["predict"]


def predict(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    split: str = "test",
    knn: int | None = None,
    *,
    device: str = "auto",
    batch_size: int | None = None,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Classify ``split`` with the model in ``checkpoint`` and write the predictions CSV.

    ``data_root`` replaces the config's ``data.root`` (e.g. the data moved). Returns
    ``{"out", "classifier", "k", "rows", "accuracy"}``.
    """
    ck = load_checkpoint(checkpoint)
    cfg = merge_config(ck["config"], f"{checkpoint} (config)")
    if data_root is not None:
        cfg["data"]["root"] = data_root
    space = LabelSpace.from_dict(ck["label_space"])
    dev = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    online = build_online(cfg, len(space.train_names))
    online.load_state_dict(ck["model"])
    online.to(dev).eval()

    tax = load_taxonomy(cfg["taxonomy"])
    samples, split_space = load_split(cfg["data"], split, tax, cfg["train_rank"])
    if split_space.fine_names != space.fine_names:
        raise TaxovitError(
            f"the {split!r} split's classes differ from the ones the checkpoint was trained on"
        )
    fine = space.fine_names
    head_is_fine = online.head is not None and list(space.train_names) == list(fine)
    if knn is None and head_is_fine:
        _, logits = embed_samples(online, samples, space, cfg, dev, batch_size, with_logits=True)
        scores = torch.softmax(logits, dim=1).numpy()
        # train_names are in fine order when the head is fine (LabelSpace keeps that order)
        classifier, k = "head", None
    else:
        k = int(knn if knn is not None else cfg["eval"]["knn_k"])
        if k < 1:
            raise TaxovitError(f"--knn must be >= 1, got {k}")
        train_samples, _ = load_split(cfg["data"], "train", tax, cfg["train_rank"])
        scores = _knn_scores(online, train_samples, samples, space, cfg, dev, batch_size, k)
        classifier = "knn"
    y_true = [fine[i] for i in samples.fine]
    write_predictions(out, samples.ids, y_true, list(fine), scores)
    acc = float((scores.argmax(axis=1) == samples.fine).mean()) if len(samples) else float("nan")
    return {"out": str(out), "classifier": classifier, "k": k, "rows": len(samples),
            "accuracy": acc}  # fmt: skip


def _knn_scores(
    online: Network,
    train_samples: SampleSet,
    samples: SampleSet,
    space: LabelSpace,
    cfg: dict[str, Any],
    device: torch.device,
    batch_size: int | None,
    k: int,
) -> np.ndarray:
    """Fine-class scores of ``samples`` by the weighted vote of their ``k`` nearest
    training images."""
    db, _ = embed_samples(online, train_samples, space, cfg, device, batch_size)
    q, _ = embed_samples(online, samples, space, cfg, device, batch_size)
    return knn_classify(
        q, db, torch.from_numpy(train_samples.fine), len(space.fine_names), k=k,
        temperature=float(cfg["eval"]["temperature"]),
    ).numpy()  # fmt: skip
