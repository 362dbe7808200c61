"""``--html FILE`` of evaluate, compare and leaderboard: the [report] extra checked first."""

from __future__ import annotations

from pathlib import Path

__all__ = ["html_output"]


def html_output(plan, html: Path | None):
    """The ``--html`` output declared on ``plan`` (None without it), after checking that
    the [report] extra is installed: its absence is a located error before any input is read."""
    if html is None:
        return None
    from taxovit.report_html.page import require_report_extra

    require_report_extra()
    return plan.file("--html", html)
