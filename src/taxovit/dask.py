"""Dask as the distributed engine (``pip install "taxovit[dask]"``).

:func:`evaluate` maps each partition (a Parquet file of a dataset, or a partition of a
``dask.dataframe``) to an evaluation state (:class:`~taxovit.evaluation.streaming.StreamingEvaluator`,
sent back as its plain bytes, :mod:`taxovit.evaluation.state_io`) and tree-reduces the states
with :meth:`~taxovit.evaluation.streaming.StreamingEvaluator.merge`. The taxonomy is scattered
to the workers once (``client.scatter(..., broadcast=True)``), not sent with each partition.
Counts are integers held exactly in float64 and the merge adds them, so the report equals the
single-process one (:func:`taxovit.evaluation.dataset.evaluate_dataset`) exactly for counts,
and to the rounding of a different summation order for the few float sums (distances).

A long dataframe's ids must not span partitions (partition by id, as a file does).
A failed task is retried by Dask (``retries``, default 2: a killed worker's partitions run
again elsewhere; a state is a pure function of its partition, so the report stays exact); an
input error (:class:`~taxovit.predictions.tables.RecordError`) fails the run with its message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from taxovit.errors import ArgumentError
from taxovit.evaluation.dataset import (
    BATCH_ROWS,
    FAN_IN,
    POISSON_BATCH_ROWS,
    dataset_files,
    file_state,
    guarded,
    merge_group,
    new_state,
    schema_spec,
    spec_of,
)
from taxovit.evaluation.state_io import any_state_from_bytes

__all__ = ["evaluate", "local_client"]


def _import() -> tuple[Any, Any]:
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise ArgumentError(
            f'--engine dask needs dask: pip install "taxovit[dask]" ({exc})'
        ) from None
    return dask, distributed


def local_client(n_workers: int | None = None) -> Any:
    """A ``LocalCluster`` of one single-threaded worker process per core (or ``n_workers``)."""
    _, distributed = _import()
    n = n_workers or os.cpu_count() or 1
    cluster = distributed.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return distributed.Client(cluster)


def _file_task(
    tax: Any,
    spec: Any,
    top_k: Sequence[int],
    label_attr: str | None,
    score_kind: str,
    batch_rows: int,
    boot: tuple[int, int] | None,
    file: str,
) -> bytes:
    from taxovit.predictions.labels import label_map

    labels = label_map(tax, label_attr)
    ev = new_state(tax, spec, labels, top_k, score_kind, boot)
    with guarded(file):
        file_state(ev, [file], spec, labels, batch_rows)
    return ev.to_bytes()


def _frame_task(
    tax: Any,
    top_k: Sequence[int],
    label_attr: str | None,
    score_kind: str,
    boot: tuple[int, int] | None,
    frame: Any,
    index: int,
) -> bytes:
    import pyarrow as pa

    from taxovit.predictions.labels import label_map

    labels = label_map(tax, label_attr)
    name = f"partition {index}"
    spec = spec_of(list(frame.columns), name)
    ev = new_state(tax, spec, labels, top_k, score_kind, boot)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if table.num_rows:
        from taxovit.evaluation.dataset_batches import ADDERS

        ADDERS[spec.layout](ev, table.combine_chunks().to_batches()[0], spec, labels, name, 0)
    return ev.to_bytes()


def _merge(tax: Any, *states: bytes) -> bytes:
    return merge_group([any_state_from_bytes(s, tax) for s in states]).to_bytes()


def _tree_reduce(client: Any, futures: list, tax_f: Any, fan_in: int = FAN_IN) -> Any:
    """Merge the states in a tree of ``fan_in``-way merges on the workers (the tree of
    :class:`~taxovit.evaluation.dataset.TreeMerge`: the local report, bit for bit)."""
    while len(futures) > 1:
        futures = [
            client.submit(_merge, tax_f, *futures[i : i + fan_in], pure=False)
            for i in range(0, len(futures), fan_in)
        ]
    return futures[0]


def evaluate(
    data: Any,
    taxonomy: Any,
    *,
    top_k: Sequence[int] = (1, 5),
    label_attr: str | None = None,
    client: Any = None,
    scheduler: str | None = None,
    retries: int = 2,
    batch_rows: int | None = None,
    score_kind: str = "probs",
    n_resamples: int = 0,
    seed: int = 0,
) -> Any:
    """The merged state of a Parquet dataset (folder, glob or list of files) or a
    ``dask.dataframe``; with ``n_resamples``, of the Poisson bootstrap (long or top-k layout).

    Parameters
    ----------
    data : str, os.PathLike, list of files, or dask.dataframe.DataFrame
        A Parquet dataset (folder, glob or files) or a dataframe of predictions.
    taxonomy : Taxonomy or path
    top_k : sequence of int
        The k of top-k accuracy and distance@k.
    label_attr : str, optional
        Labels are the values of this node attribute (default: node names).
    client : distributed.Client, optional
        Else ``scheduler`` (an address), else a :func:`local_client` sized to the machine,
        closed at the end.
    scheduler : str, optional
    retries : int
        Dask's retries of a failed task (a killed worker's partitions run again).
    batch_rows : int, optional
        Rows read at a time from a Parquet file (the local engine's default).
    score_kind : {"probs", "logits"}
    n_resamples, seed : int
        Poisson bootstrap resamples (0: none) and their seed: the same intervals as the
        local engine's (:func:`taxovit.evaluation.poisson.evaluate_poisson`).

    Returns
    -------
    StreamingEvaluator or PoissonState
        The merged state; its ``.compute()`` (bootstrap: ``.report(ci)``) is the report.

    Raises
    ------
    ArgumentError
        Dask not installed, or bad arguments.
    RecordError
        An input error in a partition (the run fails with its message).

    Examples
    --------
    Skipped: starting a cluster takes longer than a doctest should.

    >>> from taxovit import dask as tdask                          # doctest: +SKIP
    >>> state = tdask.evaluate("preds/", "taxonomy.json")          # doctest: +SKIP
    >>> state.compute().metrics["mistake_severity"]                # doctest: +SKIP
    """
    from taxovit.evaluation.arguments import as_taxonomy

    _import()
    tax = as_taxonomy(taxonomy)
    own = client is None
    if own:
        import distributed

        client = distributed.Client(scheduler) if scheduler else local_client()
    try:
        tax_f = client.scatter(tax, broadcast=True, hash=False)  # a fresh key per run
        boot = (int(n_resamples), int(seed)) if n_resamples > 0 else None
        if isinstance(data, (str, os.PathLike, list, tuple)):  # a dataset, or its files
            files = dataset_files(data)
            spec = schema_spec(files)
            if boot:  # ids needed (not the wide layout): refused here, not in every task
                new_state(tax, spec, {}, top_k, score_kind, boot)
            rows = batch_rows or (POISSON_BATCH_ROWS if boot else BATCH_ROWS)
            futures = client.map(
                _file_task,
                [tax_f] * len(files),
                [spec] * len(files),
                [tuple(top_k)] * len(files),
                [label_attr] * len(files),
                [score_kind] * len(files),
                [rows] * len(files),
                [boot] * len(files),
                files,
                retries=retries,
                pure=False,
            )
        else:
            parts = data.to_delayed()
            frames = client.compute(parts)
            futures = [
                client.submit(
                    _frame_task,
                    tax_f,
                    tuple(top_k),
                    label_attr,
                    score_kind,
                    boot,
                    f,
                    i,
                    retries=retries,
                    pure=False,
                )
                for i, f in enumerate(frames)
            ]
        if not futures:
            raise ArgumentError("the dataset has no partitions")
        return any_state_from_bytes(_tree_reduce(client, futures, tax_f).result(), tax)
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
