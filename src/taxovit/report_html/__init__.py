"""Self-contained HTML reports (the ``[report]`` extra: plotly and jinja2).

:func:`evaluation_html`, :func:`comparison_page` and :func:`leaderboard_page` return one HTML
page as text: every script and style inlined (plotly.js from the plotly package,
gzip-compressed), so it opens offline and requests nothing. :func:`require_report_extra`
raises a located error naming the extra when plotly or jinja2 is missing; the data behind
each page (:mod:`.data`) needs neither.
"""

from __future__ import annotations

from taxovit.report_html.page import evaluation_html, require_report_extra
from taxovit.report_html.pages import comparison_page, leaderboard_page

__all__ = ["comparison_page", "evaluation_html", "leaderboard_page", "require_report_extra"]
