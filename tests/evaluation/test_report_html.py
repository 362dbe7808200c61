"""`taxovit evaluate --html`: the page's data, the extra's message, the safety rules, and the
page as a person sees it in headless Chromium (skipped where Chromium is absent)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from taxovit import Taxonomy, evaluate, load_taxonomy
from taxovit.cli import app
from taxovit.report_html.data import confused_pairs, node_stats, page_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
import browser  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
BIRDS = ROOT / "taxonomies" / "birds.json"
needs_report = pytest.mark.skipif(
    any(__import__("importlib").util.find_spec(m) is None for m in ("plotly", "jinja2")),
    reason="the [report] extra (plotly, jinja2) is not installed",
)


def _run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def birds():
    tax = load_taxonomy(BIRDS)
    df = pd.read_csv(EXAMPLE)
    scores = df.filter(like="score_").rename(columns=lambda c: c[len("score_") :])
    return tax, evaluate(df.y_true, df.y_pred, tax, scores)


def _tiny():
    edges = [("r", "A"), ("r", "B"), ("A", "a1"), ("A", "a2"), ("B", "b1")]
    ranks = {"A": "genus", "B": "genus", "a1": "species", "a2": "species", "b1": "species"}
    tax = Taxonomy.from_edges(edges, ranks=ranks)
    y_true = ["a1", "a1", "a1", "a2", "b1", "b1"]
    y_pred = ["a1", "a2", "A", "a2", "a1", "b1"]
    return tax, evaluate(y_true, y_pred, tax)


def test_node_stats_by_hand() -> None:
    tax, report = _tiny()
    s = node_stats(report, tax)
    at = {n: i for i, n in enumerate(tax.nodes)}
    # A: truth a1,a1,a1,a2 -> predictions a1,a2,A,a2 all inside A; B: b1,b1 -> a1 outside
    assert s["support"][at["A"]] == 4 and s["hits"][at["A"]] == 4
    assert s["support"][at["B"]] == 2 and s["recall"][at["B"]] == 0.5
    assert s["predicted"][at["A"]] == 5 and s["precision"][at["A"]] == pytest.approx(4 / 5)
    # a1: 3 true, 1 right; the abstention to A counts as missed
    assert s["recall"][at["a1"]] == pytest.approx(1 / 3)
    assert s["precision"][at["a1"]] == pytest.approx(1 / 2)
    assert s["support"][at["r"]] == 6 and s["recall"][at["r"]] == 1


def test_confused_pairs_by_hand() -> None:
    tax, report = _tiny()
    pairs = confused_pairs(report, tax)
    got = {(p["true"], p["predicted"]): p for p in pairs}
    assert set(got) == {("a1", "a2"), ("a1", "A"), ("b1", "a1")}
    assert got[("a1", "a2")]["lca"] == "A" and got[("a1", "a2")]["split_rank"] == "species"
    assert got[("b1", "a1")]["lca"] == "r" and got[("b1", "a1")]["split_rank"] == "genus"
    assert got[("a1", "A")]["coarser"] and not got[("a1", "a2")]["coarser"]
    assert got[("b1", "a1")]["share"] == pytest.approx(0.5)


def test_page_data_is_json_and_complete(birds) -> None:
    tax, report = birds
    d = page_data(report, tax, {"predictions": "p.csv"})
    json.dumps(d, allow_nan=False)
    assert len(d["tree"]["id"]) == len(tax.nodes)  # every birds taxon is on a label's path
    assert sum(d["pairs"]["n"]) == report.metrics["n_samples"]
    assert [c["key"] for c in d["cards"]][:2] == ["accuracy", "top1_accuracy"]
    assert d["reliability"] is not None and d["sections"] == []
    # a future section of the JSON report (slices, long tail, ...) shows as a table
    report.to_dict = (lambda orig: lambda: {**orig(), "slices": {"north": {"accuracy": 0.5}}})(
        report.to_dict
    )
    d = page_data(report, tax, {})
    assert d["sections"] == [
        {"title": "slices", "columns": ["key", "accuracy"], "rows": [["north", 0.5]]}
    ]


@needs_report
def test_html_report_cli_and_size(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = _run(
        "evaluate",
        EXAMPLE,
        "-t",
        BIRDS,
        "--html",
        out,
        "-b",
        "50",
        "-f",
        "json",
        "-o",
        tmp_path / "r.json",
    )
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert out.stat().st_size < 3_000_000  # a few MB: plotly.js travels compressed
    assert not re.search(r"""(src|href)\s*=\s*["']https?://""", text)  # no CDN, nothing fetched
    assert "cdn.plot.ly" not in text
    import base64
    import gzip

    from plotly.offline import get_plotlyjs

    packed = re.search(r'id="plotly-gz">(.*?)</script>', text, re.S).group(1)
    assert (
        gzip.decompress(base64.b64decode(packed)).decode() == get_plotlyjs()
    )  # all of it, inlined
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    assert data["summary"]["samples"] == 400 and data["summary"]["bootstrap"]["resamples"] == 50
    assert data["cards"][0]["ci"] is not None


@needs_report
def test_html_never_onto_an_input_and_nothing_written_on_error(tmp_path: Path) -> None:
    preds = tmp_path / "p.csv"
    preds.write_bytes(EXAMPLE.read_bytes())
    res = _run("evaluate", preds, "-t", BIRDS, "--html", preds)
    assert res.exit_code == 2 and "same file" in res.output
    assert preds.read_bytes() == EXAMPLE.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,y_true,y_pred\n1,Mallard,Not_A_Bird\n")
    res = _run("evaluate", bad, "-t", BIRDS, "--html", tmp_path / "r.html")
    assert res.exit_code == 2 and not (tmp_path / "r.html").exists()


def test_html_without_the_extra_names_it(tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "plotly" else real(name, *a)
    )
    res = _run("evaluate", EXAMPLE, "-t", BIRDS, "--html", tmp_path / "r.html")
    assert res.exit_code == 2
    assert "[report]" in res.output and "plotly" in res.output
    assert not (tmp_path / "r.html").exists()


# ---------------------------------------------------------------------- in a real browser
BROWSER = browser.browser_or_skip_reason()


@needs_report
@pytest.mark.skipif(BROWSER is not None, reason=BROWSER or "")
def test_report_in_headless_chromium(tmp_path: Path, birds) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    tax, report = birds
    out = tmp_path / "report.html"
    assert _run("evaluate", EXAMPLE, "-t", BIRDS, "--html", out).exit_code == 0
    driver = browser.start(1400, 1800)
    try:
        browser.open_page(driver, out)
        errors = [e for e in browser.console(driver) if e["level"] == "SEVERE"]
        assert errors == []  # console errors (and failed loads, which Chromium logs as SEVERE)
        urls = browser.requests(driver)
        assert urls and all(
            u == out.resolve().as_uri() or u.startswith(("data:", "blob:")) for u in urls
        ), urls
        # the sunburst draws one slice per taxon with samples (all 374 birds taxa)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#sunburst g.slice")) == len(tax.nodes)
        assert driver.find_element(By.ID, "node-name").text == "Aves"
        before = len(driver.find_elements(By.CSS_SELECTOR, "#subtree tbody tr"))
        # click the Laridae (gulls and terns) slice as a person would
        label = next(
            t
            for t in driver.find_elements(By.CSS_SELECTOR, "#sunburst g.slice text")
            if t.text == "Laridae"
        )
        ActionChains(driver).move_to_element(label).click().perform()
        for _ in range(100):
            if driver.find_element(By.ID, "node-name").text == "Laridae":
                break
            driver.implicitly_wait(0.05)
        assert driver.find_element(By.ID, "node-name").text == "Laridae"
        rows = driver.find_elements(By.CSS_SELECTOR, "#subtree tbody tr")
        laridae = {n for n in tax.nodes if "Laridae" in tax.ancestors(n) or n == "Laridae"}
        expected = sum(1 for c in report.per_class.index if c in laridae)
        assert len(rows) == expected < before
        assert all(r.find_elements(By.TAG_NAME, "td")[0].text in laridae for r in rows)
        assert driver.find_element(By.CSS_SELECTOR, "#confusion .main-svg")  # its matrix drawn
        # a click on a header sorts the table (numbers, descending first)
        header = next(
            h for h in driver.find_elements(By.CSS_SELECTOR, "#subtree th") if h.text == "recall"
        )
        col = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#subtree th")].index("recall")
        header.click()
        values = [
            float(r.find_elements(By.TAG_NAME, "td")[col].text)
            for r in driver.find_elements(By.CSS_SELECTOR, "#subtree tbody tr")
        ]
        assert values == sorted(values, reverse=True) and values[0] > values[-1]
        shots = Path(os.environ.get("TAXOVIT_SCREENSHOTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(shots / "report_laridae.png"))
        assert errors == [e for e in browser.console(driver) if e["level"] == "SEVERE"]
    finally:
        driver.quit()


def test_shipped_example_ids_unique() -> None:
    df = pd.read_csv(EXAMPLE, usecols=["id"])
    assert df["id"].is_unique and np.all(df["id"].str.startswith("cub_"))


@needs_report
def test_compare_and_leaderboard_pages(tmp_path: Path) -> None:
    worse = tmp_path / "worse.csv"
    df = pd.read_csv(EXAMPLE, usecols=["id", "y_true", "y_pred"])
    df.loc[::5, "y_pred"] = df["y_true"].to_numpy()[::-1][::5]
    df.to_csv(worse, index=False)
    cmp_html, board_html = tmp_path / "cmp.html", tmp_path / "board.html"
    res = _run(
        "compare",
        EXAMPLE,
        worse,
        "-t",
        BIRDS,
        "-b",
        "100",
        "--html",
        cmp_html,
        "-f",
        "json",
        "-o",
        tmp_path / "c.json",
    )
    assert res.exit_code == 0, res.output
    res = _run("leaderboard", EXAMPLE, worse, "-t", BIRDS, "-b", "100", "--html", board_html)
    assert res.exit_code == 0, res.output
    assert "Holm" in board_html.read_text() and "worse.csv" in cmp_html.read_text()
    assert not (tmp_path / "c.json").read_text().startswith("<")
    if BROWSER is not None:
        pytest.skip(BROWSER)
    from selenium.webdriver.common.by import By

    driver = browser.start(1200, 900)
    try:
        for page, table in ((cmp_html, "comparison"), (board_html, "board")):
            browser.open_page(driver, page)
            assert [e for e in browser.console(driver) if e["level"] == "SEVERE"] == []
            assert driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
            assert driver.find_elements(By.CSS_SELECTOR, ".main-svg")  # its charts drawn
            if page == cmp_html:  # B − A recall of every birds taxon
                assert len(driver.find_elements(By.CSS_SELECTOR, "#diff-sunburst g.slice")) == 374
        # the leaderboard: one interval chart per metric, two models in each
        assert len(driver.find_elements(By.CSS_SELECTOR, "#forest .js-plotly-plot")) == 4
    finally:
        driver.quit()


@needs_report
@pytest.mark.skipif(BROWSER is not None, reason=BROWSER or "")
def test_dag_and_unranked_pages_load(tmp_path: Path) -> None:
    """A DAG (no sunburst: tables only) and a tree without ranks, no scores: no errors."""
    from selenium.webdriver.common.by import By

    from taxovit.report_html import evaluation_html

    dag = Taxonomy.from_edges(
        [("r", "A"), ("r", "B"), ("A", "x"), ("B", "x"), ("A", "y"), ("B", "z")]
    )
    tree = Taxonomy.from_edges([("r", "A"), ("r", "B"), ("A", "x"), ("A", "y"), ("B", "z")])
    y_true, y_pred = ["x", "y", "z", "z", "y"], ["x", "x", "y", "A", "y"]
    driver = browser.start(1200, 900)
    try:
        for name, tax, slices in (("dag", dag, 0), ("tree", tree, 6)):
            page = tmp_path / f"{name}.html"
            page.write_text(
                evaluation_html(evaluate(y_true, y_pred, tax), tax, {"predictions": name})
            )
            browser.open_page(driver, page)
            assert [e for e in browser.console(driver) if e["level"] == "SEVERE"] == []
            assert len(driver.find_elements(By.CSS_SELECTOR, "#sunburst g.slice")) == slices
            assert driver.find_elements(By.CSS_SELECTOR, "#pairs-table tbody tr")
    finally:
        driver.quit()


@needs_report
def test_html_to_standard_output() -> None:
    res = _run("evaluate", EXAMPLE, "-t", BIRDS, "--html", "-")
    assert res.exit_code == 0, res.output
    assert res.stdout.lstrip().startswith("<!DOCTYPE html>") and "Flat (labels" not in res.stdout


@pytest.mark.slow
@needs_report
@pytest.mark.skipif(BROWSER is not None, reason=BROWSER or "")
def test_ten_thousand_classes_stay_usable(tmp_path: Path) -> None:
    """10,000 classes: the sunburst draws three rings at a time, the subtree table its 300
    largest classes; the page loads and answers a click (times: bench_report_html.py)."""
    import time

    from selenium.webdriver.common.by import By

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import synthetic_predictions, synthetic_tree

    from taxovit.report_html import evaluation_html

    tax = synthetic_tree()
    t, p = synthetic_predictions(tax, 30_000, seed=0)
    page = tmp_path / "large.html"
    page.write_text(evaluation_html(evaluate(t, p, tax), tax, {"predictions": "synthetic"}))
    assert page.stat().st_size < 8_000_000
    driver = browser.start(1400, 1000)
    try:
        assert browser.open_page(driver, page) < 30
        assert [e for e in browser.console(driver) if e["level"] == "SEVERE"] == []
        drawn = len(driver.find_elements(By.CSS_SELECTOR, "#sunburst g.slice"))
        assert 4 < drawn < 1000  # three rings of 13,575 taxa
        assert len(driver.find_elements(By.CSS_SELECTOR, "#subtree tbody tr")) == 300
        t0 = time.perf_counter()
        driver.execute_script(
            "document.querySelector('#sunburst g.slice:nth-of-type(2)')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
        )
        while driver.find_element(By.ID, "node-name").text == "L0_0":
            assert time.perf_counter() - t0 < 10
            time.sleep(0.05)
    finally:
        driver.quit()


def test_recall_difference_by_hand() -> None:
    from taxovit.predictions import Predictions
    from taxovit.report_html.pages import recall_difference

    tax, _ = _tiny()
    ids = np.array([f"s{i}" for i in range(6)], dtype=object)
    t = tax.ids(["a1", "a1", "a1", "a2", "b1", "b1"])
    a = Predictions(
        ids, t, tax.ids(["a1", "a2", "A", "a2", "a1", "b1"]), np.zeros(0, np.int64), None, "a"
    )
    order = np.arange(6)[::-1]  # B in another row order: aligned by id
    b = Predictions(
        ids[order],
        t[order],
        tax.ids(["a1", "a1", "a1", "a2", "b1", "b1"])[order],
        np.zeros(0, np.int64),
        None,
        "b",
    )
    d = recall_difference(a, b, tax)
    at = dict(zip(d["name"], range(len(d["name"])), strict=True))
    assert d["recall_a"][at["B"]] == 0.5 and d["recall_b"][at["B"]] == 1.0
    assert d["recall_a"][at["a1"]] == pytest.approx(1 / 3) and d["recall_b"][at["a1"]] == 1.0
    assert d["support"][at["r"]] == 6
