"""Self-contained HTML reports (the ``[report]`` extra: plotly and jinja2).

:func:`evaluation_html`, :func:`comparison_html` and :func:`leaderboard_html` return one HTML
page as text: every script and style inlined (plotly.js from the plotly package,
gzip-compressed), so it opens offline and requests nothing. :func:`require_report_extra`
raises a located error naming the extra when plotly or jinja2 is missing; the data behind
each page (:mod:`.data`) needs neither.
"""

from __future__ import annotations

from taxovit.report_html.page import (
    comparison_html,
    evaluation_html,
    leaderboard_html,
    require_report_extra,
)

__all__ = ["comparison_html", "evaluation_html", "leaderboard_html", "require_report_extra"]
