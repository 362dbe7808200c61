"""MkDocs hook: the package's docstrings cite with Sphinx roles (:func:`name`,
:class:`~taxovit.errors.ArgumentError`), which mkdocstrings renders as text; show them as
plain code (``~`` keeps the last component, as Sphinx does)."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):<code>(~?)([^<]*)</code>")


def _code(m: re.Match[str]) -> str:
    name = m.group(2)
    return f"<code>{name.rsplit('.', 1)[-1] if m.group(1) else name}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_code, html)
