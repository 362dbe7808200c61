"""The page: a jinja2 template, the page's data as JSON, plotly.js inlined (compressed)."""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from taxovit.errors import ArgumentError

__all__ = ["evaluation_html", "render_page", "require_report_extra"]

HERE = Path(__file__).parent


def require_report_extra(option: str = "--html") -> None:
    """Raise :class:`~taxovit.errors.ArgumentError` naming the ``[report]`` extra if plotly
    or jinja2 is missing.

    The commands call it before reading any input, so that a missing extra costs no work.

    Parameters
    ----------
    option : str, default "--html"
        The option that needs the extra, named in the message.

    Returns
    -------
    None
        When both are installed.

    Raises
    ------
    ArgumentError
        Naming ``option``, the missing packages and the ``pip install`` that adds them.

    Examples
    --------
    >>> import sys
    >>> from unittest import mock
    >>> from taxovit.errors import ArgumentError
    >>> from taxovit.report_html import require_report_extra
    >>> require_report_extra()  # plotly and jinja2 installed: nothing happens
    >>> with mock.patch.dict(sys.modules, {"jinja2": None}):  # as if jinja2 were missing
    ...     try:
    ...         require_report_extra("--html")
    ...     except ArgumentError as e:
    ...         print(e)
    --html needs the [report] extra (jinja2 not installed): pip install 'taxovit[report]' ...
    """
    missing = [m for m in ("plotly", "jinja2") if not _installed(m)]
    if missing:
        raise ArgumentError(
            f"{option} needs the [report] extra ({', '.join(missing)} not installed): "
            "pip install 'taxovit[report]' (or: pip install plotly jinja2)"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked in sys.modules (None) or broken
        return False


@cache
def _plotly_gz() -> tuple[str, str]:
    """plotly.js from the plotly package, gzip-compressed and base64-encoded (about 2 MB
    instead of 4.8), and its version."""
    import plotly
    from plotly.offline import get_plotlyjs

    raw = get_plotlyjs().encode("utf-8")
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii"), getattr(plotly, "__version__", "?")


@cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE)),
        autoescape=jinja2.select_autoescape(["j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = lambda v: f"{v:,}"
    return env


def _json_for_script(data: Any) -> str:
    """JSON safe inside a <script> element (no "</script>", no "<!--")."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(
    template: str, script: str, data: dict[str, Any], title: str, *, js: str | None = None
) -> str:
    """One page: ``template`` (jinja2, extends base.html.j2) with its ``script`` (a file of
    this package, or the code ``js``) and its data."""
    import taxovit

    gz, plotly_version = _plotly_gz()
    js = (HERE / script).read_text(encoding="utf-8") if js is None else js
    return (
        _environment()
        .get_template(template)
        .render(
            title=title,
            data=data,
            version=taxovit.__version__,
            plotly_version=plotly_version,
            date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            css=_markup((HERE / "report.css").read_text(encoding="utf-8")),
            data_json=_markup(_json_for_script(data)),
            plotly_gz=_markup(gz),
            common_js=_markup((HERE / "common.js").read_text(encoding="utf-8")),
            page_js=_markup(js),
        )
    )


def _markup(text: str):
    from markupsafe import Markup

    return Markup(text)


def evaluation_html(report, taxonomy, inputs: dict[str, Any], title: str | None = None) -> str:
    """The self-contained HTML page of one evaluation (``taxovit evaluate --html``).

    Cards of the headline metrics; the taxonomy as a sunburst (or icicle) coloured by each
    taxon's recall, with its classes and most-confused pairs; the per-rank table; charts of
    accuracy per rank, mistake severity and calibration; every metric. Scripts, styles and
    plotly.js are inlined: the page opens offline and requests nothing.

    Parameters
    ----------
    report : EvaluationReport
        The evaluation (:func:`taxovit.evaluate`).
    taxonomy : Taxonomy
        The taxonomy ``report`` was computed on.
    inputs : dict of str to Any
        What was evaluated, shown in the page's header (as text); its ``"predictions"``
        entry names the page.
    title : str, optional
        The page's title; default ``taxovit report: <predictions file name>``.

    Returns
    -------
    str
        The HTML document (about 2 MB, most of it the compressed plotly.js).

    Raises
    ------
    ModuleNotFoundError
        When plotly or jinja2 is missing: check first with :func:`require_report_extra`.

    Examples
    --------
    >>> import taxovit
    >>> from taxovit import Taxonomy
    >>> from taxovit.report_html import evaluation_html
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")])
    >>> report = taxovit.evaluate(["Corvus", "Pica", "Pica"], ["Corvus", "Corvus", "Pica"], tax)
    >>> page = evaluation_html(report, tax, {"predictions": "runs/preds.csv"})
    >>> page.startswith("<!DOCTYPE html>"), "<title>taxovit report: preds.csv</title>" in page
    (True, True)
    """
    from taxovit.report_html.data import page_data

    source = str(inputs.get("predictions", "predictions"))
    name = "standard input" if source == "-" else Path(source).name
    title = title or f"taxovit report: {name}"
    return render_page(
        "evaluate.html.j2", "evaluate.js", page_data(report, taxonomy, inputs, title), title
    )
