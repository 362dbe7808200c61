"""MkDocs hook: the figures of ``benchmarks/`` (e.g. ``better_mistakes.png``, which
``benchmarks/RESULTS.md`` shows) become files of the site, so the results page, which
includes ``RESULTS.md`` itself, links them as the repository does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def on_files(files: Files, config: Any) -> Files:
    for png in sorted(_BENCHMARKS.glob("*.png")):
        files.append(
            File(png.name, str(_BENCHMARKS), config["site_dir"], config["use_directory_urls"])
        )
    return files
