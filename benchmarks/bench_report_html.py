"""The HTML report's size and its load time in a browser: the birds example and 10,000 classes.

    python benchmarks/bench_report_html.py [--n 100000]

For each report: the time to build the page (after evaluate), its size, and in headless Chromium
(Selenium, Debian's chromium + chromium-driver) the time until its charts are drawn and the
time a click on the root's first child takes to redraw the subtree views. The floor is the
same browser loading plotly.js alone with one empty plot, measured in the same run.

How 10,000 classes stay usable: the sunburst draws three rings at a time (plotly's
``maxdepth``; a click zooms in and draws the next rings), the subtree table shows the 300
largest classes (sortable; Copy and CSV take every row), a confusion matrix the 15 largest
taxa of the level (the rest pooled as "other"), the confused pairs the 2,000 most frequent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import browser  # noqa: E402
from _common import machine, synthetic_predictions, synthetic_tree  # noqa: E402

from taxovit import evaluate, load_taxonomy  # noqa: E402
from taxovit.report_html import evaluation_html  # noqa: E402
from taxovit.report_html.page import render_page  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: the floor: the same page frame, plotly.js inflated and one empty plot
FLOOR_JS = """TX.start(() => {}, () => Plotly.newPlot(document.body.appendChild(
  document.createElement("div")), [], {}, TX.plotConfig));"""


def _birds() -> tuple[str, float]:
    tax = load_taxonomy(ROOT / "taxonomies" / "birds.json")
    df = pd.read_csv(ROOT / "examples" / "birds_preds.csv")
    scores = df.filter(like="score_").rename(columns=lambda c: c[len("score_") :])
    report = evaluate(df.y_true, df.y_pred, tax, scores, bootstrap=200)
    t0 = time.perf_counter()
    html = evaluation_html(report, tax, {"predictions": "examples/birds_preds.csv"})
    return html, time.perf_counter() - t0


def _large(n: int) -> tuple[str, float, int]:
    tax = synthetic_tree()
    t, p = synthetic_predictions(tax, n, seed=0)
    report = evaluate(t, p, tax)
    t0 = time.perf_counter()
    html = evaluation_html(report, tax, {"predictions": f"synthetic, {n:,} samples"})
    return html, time.perf_counter() - t0, len(tax.leaves)


def _browser(path: Path, click: bool, shot: Path | None) -> tuple[float, float | None]:
    driver = browser.start(1400, 1000)
    try:
        load = browser.open_page(driver, path)
        errors = [e for e in browser.console(driver) if e["level"] == "SEVERE"]
        assert not errors, errors
        if not click:
            return load, None
        t0 = time.perf_counter()
        driver.execute_script(  # what a click on a slice calls: the subtree views redrawn
            "const s = document.querySelector('#sunburst g.slice:nth-of-type(2)');"
            "s.dispatchEvent(new MouseEvent('click', {bubbles: true}));"
        )
        while driver.execute_script("return document.getElementById('node-name').textContent") in (
            "",
            "L0_0",
        ):
            time.sleep(0.02)
        took = time.perf_counter() - t0
        if shot is not None:
            driver.save_screenshot(str(shot))
        return load, took
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--screenshots", type=Path, help="save each page's screenshot here")
    a = ap.parse_args()
    print(machine())
    skip = browser.browser_or_skip_reason()
    birds, t_birds = _birds()
    large, t_large, classes = _large(a.n)
    floor_page = render_page("base.html.j2", "", {"title": "floor"}, "floor", js=FLOOR_JS)
    with tempfile.TemporaryDirectory() as d:
        rows = []
        for name, html, build in (
            ("birds example (200 classes, 400 samples, B=200)", birds, t_birds),
            (f"synthetic ({classes:,} classes, {a.n:,} samples)", large, t_large),
            ("floor: plotly.js + one empty plot", floor_page, 0.0),
        ):
            path = Path(d) / f"r{len(rows)}.html"
            path.write_text(html, encoding="utf-8")
            shot = a.screenshots / f"report_{len(rows)}.png" if a.screenshots else None
            load, click = (
                (None, None) if skip else _browser(path, not name.startswith("floor"), shot)
            )
            rows.append((name, build, path.stat().st_size / 1e6, load, click))
    if skip:
        print(f"no browser timings: {skip}")
    print(f"{'report':52} {'page s':>8} {'MB':>6} {'load s':>7} {'click s':>8}")
    for name, build, mb, load, click in rows:
        fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"{name:52} {build:8.2f} {mb:6.2f} {fmt(load):>7} {fmt(click):>8}")
    if not skip:
        floor = rows[-1][3]
        print(
            f"load / floor: birds {rows[0][3] / floor:.1f}x, 10k classes {rows[1][3] / floor:.1f}x"
        )


if __name__ == "__main__":
    main()
