"""Out-of-core evaluation of Parquet datasets (taxovit.evaluation.dataset, .poisson) and the
CLI on a folder or glob: equals the in-memory report; errors name file, row, column."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="datasets need pyarrow ([parquet] extra)")
pq = pytest.importorskip("pyarrow.parquet")

from typer.testing import CliRunner  # noqa: E402

from taxovit import Taxonomy, evaluate  # noqa: E402
from taxovit.cli import app  # noqa: E402
from taxovit.errors import TaxovitError  # noqa: E402
from taxovit.evaluation.dataset import evaluate_dataset  # noqa: E402
from taxovit.evaluation.poisson import evaluate_poisson, poisson_weights  # noqa: E402
from taxovit.taxonomy import save_taxonomy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_evaluation import hand_taxonomy  # noqa: E402
from test_streaming import _same  # noqa: E402  (counts exact, means to 1e-12)

LEAVES = np.array(["a1", "a2", "b1", "b2", "A", "B"])


def long_rows(n: int, k: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """n samples, k candidates each (distinct labels; ties in the scores), one row each."""
    rng = np.random.default_rng(seed)
    lab = np.concatenate([rng.permutation(LEAVES)[:k] for _ in range(n)])
    return {
        "id": np.repeat([f"s{i}" for i in range(n)], k),
        "label": lab,
        "score": rng.integers(0, 4, n * k) / 4.0,
        "y_true": np.repeat(rng.choice(LEAVES[:4], n), k),
    }


def write_parts(rows: dict, folder: Path, cuts: list[int], hive: bool = True) -> None:
    """Write ``rows`` split at ``cuts`` (row indices; cut between samples) into Parquet files."""
    bounds = [0, *cuts, len(rows["id"])]
    for j, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        sub = folder / (f"part={j % 2}" if hive else "") / f"f{j:03d}.parquet"
        sub.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({k: v[a:b] for k, v in rows.items()}), sub, row_group_size=7)


def in_memory(rows: dict, tax, k: int, top_k=(1, 3)):
    n = len(rows["id"]) // k
    order = np.lexsort((np.arange(n * k), -rows["score"], np.repeat(np.arange(n), k)))
    ranked = np.array([tax.name_to_id[x] for x in rows["label"]])[order].reshape(n, k)
    t = np.array([tax.name_to_id[x] for x in rows["y_true"][::k]])
    return evaluate(t, ranked[:, 0], tax, ranked=ranked, top_k=top_k)


@pytest.mark.parametrize("batch_rows", [5, 8, 1 << 20])
def test_long_dataset_equals_in_memory(tmp_path, batch_rows) -> None:
    tax, rows = hand_taxonomy(), long_rows(60)
    write_parts(rows, tmp_path, [30, 90, 99])
    got = evaluate_dataset(tmp_path, tax, top_k=(1, 3), batch_rows=batch_rows).compute()
    _same(got, in_memory(rows, tax, 3))


@pytest.mark.parametrize("batch_rows", [8, 1 << 20])
def test_long_dataset_written_best_first_equals_in_memory(tmp_path, batch_rows) -> None:
    """Rows already best first (ties kept in row order) take the reader's no-sort path."""
    tax, rows = hand_taxonomy(), long_rows(60)
    n, k = 60, 3
    order = np.lexsort((np.arange(n * k), -rows["score"], np.repeat(np.arange(n), k)))
    rows = {key: v[order] if key in ("label", "score") else v for key, v in rows.items()}
    write_parts(rows, tmp_path, [30, 90, 99])
    got = evaluate_dataset(tmp_path, tax, top_k=(1, 3), batch_rows=batch_rows).compute()
    _same(got, in_memory(rows, tax, 3))


def test_tail_start_on_a_dictionary_that_repeats_a_word() -> None:
    """The trailing id run is found from the dictionary codes, by value when the dictionary
    holds the last id twice (a writer need not deduplicate it)."""
    from taxovit.evaluation.dataset import _tail_start

    plain = pa.DictionaryArray.from_arrays(pa.array([0, 0, 1, 2, 2]), ["s0", "s1", "s2"])
    assert _tail_start(plain) == 3
    twice = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 1]), ["s0", "s1", "s1"])
    assert _tail_start(twice) == 1  # rows 1-3 are all "s1"
    one = pa.DictionaryArray.from_arrays(pa.array([0, 0]), ["s0"])
    assert _tail_start(one) == 0
    assert _tail_start(pa.array(["s0", "s1", "s1"])) == 1


def test_empty_label_with_the_narrowest_index_type_is_named() -> None:
    """A null label in an int8-indexed dictionary of 128 words (its null code, 128, does not
    fit int8) is reported on its row."""
    from taxovit.evaluation.dataset_batches import _node_ids

    words = [f"w{i}" for i in range(128)]
    col = pa.DictionaryArray.from_arrays(pa.array([0, None, 127], type=pa.int8()), words)
    with pytest.raises(TaxovitError) as exc:
        _node_ids(col, {w: i for i, w in enumerate(words)}, "f.parquet", 10, "label")
    assert str(exc.value) == (
        "f.parquet, row 12, column 'label': empty; expected a node of the taxonomy"
    )
    assert _node_ids(col[::2], {w: i for i, w in enumerate(words)}, "f", 0, "l").tolist() == [
        0,
        127,
    ]


def test_wide_dataset_with_scores_equals_in_memory(tmp_path) -> None:
    tax = hand_taxonomy()
    rng = np.random.default_rng(1)
    t, p = rng.choice(LEAVES[:4], 40), rng.choice(LEAVES, 40)
    s = rng.random((40, 4))
    cols = {"y_true": t, "y_pred": p, **{f"score_{c}": s[:, i] for i, c in enumerate(LEAVES[:4])}}
    write_parts(cols | {"id": np.arange(40).astype(str)}, tmp_path, [10, 25], hive=False)
    got = evaluate_dataset(str(tmp_path / "*.parquet"), tax, top_k=(1, 3), batch_rows=6).compute()
    want = evaluate(t, p, tax, s, score_labels=LEAVES[:4], top_k=(1, 3))
    for key, value in want.metrics.items():
        if key.startswith(("map", "ece_adaptive")):  # need every score: null when streaming
            assert got.metrics[key] is None
        elif isinstance(value, float):
            assert got.metrics[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got.metrics[key] == value, key


def test_poisson_intervals_independent_of_partitioning(tmp_path) -> None:
    tax, rows = hand_taxonomy(), long_rows(80)
    write_parts(rows, tmp_path / "one", [])
    write_parts(rows, tmp_path / "many", [3, 30, 120, 123, 201])
    a = evaluate_poisson(tmp_path / "one", tax, n_resamples=40, top_k=(1, 3), batch_rows=1000)
    b = evaluate_poisson(tmp_path / "many", tax, n_resamples=40, top_k=(1, 3), batch_rows=4)
    assert a.intervals == b.intervals and a.intervals["accuracy"][0] < a.metrics["accuracy"]
    _same(a, in_memory(rows, tax, 3))
    w = poisson_weights(np.array(["x", "y"]), 20000, seed=3)
    assert w.mean() == pytest.approx(1, abs=0.03) and w.var() == pytest.approx(1, abs=0.05)
    assert (poisson_weights(np.array(["y"]), 5, 3) == w[1:, :5]).all()


def test_errors_name_file_row_column(tmp_path) -> None:
    tax, rows = hand_taxonomy(), long_rows(20)
    rows["label"] = rows["label"].astype(object)
    rows["label"][31] = "nope"
    write_parts(rows, tmp_path, [30])
    with pytest.raises(
        TaxovitError, match=r"f001\.parquet, row 2, column 'label': 'nope' is not a node"
    ):
        evaluate_dataset(tmp_path, tax, batch_rows=4)
    rows = long_rows(20)
    rows["y_true"][4] = "a1" if rows["y_true"][3] != "a1" else "a2"
    write_parts(rows, tmp_path / "t", [])
    with pytest.raises(TaxovitError, match=r"row 5, column 'y_true': y_true differs"):
        evaluate_dataset(tmp_path / "t", tax, batch_rows=4)


@pytest.mark.parametrize("sizes", ["equal", "unequal"])
def test_a_label_twice_for_an_id_is_named_at_the_ids_first_row(tmp_path, sizes) -> None:
    """Sample s7 (rows 22-24 of the file, or 21-23 when s0 has two rows only) lists one label
    twice: named at its first row, whether every id has K rows (the reader's view of the
    rows) or not (its sorted path); nothing else is reported."""
    tax, rows = hand_taxonomy(), long_rows(12)
    rows["label"][23] = rows["label"][22]
    if sizes == "unequal":
        rows = {k: np.delete(v, 0) for k, v in rows.items()}
    write_parts(rows, tmp_path, [], hive=False)
    first = 22 if sizes == "equal" else 21
    with pytest.raises(
        TaxovitError, match=rf"f000\.parquet, row {first}, column 'label': the same label twice"
    ):
        evaluate_dataset(tmp_path, tax, batch_rows=1 << 20)


@pytest.mark.parametrize("dictionary", [False, True])
def test_an_ids_rows_apart_are_an_error_naming_the_row(tmp_path, dictionary) -> None:
    """s1's rows (4-6) come back after s2's (rows 10-12, before s4's): named at row 10,
    whether the id column is plain strings (codes in order of first appearance) or a
    dictionary whose codes are in another order."""
    tax, rows = hand_taxonomy(), long_rows(5)
    rows["id"][9:12] = "s1"
    rows["y_true"][9:12] = rows["y_true"][3]
    ids = pa.array(rows["id"])
    if dictionary:  # dictionary s4 ... s0: decreasing codes at the run starts
        ids = pa.DictionaryArray.from_arrays(
            pa.array([4 - int(x[1]) for x in rows["id"]], pa.int32()),
            pa.array(["s4", "s3", "s2", "s1", "s0"]),
        )
    pq.write_table(pa.table(rows).set_column(0, "id", ids), tmp_path / "f.parquet")
    with pytest.raises(TaxovitError, match=r"f\.parquet, row 10, column 'id': this id's rows"):
        evaluate_dataset(tmp_path, tax, batch_rows=64)


@pytest.fixture
def files(tmp_path):
    tax_path = tmp_path / "tax.json"
    save_taxonomy(hand_taxonomy(), tax_path)
    write_parts(long_rows(50), tmp_path / "lake", [30, 60])
    return tmp_path, tax_path


def test_cli_dataset_json_and_bootstrap(files) -> None:
    tmp, tax = files
    out = tmp / "r.json"
    args = ["evaluate", str(tmp / "lake"), "-t", str(tax), "--top-k", "1", "--top-k", "3"]
    res = CliRunner().invoke(app, [*args, "-f", "json", "-o", str(out), "--bootstrap", "30"])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    want = in_memory(long_rows(50), hand_taxonomy(), 3)
    assert report["metrics"]["accuracy"] == want.metrics["accuracy"]
    assert report["confidence_intervals"]["accuracy"][0] <= want.metrics["accuracy"]
    assert report["input"]["files"] == "3"


def test_cli_corrupt_partition_exit_2_nothing_written(files) -> None:
    tmp, tax = files
    bad = tmp / "lake" / "part=1" / "f001.parquet"
    bad.write_bytes(bad.read_bytes()[:40])
    out = tmp / "r.json"
    res = CliRunner().invoke(app, ["evaluate", str(tmp / "lake"), "-t", str(tax), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "f001.parquet" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_cli_output_onto_a_dataset_file_refused(files) -> None:
    tmp, tax = files
    target = tmp / "lake" / "part=0" / "f000.parquet"
    before = target.read_bytes()
    res = CliRunner().invoke(
        app, ["evaluate", str(tmp / "lake"), "-t", str(tax), "-o", str(target)]
    )
    assert res.exit_code == 2 and "dataset file" in res.output
    assert target.read_bytes() == before
    res = CliRunner().invoke(
        app, ["evaluate", str(tmp / "lake"), "-t", str(tax), "--per-class", "x.csv"]
    )
    assert res.exit_code == 2 and "--per-class is not available for a dataset" in res.output


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 64, 65, 100])
def test_tree_merge_groups_like_dask(n) -> None:
    """TreeMerge's streaming grouping equals the level-by-level reduction of taxovit.dask
    (each state records the order of its additions)."""
    from taxovit.evaluation.dataset import FAN_IN, TreeMerge, merge_group

    class Expr:
        def __init__(self, text: str) -> None:
            self.text = text

        def merge(self, other: Expr) -> Expr:
            self.text = f"({self.text}+{other.text})"
            return self

    items = [Expr(str(i)) for i in range(n)]
    while len(items) > 1:
        items = [merge_group(items[i : i + FAN_IN]) for i in range(0, len(items), FAN_IN)]
    tree = TreeMerge()
    for i in range(n):
        tree.add(Expr(str(i)))
    assert tree.result().text == items[0].text


def _prob_rows(n: int, k: int = 3, seed: int = 2) -> dict[str, np.ndarray]:
    """Long rows whose candidates' scores are probabilities (a row sums to <= 1)."""
    rows = long_rows(n, k, seed)
    rng = np.random.default_rng(seed)
    rows["score"] = (rng.dirichlet(np.ones(k + 1), n)[:, :k]).ravel()
    return rows


def _cli_json(args: list[str], out: Path) -> dict:
    res = CliRunner().invoke(app, ["evaluate", *args, "-f", "json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


@pytest.mark.parametrize("probs", [True, False])
def test_dataset_report_equals_single_file_report(tmp_path, probs) -> None:
    """Every key both give is equal (ece from the candidates' scores included, when they are
    probabilities; null with the same note when not); the dataset's other keys are null."""
    rows = _prob_rows(70) if probs else long_rows(70)
    tax = tmp_path / "tax.json"
    ranks = {"A": "genus", "B": "genus", "a1": "species", "a2": "species", "b1": "species"}
    save_taxonomy(Taxonomy.from_edges(hand_taxonomy().graph.edges, ranks=ranks), tax)
    write_parts(rows, tmp_path / "lake", [30, 90, 150])
    pq.write_table(pa.table(rows), tmp_path / "one.parquet")
    top = ["-t", str(tax), "--top-k", "1", "--top-k", "3"]
    one = _cli_json([str(tmp_path / "one.parquet"), *top], tmp_path / "one.json")
    lake = _cli_json([str(tmp_path / "lake"), *top], tmp_path / "lake.json")
    assert (one["metrics"]["ece"] is not None) is probs
    for key, want in one["metrics"].items():
        got = lake["metrics"][key]
        if got is None:
            assert want is None or key.startswith(("map", "ece_adaptive")), key
        elif isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12), key
        else:
            assert got == want, key
    assert set(one["per_rank"]) == {"genus", "species"}
    for rank, values in one["per_rank"].items():
        for key, want in values.items():
            got = lake["per_rank"][rank][key]
            assert got == (pytest.approx(want, rel=1e-12) if isinstance(want, float) else want)
    if not probs:
        assert lake["notes"]["ece"] == one["notes"]["ece"]
    boot = _cli_json([str(tmp_path / "lake"), *top, "--bootstrap", "9"], tmp_path / "b.json")
    assert ("ece" in boot["confidence_intervals"]) is probs  # no interval for a null key


def test_empty_list_of_files_refused() -> None:
    with pytest.raises(TaxovitError, match="empty list of dataset files"):
        evaluate_dataset([], hand_taxonomy())


def test_poisson_interval_of_the_ece(tmp_path) -> None:
    rows = _prob_rows(60)
    write_parts(rows, tmp_path / "one", [])
    write_parts(rows, tmp_path / "many", [3, 60, 123])
    kw = {"n_resamples": 30, "top_k": (1, 3)}
    a = evaluate_poisson(tmp_path / "one", hand_taxonomy(), batch_rows=1000, **kw)
    b = evaluate_poisson(tmp_path / "many", hand_taxonomy(), batch_rows=5, **kw)
    lo, hi = a.intervals["ece"]
    assert lo <= a.metrics["ece"] <= hi and lo < hi
    assert a.intervals == b.intervals  # exact sums of the confidences too


def test_files_in_threads_equal_one_thread_and_the_first_bad_file_is_named(
    tmp_path, monkeypatch
) -> None:
    """FILE_THREADS files at once: the same sums bit for bit (states merged in file order),
    and of two bad files the first in order is the one named, whichever fails first."""
    import taxovit.evaluation.dataset as dataset_module

    tax, rows = hand_taxonomy(), long_rows(80)
    write_parts(rows, tmp_path / "ok", [30, 60, 90, 120, 150, 180, 210])
    results = {}
    for threads in (1, 2, 3):
        monkeypatch.setattr(dataset_module, "FILE_THREADS", threads)
        results[threads] = evaluate_dataset(tmp_path / "ok", tax, top_k=(1, 3), batch_rows=7)
    assert results[1].sums == results[2].sums == results[3].sums
    assert all(
        np.array_equal(results[1].counts[k], results[t].counts[k])
        for t in (2, 3)
        for k in results[1].counts
    )
    rows["label"] = rows["label"].astype(object)
    rows["label"][[40, 200]] = "nope"  # files f001 (rows 30-59) and f006 (rows 180-209)
    write_parts(rows, tmp_path / "bad", [30, 60, 90, 120, 150, 180, 210], hive=False)
    with pytest.raises(TaxovitError, match=r"f001\.parquet, row 11, column 'label'"):
        evaluate_dataset(tmp_path / "bad", tax, batch_rows=7)
