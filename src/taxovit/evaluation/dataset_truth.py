"""``--truth FILE`` for a Parquet dataset without ``y_true`` (top-k or long layout).

The truth file (:mod:`taxovit.predictions.truth`: ``id,expected`` or ``id,y_true``) is held
in memory while the dataset streams past: its ids as one Arrow string array (their bytes + 8
per id), their node ids (4 bytes), the ids' sorted 64-bit hashes and their order (16 bytes;
a match is confirmed on the strings) and a flag per id (1 byte): about 29 bytes + the id's
length per sample (42 bytes for 13-character ids). Measured: the process's resident memory
grows by ~100 bytes per sample (1 M 13-character ids, after ``malloc_trim``: reading the file
makes a Python string per id, whose memory the allocator keeps), so ~10 GB per 100 M samples:
the one part of a dataset's evaluation that grows with the number of samples.
As for one file, the ids must be exactly the truth file's:
an id not in it, an id met twice (in any files) and, after the scan, an id of the truth file
met in none are errors naming the file, row and column.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from taxovit.predictions.csv_layout import shorten
from taxovit.predictions.tables import RecordError, fail_at
from taxovit.predictions.truth import read_truth

__all__ = ["TruthLookup"]


class TruthLookup:
    """The true labels of a dataset's ids, read from a truth file."""

    def __init__(self, path: str | os.PathLike[str], name_to_id: Mapping[str, int]) -> None:
        import pandas as pd
        import pyarrow as pa

        truth = read_truth(path, name_to_id)
        self.path, self.name_to_id = path, name_to_id
        self.shown, self.id_col = truth.path, truth.id_col
        self.ids = pa.array(truth.ids, type=pa.large_string())  # ~ its bytes + 8 per id
        self.labels = truth.y_true.astype(np.int32 if len(name_to_id) < 1 << 31 else np.int64)
        hashes = pd.util.hash_array(truth.ids).astype(np.uint64)
        self.order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[self.order]
        self.index = None  # two truth ids of one 64-bit hash (never seen): a pandas index
        if (self.hashes[1:] == self.hashes[:-1]).any():
            self.index = pd.Index(truth.ids)
        self.seen = np.zeros(len(truth.ids), dtype=bool)

    def positions(self, ids: Any) -> np.ndarray:
        """The truth file's row of each of ``ids`` (-1: not in it)."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = np.asarray(ids, dtype=object)
        if self.index is not None:
            return self.index.get_indexer(ids)
        if not self.hashes.size:
            return np.full(ids.size, -1, dtype=np.int64)
        h = pd.util.hash_array(ids).astype(np.uint64)
        at = np.minimum(np.searchsorted(self.hashes, h), self.hashes.size - 1)
        pos = self.order[at]
        same = (self.hashes[at] == h) & pc.equal(
            self.ids.take(pa.array(pos)), pa.array(ids, type=pa.large_string())
        ).to_numpy(zero_copy_only=False)
        return np.where(same, pos, -1)

    def y_true(self, ids: Any, file: str, rows: np.ndarray, column: str) -> np.ndarray:
        """The node ids of the truths of ``ids`` (data rows ``rows``, 1-based, of ``file``);
        each id once in the whole dataset."""
        pos = self.positions(ids)
        bad = np.flatnonzero(pos < 0)
        if bad.size:
            i = int(bad[0])
            raise RecordError(
                f"id {shorten(str(ids[i]))} is not in the truth file {self.shown}; "
                "expected the same ids in both",
                file=file,
                row=int(rows[i]),
                column=column,
            )
        again = self.seen[pos]
        order = np.argsort(pos, kind="stable")
        twice = np.zeros(pos.size, dtype=bool)
        twice[order[1:]] = pos[order[1:]] == pos[order[:-1]]
        bad = np.flatnonzero(again | twice)
        if bad.size:
            i = int(bad[0])
            raise RecordError(
                f"id {shorten(str(ids[i]))} was met before (in this or an earlier file); "
                "expected each id once (a long file's rows of an id together)",
                file=file,
                row=int(rows[i]),
                column=column,
            )
        self.seen[pos] = True
        return self.labels[pos].astype(np.int64)

    def check_all_seen(self, dataset: str) -> None:
        """After the scan: every id of the truth file was in the dataset."""
        miss = np.flatnonzero(~self.seen)
        if miss.size:
            r = int(miss[0])
            table = read_truth(self.path, self.name_to_id).table  # read again, to locate it
            fail_at(
                table,
                r,
                self.id_col,
                f"id {shorten(str(self.ids[r].as_py()))} is not in the dataset {dataset}; "
                "expected the same ids in both",
            )
