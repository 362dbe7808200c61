"""The one check of what a caller hands :func:`taxovit.evaluate` (Python API and CLI alike).

Every problem is an :class:`~taxovit.errors.ArgumentError` (a ``ValueError``) naming the
argument and what was expected, or an :class:`~taxovit.errors.UnknownLabelError` (a
``KeyError``) naming the first label that is not a taxonomy node, shown as plain text.
"""

from __future__ import annotations

import numbers
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from taxovit.errors import ArgumentError
from taxovit.taxonomy import Taxonomy

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_BOOTSTRAP", "as_taxonomy", "check_int", "check_labels_aligned", "check_top_k"]

#: more resamples than this are refused (1,000 is typical; 100,000 takes hours at 1 M rows)
MAX_BOOTSTRAP = 100_000


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"{name} must be a whole number, got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        bound = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise ArgumentError(f"{name} must be {bound}, got {v:,}")
    return v


def check_top_k(top_k: Any) -> tuple[int, ...]:
    """Distinct k values, each a whole number >= 1, sorted; at least one."""
    if isinstance(top_k, numbers.Integral):
        top_k = [top_k]
    if isinstance(top_k, str) or not isinstance(top_k, Sequence | np.ndarray) or len(top_k) == 0:
        raise ArgumentError(f"top_k must be a non-empty list of whole numbers >= 1, got {top_k!r}")
    return tuple(sorted({check_int(k, "top_k value", 1) for k in top_k}))


def as_taxonomy(taxonomy: Any) -> Taxonomy:
    """A :class:`Taxonomy`, loading it when given a path."""
    if isinstance(taxonomy, Taxonomy):
        return taxonomy
    if isinstance(taxonomy, str | os.PathLike):
        from taxovit.taxonomy import load_taxonomy

        return load_taxonomy(taxonomy)
    raise ArgumentError(
        f"taxonomy must be a Taxonomy or the path of a taxonomy file, got {type(taxonomy).__name__}"
    )


def _index(x: Any) -> pd.Index | None:
    pd = sys.modules.get("pandas")  # not imported yet: x cannot be a pandas object
    return x.index if pd is not None and isinstance(x, pd.Series | pd.DataFrame) else None


def check_labels_aligned(**named: Any) -> None:
    """pandas inputs (Series, DataFrames) must share one index: rows are matched by
    position, so differently indexed inputs would be silently mismatched."""
    indexed = {name: idx for name, x in named.items() if (idx := _index(x)) is not None}
    if len(indexed) < 2:
        return
    (first, ref), *rest = indexed.items()
    for name, idx in rest:
        if not idx.equals(ref):
            raise ArgumentError(
                f"{first} and {name} have different pandas indexes; rows are matched by "
                "position, so align them first (e.g. .loc[common] or .reset_index(drop=True))"
            )
