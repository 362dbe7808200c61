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
    """Raise :class:`ArgumentError` naming the ``[report]`` extra if plotly or jinja2 is
    missing (checked before any input is read)."""
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
    """The page of one evaluation (:class:`~taxovit.evaluation.EvaluationReport`)."""
    from taxovit.report_html.data import page_data

    source = str(inputs.get("predictions", "predictions"))
    name = "standard input" if source == "-" else Path(source).name
    title = title or f"taxovit report: {name}"
    return render_page(
        "evaluate.html.j2", "evaluate.js", page_data(report, taxonomy, inputs, title), title
    )
