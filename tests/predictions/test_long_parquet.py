"""The long-Parquet fast path (:mod:`taxovit.predictions.long_parquet`) against the general
long reader, on generated files: the same Predictions or the same error, whatever the file
holds (ids in runs or not, across row groups, as text or integers; unknown, empty, null or
repeated labels; scores out of order, ties, NaN; a y_true that varies; every label per id)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import taxovit.predictions.long_reader as long_reader
from taxovit import Taxonomy
from taxovit.errors import TaxovitError
from taxovit.predictions import read_any
from taxovit.predictions.contract import CheckedRanked
from taxovit.predictions.long_parquet import read_runs
from taxovit.predictions.parquet_reader import ParquetTable
from taxovit.predictions.sources import header_of, open_source
from taxovit.predictions.tables import find_columns

LEAVES = [f"s{i}" for i in range(8)]


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    g = nx.DiGraph()
    for i, leaf in enumerate(LEAVES):
        g.add_edge(f"g{i // 2}", leaf)
        g.add_edge(f"f{i // 4}", f"g{i // 2}")
        g.add_edge("root", f"f{i // 4}")
    for i, name in enumerate(["root", *LEAVES]):
        g.nodes[name]["code"] = 100 + i
    return Taxonomy(g)


@contextlib.contextmanager
def general_only():
    """The general reader for every long Parquet file (the fast path declines)."""
    fast = long_reader.read_runs
    long_reader.read_runs = lambda src, header, names, n2i, reading=None: (
        None,
        ParquetTable.read(src, [names["score"]]),
    )
    try:
        yield
    finally:
        long_reader.read_runs = fast


def outcome(path: Path, name_to_id, truth: Path | None = None):
    try:
        return read_any(path, name_to_id, truth=truth)
    except TaxovitError as exc:
        return type(exc), str(exc)


def assert_same(a, b) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    for key in ("ids", "y_true", "y_pred", "score_labels", "scores", "ranked", "ranked_scores"):
        x, y = getattr(a, key), getattr(b, key)
        if x is None or y is None:
            assert x is None and y is None, key
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, key
        np.testing.assert_array_equal(x, y, err_msg=key)
    assert (a.notes, a.format, a.path) == (b.notes, b.format, b.path)
    assert [type(s) for s in a.ids] == [type(s) for s in b.ids]


@st.composite
def long_tables(draw) -> tuple[pa.Table, int]:
    """A long table (id, label, score[, y_true]) and a row-group size: mostly well formed,
    with one of the ways a file can go wrong now and then."""
    n_ids = draw(st.integers(1, 7))
    k = draw(st.integers(1, 4))
    ids = [f"img{i}" for i in draw(st.permutations(range(n_ids)))]
    rows = []
    for i in ids:
        labels = draw(st.permutations(LEAVES))[:k]
        scores = sorted(
            draw(st.lists(st.sampled_from([0.1, 0.5, 0.5, 0.9]), min_size=k, max_size=k)),
            reverse=True,
        )
        truth = draw(st.sampled_from(LEAVES))
        rows += [[i, lab, s, truth] for lab, s in zip(labels, scores, strict=True)]
    fault = draw(
        st.sampled_from(
            ["none"] * 6
            + [
                "swap rows",
                "repeat label",
                "unknown label",
                "empty label",
                "null label",
                "rising score",
                "nan score",
                "null score",
                "varying truth",
                "unknown truth",
                "empty id",
                "null id",
                "every label",
                "id comes back",
            ]
        )
    )
    r = draw(st.integers(0, len(rows) - 1))
    if fault == "swap rows" and len(rows) > 1:
        j = draw(st.integers(0, len(rows) - 1))
        rows[r], rows[j] = rows[j], rows[r]
    elif fault == "repeat label" and r > 0:
        rows[r][1] = rows[r - 1][1]
    elif fault in ("unknown label", "empty label", "null label"):
        rows[r][1] = {"unknown label": "nope", "empty label": "", "null label": None}[fault]
    elif fault in ("rising score", "nan score", "null score"):
        rows[r][2] = {"rising score": 2.0, "nan score": float("nan"), "null score": None}[fault]
    elif fault == "varying truth":
        rows[r][3] = "s1" if rows[r][3] == "s0" else "s0"
    elif fault == "unknown truth":
        rows[r][3] = "zz"
    elif fault in ("empty id", "null id"):
        rows[r][0] = "" if fault == "empty id" else None
    elif fault == "every label":
        rows = [[i, lab, 1.0 - j / 10, "s0"] for i in ids for j, lab in enumerate(LEAVES)]
    elif fault == "id comes back" and n_ids > 1:
        rows.append([rows[0][0], "s7" if rows[0][1] != "s7" else "s6", 0.0, rows[0][3]])
    id_type = draw(st.sampled_from(["string", "large_string", "dictionary", "int"]))
    id_col = [x for x, *_ in rows]
    if id_type == "int":
        id_arr = pa.array(
            [None if x is None else (int(x[3:]) if x else 0) for x in id_col], pa.int64()
        )
    elif id_type == "dictionary":
        id_arr = pa.array(id_col, pa.string()).dictionary_encode()
    else:
        id_arr = pa.array(id_col, getattr(pa, id_type)())
    columns = {
        "id": id_arr,
        "label": pa.array([x[1] for x in rows], pa.string()),
        "score": pa.array(
            [x[2] for x in rows], draw(st.sampled_from([pa.float64(), pa.float32()]))
        ),
        "y_true": pa.array([x[3] for x in rows], pa.string()),
    }
    at_fault = [g for g in (r, r + 1) if 0 < g <= len(rows)]  # a row group ends next to it
    return pa.table(columns), draw(st.sampled_from(at_fault) | st.integers(1, len(rows)))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(long_tables())
def test_fast_path_agrees_with_the_general_reader(tmp_path, tax, case) -> None:
    table, row_group = case
    path = tmp_path / "long.parquet"
    pq.write_table(table, path, row_group_size=row_group)
    fast = outcome(path, tax.name_to_id)
    with general_only():
        general = outcome(path, tax.name_to_id)
    assert_same(fast, general)


def write(path: Path, rows: list[tuple], row_group: int, with_truth: bool = True) -> Path:
    names = ["id", "label", "score", "y_true"][: 4 if with_truth else 3]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    pq.write_table(table, path, row_group_size=row_group)
    return path


def runs_of(path: Path, tax: Taxonomy):
    src = open_source(path)
    header, row = header_of(src)
    names = find_columns(src.context(), header, ["id", "label", "score"], ["y_true"], row=row)
    return read_runs(src, header, names, tax.name_to_id)[0]


GOOD = [
    (f"img{i}", LEAVES[(i + j) % 8], 1.0 - j / 4, LEAVES[i % 8]) for i in range(7) for j in range(3)
]


def test_the_fast_path_takes_well_formed_files(tmp_path, tax) -> None:
    """Ids spanning row groups (3 rows per id, 4 per group) in runs: the fast path reads it,
    as the general reader would, and marks its ranked candidates as checked."""
    path = write(tmp_path / "l.parquet", GOOD, row_group=4)
    runs = runs_of(path, tax)
    assert runs is not None and runs.ranked.shape == (7, 3) and runs.n_labels == 8
    data = read_any(path, tax.name_to_id)
    assert isinstance(data.ranked, CheckedRanked) and not data.ranked.flags.writeable
    with general_only():
        assert_same(data, read_any(path, tax.name_to_id))


def test_the_fast_path_keeps_the_candidates_scores_for_ece(tmp_path, tax) -> None:
    """A long Parquet file whose scores are probabilities: the fast path carries the
    candidates' scores, so its ECE is the general reader's (not null)."""
    import taxovit

    rows = [
        (f"img{i}", LEAVES[(i + j) % 8], [0.6, 0.3, 0.1][j], LEAVES[i % 8])
        for i in range(7)
        for j in range(3)
    ]
    path = write(tmp_path / "p.parquet", rows, row_group=4)
    assert runs_of(path, tax) is not None  # the fast path takes it
    fast = read_any(path, tax.name_to_id)
    with general_only():
        general = read_any(path, tax.name_to_id)
    assert_same(fast, general)
    ece = [
        taxovit.evaluate(
            d.y_true, d.y_pred, tax, ranked=d.ranked, ranked_scores=d.ranked_scores
        ).metrics["ece"]
        for d in (fast, general)
    ]
    assert ece[0] is not None and ece[0] == ece[1]


@pytest.mark.parametrize(
    "change",
    [
        lambda rows: rows[:3] + rows[6:9] + rows[3:6] + rows[9:12] + rows[:1],  # img0 comes back
        lambda rows: [(i, lab, -s, y) for i, lab, s, y in rows],  # worst first
        lambda rows: [
            (i, lab, s, LEAVES[n % 8]) for n, (i, lab, s, y) in enumerate(rows)
        ],  # y varies
        lambda rows: rows[:-1],  # the last id has 2 rows, the others 3
        # rows 4-5 (img1's last two) start the second row group: the only fault is at the seam
        lambda rows: [
            r if n not in (4, 5) else (*r[:2], 3.0 - n / 5, r[3]) for n, r in enumerate(rows)
        ],
        lambda rows: [r if n not in (4, 5) else (*r[:3], "s0") for n, r in enumerate(rows)],
    ],
)
def test_the_fast_path_declines_and_the_general_reader_decides(tmp_path, tax, change) -> None:
    path = write(tmp_path / "l.parquet", change(GOOD), row_group=4)
    assert runs_of(path, tax) is None
    fast = outcome(path, tax.name_to_id)
    with general_only():
        assert_same(fast, outcome(path, tax.name_to_id))


def test_truth_file_and_label_attr_through_the_fast_path(tmp_path, tax) -> None:
    """Without a y_true column the truth comes from --truth, ids matched by the fast path's
    ids; with --label-attr integer labels name nodes by attribute."""
    path = write(tmp_path / "l.parquet", GOOD, row_group=5, with_truth=False)
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "id,expected\n" + "".join(f"img{i},{LEAVES[i % 8]}\n" for i in reversed(range(7)))
    )
    assert runs_of(path, tax) is not None
    fast = read_any(path, tax.name_to_id, truth=truth)
    with general_only():
        assert_same(fast, read_any(path, tax.name_to_id, truth=truth))
    np.testing.assert_array_equal(fast.y_true, [tax.name_to_id[LEAVES[i % 8]] for i in range(7)])
    truth.write_text("id,expected\nimg0,s0\n")  # an id of the predictions is missing
    assert_same(outcome(path, tax.name_to_id, truth), (outcome(path, tax.name_to_id, truth)))
    with general_only():
        general = outcome(path, tax.name_to_id, truth)
    assert outcome(path, tax.name_to_id, truth) == general and "not in the truth file" in general[1]

    from taxovit.predictions import attribute_labels

    codes = attribute_labels(tax, "code")
    coded = [
        (int(i[3:]), 101 + LEAVES.index(lab), s, 101 + LEAVES.index(y)) for i, lab, s, y in GOOD
    ]
    path = write(tmp_path / "coded.parquet", coded, row_group=4)
    fast = read_any(path, codes)
    with general_only():
        assert_same(fast, read_any(path, codes))
    assert fast.ids[0] == "0" and fast.y_pred[0] == tax.name_to_id[GOOD[0][1]]


def test_prefetch_starts_only_long_parquet_and_reads_the_same(tmp_path, tax) -> None:
    """prefetch starts the reads of a long Parquet file (never raises, None otherwise);
    read_any then gives what it gives without."""
    from taxovit.predictions import prefetch

    path = write(tmp_path / "l.parquet", GOOD, row_group=4)
    started = prefetch(path)
    assert started is not None and started.fmt == "long-parquet"
    assert_same(read_any(path, tax.name_to_id, prefetched=started), read_any(path, tax.name_to_id))
    other = write(tmp_path / "m.parquet", GOOD[:-3], row_group=4)
    assert_same(
        read_any(other, tax.name_to_id, prefetched=prefetch(path)), read_any(other, tax.name_to_id)
    )
    (tmp_path / "c.csv").write_text("id,label,score,y_true\nimg0,s0,1.0,s0\n")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 but not Parquet")
    pq.write_table(
        pa.table({"id": ["a"], "y_true": ["s0"], "y_pred": ["s0"]}), tmp_path / "w.parquet"
    )
    for p in (
        "-",
        tmp_path / "c.csv",
        tmp_path / "missing.parquet",
        tmp_path / "bad.parquet",
        tmp_path / "w.parquet",
        tmp_path,
    ):
        assert prefetch(p) is None, p


def test_a_bad_taxonomy_is_reported_first_with_a_prefetched_file(tmp_path) -> None:
    """The CLI starts reading a long Parquet file before it loads the taxonomy; a bad
    taxonomy is still the one error reported (and the command does not wait on the reads)."""
    from typer.testing import CliRunner

    from taxovit.cli import app

    path = write(tmp_path / "l.parquet", GOOD, row_group=4)
    (tmp_path / "tax.json").write_text('{"name": "root", "children": [{"name": ""}]}')
    res = CliRunner().invoke(app, ["evaluate", str(path), "-t", str(tmp_path / "tax.json")])
    assert res.exit_code == 2 and "tax.json" in res.output and "l.parquet" not in res.output
