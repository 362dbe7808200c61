"""The grouping columns of ``--group-by``: read from ``--meta FILE`` or the predictions file
(CSV or Parquet with an id column), matched to the predictions by id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import InputError

__all__ = ["read_group_columns"]


def _listed(names: list[str], most: int = 12) -> str:
    more = f", ... ({len(names) - most} more)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _table(path: Path, id_col: str, columns: list[str]) -> Any:
    import pandas as pd

    with open(path, "rb") as fh:
        parquet = fh.read(4) == b"PAR1"
    try:
        if parquet:
            import pyarrow.parquet as pq

            have = pq.read_schema(path).names
        else:
            have = list(pd.read_csv(path, nrows=0, dtype=str).columns)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read it as CSV or Parquet: {exc}", file=str(path)) from None
    for col in (id_col, *columns):
        if col not in have:
            raise InputError(
                f"no column {col!r} (for {'the ids' if col == id_col else '--group-by'}); "
                f"it has {_listed(have)}",
                file=str(path),
                row=1,
                column=col,
            )
    use = list(dict.fromkeys([id_col, *columns]))
    if parquet:
        return pd.read_parquet(path, columns=use).astype(object)
    return pd.read_csv(path, usecols=use, dtype=str, keep_default_na=False)


def read_group_columns(
    path: str | Path, id_col: str, columns: list[str], ids: NDArray[np.object_]
) -> dict[str, NDArray[np.object_]]:
    """``{column: (n,) values}`` aligned with the predictions' ``ids``; every prediction id
    must be in the file once (the file may hold more ids)."""
    path = Path(path)
    frame = _table(path, id_col, columns)
    key = frame[id_col].astype(str)
    dup = key.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            f"id {key.iloc[i]!r} appears twice", file=str(path), row=i + 2, column=id_col
        )
    pos = key.reset_index(drop=True).pipe(lambda s: dict(zip(s, range(len(s)), strict=True)))
    rows = np.fromiter((pos.get(str(x), -1) for x in ids), np.int64, len(ids))
    if (rows < 0).any():
        missing = ids[int(np.flatnonzero(rows < 0)[0])]
        raise InputError(
            f"the predictions' id {missing!r} is not in this file", file=str(path), column=id_col
        )
    return {c: frame[c].to_numpy(dtype=object)[rows] for c in columns}
