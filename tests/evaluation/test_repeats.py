"""rows_with_repeat (ranked candidates, long-format pairs) against a per-row set."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from taxovit._repeats import rows_with_repeat


def _expected(m: np.ndarray, pad: int | None) -> list[bool]:
    out = []
    for row in m.tolist():
        vals = [v for v in row if v != pad]
        out.append(len(vals) != len(set(vals)))
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda k: arrays(
            np.int64, st.tuples(st.integers(0, 30), st.just(k)), elements=st.integers(-1, 6)
        )
    ),
    st.sampled_from([None, -1]),
)
def test_rows_with_repeat_matches_a_set_per_row(m, pad) -> None:
    """Narrow rows (pairwise comparisons) and wide ones (> 16 columns: sorted), with padding."""
    assert rows_with_repeat(m, pad=pad).tolist() == _expected(m, pad)


def test_blocks_cover_every_row() -> None:
    rng = np.random.default_rng(0)
    m = rng.permuted(np.tile(np.arange(10), (100_003, 1)), axis=1)  # no repeat anywhere
    m[[0, 32_767, 32_768, 100_002], 9] = m[[0, 32_767, 32_768, 100_002], 0]
    assert np.flatnonzero(rows_with_repeat(m)).tolist() == [0, 32_767, 32_768, 100_002]
