"""Invariance tests driven by the metric table (as scikit-learn's ALL_METRICS drives its
common tests): every report key has a row, and every row's value is the same whatever path
computes it (batch, streaming in any chunking and merge order, bootstrap with unit weights,
integer weights or repeated rows, compare), whatever the row order; its direction holds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from taxovit import Taxonomy, evaluate
from taxovit.evaluation.bootstrap import build_units, resample_metrics
from taxovit.evaluation.compare import compare
from taxovit.evaluation.core import evaluate_point
from taxovit.evaluation.report import flatten_metrics
from taxovit.evaluation.statistics import batch_of_one, statistics_of
from taxovit.evaluation.streaming import StreamingEvaluator
from taxovit.metrics import table
from taxovit.predictions import Predictions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))  # its problems()
from test_evaluation import problems  # noqa: E402

TOP_K = (1, 3)


def _flat(report) -> dict[str, float | None]:
    return flatten_metrics({**report.metrics, "per_rank": report.per_rank})


def _close(a, b, key: str) -> None:
    if b is None or (isinstance(b, float) and np.isnan(b)):
        assert a is None or np.isnan(a), key
    else:
        assert a is not None and a == pytest.approx(b, rel=1e-9, abs=1e-12), key


@st.composite
def scored_problems(draw):
    """A problem with, at random, scores that are probabilities (a positive offset) or not."""
    tax, t, p, cols, scores = draw(problems(with_scores=True, ranked=True))
    if draw(st.booleans()):
        scores = scores + 0.5  # rows with a positive sum: probabilities after normalising
    use = draw(st.sampled_from(["none", "scores"]))
    return tax, t, p, (cols if use == "scores" else None), (scores if use == "scores" else None)


def _evaluate(tax, t, p, cols, scores):
    return evaluate(t, p, tax, scores, score_labels=cols, top_k=TOP_K)


# ------------------------------------------------------------------------------ every key
@given(scored_problems())
@settings(max_examples=40, deadline=None)
def test_every_report_key_has_a_row_and_its_label_and_direction(prob) -> None:
    report = _evaluate(*prob)
    for key in _flat(report):
        row, params = table.lookup(key)  # KeyError: a key without a row
        assert row.direction in (table.HIGHER, table.LOWER, table.NEITHER)
        assert "{" not in table.label(key) or key == "per_level_accuracy"


def test_a_key_without_a_row_fails() -> None:
    with pytest.raises(KeyError, match="no row"):
        table.lookup("made_up_metric")


def test_row_metrics_are_the_only_ones_without_intervals() -> None:
    rows = {m.key for m in (*table.METRICS, *table.RANK_METRICS) if not m.resample}
    assert rows == {
        "map_macro",
        "map_weighted",
        "map_micro",
        "map_macro_present",
        "ece_adaptive",
        "per_rank/{rank}/ece_adaptive",
    }


# ------------------------------------------------------------------------------ invariance
@given(scored_problems(), st.data())
@settings(max_examples=40, deadline=None)
def test_row_order_invariance(prob, data) -> None:
    tax, t, p, cols, scores = prob
    order = np.array(data.draw(st.permutations(range(t.size))))
    a = _flat(_evaluate(tax, t, p, cols, scores))
    b = _flat(_evaluate(tax, t[order], p[order], cols, None if scores is None else scores[order]))
    assert list(a) == list(b)
    for key, value in a.items():
        _close(b[key], value, key)


@given(scored_problems(), st.data())
@settings(max_examples=40, deadline=None)
def test_batch_equals_streaming_for_any_chunking_and_merge_order(prob, data) -> None:
    tax, t, p, cols, scores = prob
    cuts = sorted(data.draw(st.lists(st.integers(0, t.size), max_size=4)))
    parts = [idx for idx in np.split(np.arange(t.size), cuts) if idx.size]
    evs = []
    for idx in parts:
        ev = StreamingEvaluator(tax, TOP_K, keep_scores=True, score_labels=cols)
        ev.update(t[idx], p[idx], None if scores is None else scores[idx])
        evs.append(ev)
    order = data.draw(st.permutations(range(len(evs))))
    while len(order) > 1:  # merge a random pair until one is left: any merge tree
        i = data.draw(st.integers(0, len(order) - 2))
        evs[order[i]].merge(evs[order[i + 1]])
        order = [*order[: i + 1], *order[i + 2 :]]
    got = _flat(evs[order[0]].compute())
    want = _flat(_evaluate(tax, t, p, cols, scores))
    assert list(got) == list(want)
    for key, value in want.items():
        _close(got[key], value, key)


def _statistics(tax, t, p, cols, scores):
    _, ctx, inputs = evaluate_point(t, p, tax, scores, score_labels=cols, top_k=TOP_K)
    return statistics_of(ctx, inputs, rows=False)


@given(scored_problems())
@settings(max_examples=40, deadline=None)
def test_batch_equals_bootstrap_with_unit_weights(prob) -> None:
    point = _flat(_evaluate(*prob))
    st_ = _statistics(*prob)
    units = build_units(st_)
    unit = np.bincount(units.unit_of, minlength=units.n_units)[None, :].astype(float)
    resampled = resample_metrics(units, unit)
    for key, value in point.items():
        if table.lookup(key)[0].resample:
            _close(float(resampled[key][0]), value, key)
        else:
            assert np.isnan(resampled[key][0]), key  # no interval for mAP, ece_adaptive


@given(scored_problems(), st.data())
@settings(max_examples=40, deadline=None)
def test_integer_weights_equal_repeated_rows(prob, data) -> None:
    tax, t, p, cols, scores = prob
    w = np.array(data.draw(st.lists(st.integers(0, 3), min_size=t.size, max_size=t.size)))
    if w.sum() == 0:
        w[0] = 1
    st_ = _statistics(tax, t, p, cols, scores)
    weighted = table.compute(st_.layout, batch_of_one(st_.weighted_sums(w.astype(float))))
    rep = np.repeat(np.arange(t.size), w)
    sub = (tax, t[rep], p[rep], cols, None if scores is None else scores[rep])
    # the same keys: e.g. all-zero score rows (not probabilities) all drawn with weight 0
    assume(_statistics(*sub).layout == st_.layout)
    repeated = _flat(_evaluate(*sub))
    for key, value in weighted.items():
        if table.lookup(key)[0].resample and key in repeated:
            _close(repeated[key], float(value[0]), key)


@given(scored_problems(), st.data())
@settings(max_examples=25, deadline=None)
def test_compare_a_and_b_are_the_two_reports(prob, data) -> None:
    tax, t, p, cols, scores = prob
    p2 = np.array(
        data.draw(st.lists(st.integers(0, len(tax.nodes) - 1), min_size=t.size, max_size=t.size))
    )
    ids = np.array([f"s{i}" for i in range(t.size)], dtype=object)
    labels = np.zeros(0, dtype=np.int64) if cols is None else np.asarray(cols, dtype=np.int64)
    a, b = (Predictions(ids, t, y, labels, scores, "x.csv") for y in (p, p2))
    cmp = compare(a, b, tax, top_k=TOP_K, bootstrap=0)
    ra, rb = _flat(_evaluate(tax, t, p, cols, scores)), _flat(_evaluate(tax, t, p2, cols, scores))
    for key, entry in cmp.rows():
        _close(entry["a"], ra[key], key)
        _close(entry["b"], rb[key], key)


# ------------------------------------------------------------------------------ direction
def _tree() -> Taxonomy:
    edges = [("root", "A"), ("root", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")]
    ranks = {
        "A": "genus",
        "B": "genus",
        "a1": "species",
        "a2": "species",
        "b1": "species",
        "b2": "species",
    }
    return Taxonomy.from_edges(edges, ranks=ranks)


def _pair():
    """A better model (3 in 4 right, the mistakes in the right genus, calibrated-ish) and a
    worse one (every prediction in the other genus, as confident)."""
    leaves = ["a1", "a2", "b1", "b2"]
    truth = leaves * 4
    sibling = {"a1": "a2", "a2": "a1", "b1": "b2", "b2": "b1"}
    other = {"a1": "b1", "a2": "b2", "b1": "a1", "b2": "a2"}
    better = [sibling[y] if i % 4 == 0 else y for i, y in enumerate(truth)]
    worse = [other[y] for y in truth]

    def scores(pred):
        s = np.full((len(pred), 4), 0.1)
        s[np.arange(len(pred)), [leaves.index(x) for x in pred]] = 0.7
        return s

    return truth, leaves, (better, scores(better)), (worse, scores(worse))


def test_declared_direction_holds_on_a_better_and_a_worse_model() -> None:
    tax = _tree()
    truth, leaves, (pb, sb), (pw, sw) = _pair()
    good = _flat(evaluate(truth, pb, tax, sb, score_labels=leaves, top_k=(1, 2)))
    bad = _flat(evaluate(truth, pw, tax, sw, score_labels=leaves, top_k=(1, 2)))
    strict = set()
    for key, g in good.items():
        w = bad[key]
        row = table.lookup(key)[0]
        if g is None or w is None or row.direction == table.NEITHER:
            continue
        assert (g >= w) if row.direction == table.HIGHER else (g <= w), key
        if g != w:
            strict.add(row.key)
    # every row that can tell the two apart on this pair does
    assert {
        "accuracy",
        "mistake_severity",
        "ece",
        "brier",
        "nll",
        "map_macro",
        "ece_adaptive",
        "per_rank/{rank}/accuracy",
        "top{k}_accuracy",
        "tree_induced_error_sum",
        "mean_lca_depth",
        "per_level_accuracy/{level}",
    } <= strict


# ------------------------------------------------------------------------------ docs
def test_docs_metric_table_is_the_table_and_the_cli_prints_it() -> None:
    import importlib.util

    from typer.testing import CliRunner

    from taxovit.cli import app

    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert page.count("<!-- metric-table -->") == 1
    spec = importlib.util.spec_from_file_location(
        "cli_reference", root / "docs" / "hooks" / "cli_reference.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    before, after = page.split("<!-- metric-table -->")
    built = hook.on_page_markdown(page)
    assert built == hook.on_page_markdown(before) + table.markdown() + hook.on_page_markdown(after)
    res = CliRunner().invoke(app, ["metrics", "--markdown"])
    assert res.exit_code == 0 and res.stdout == table.markdown()
    res = CliRunner().invoke(app, ["metrics"])
    assert res.exit_code == 0 and "mistake_severity" in res.stdout


@pytest.mark.parametrize("module", ["flat", "hierarchical", "calibration", "table"])
def test_the_metric_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"taxovit.metrics.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
