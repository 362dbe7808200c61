"""Shared helpers of the hostile-input tests: mutations of valid files, and the rule every
entry point must keep ("exit 0, or exit 2 with one located message; never a traceback;
never a changed file").

``TAXOVIT_FUZZ_EXAMPLES`` raises the number of examples of every fuzz test (the default
keeps each to a few seconds, CI-sized); the sweep behind issue 29 ran them at 2,000.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from taxovit.cli import app

EXAMPLES = int(os.environ.get("TAXOVIT_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def digest(paths: Iterable[Path]) -> dict[str, str]:
    """Every file under ``paths`` (files or folders) by path, with its content's hash."""
    out = {}
    for p in paths:
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def check_rule(res, located: Iterable[str], folder: Path, before: dict[str, str]) -> str:
    """Exit 0, or exit 2 with one message naming one of ``located`` (a file or an option);
    no traceback; no file under ``folder`` changed, created or removed (but ``allowed``)."""
    msg = " ".join(res.output.split())
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output, res.output
    assert res.exit_code in (0, 2), (res.exit_code, res.output)
    if res.exit_code == 2:
        assert msg.count("error:") == 1, msg
        assert any(x in msg for x in located), (located, msg)
        assert digest([folder]) == before, msg
    return msg


# ----------------------------------------------------------------- mutations of a file
_TOKENS = [
    "",
    ",",
    ";",
    "|",
    "\t",
    " ",
    "\n",
    "\r\n",
    '"',
    "'",
    "{",
    "}",
    "[",
    "]",
    ":",
    "0",
    "-1",
    "1e308",
    "nan",
    "inf",
    "x",
    "ten",
    "null",
    "\x00",
    "\ufeff",
    "é",
    "2 7",
    "9" * 25,
    "__",
    "k__",
    "a|b|c",
    "-",
    "id",
    "label",
    "y_true",
    "score_",
]


@st.composite
def mutated(draw, data: bytes, binary: bool = False) -> bytes:
    """``data`` after one to three edits: truncation, a byte flipped, a token inserted or
    replacing a slice, a line deleted or repeated (line edits for text only)."""
    for _ in range(draw(st.integers(1, 3))):
        n = len(data)
        kind = draw(
            st.sampled_from(
                ["cut", "flip", "token", "line-del", "line-dup", "swap"]
                if not binary
                else ["cut", "flip", "flip", "token"]
            )
        )
        at = draw(st.integers(0, max(n - 1, 0)))
        if kind == "cut":
            data = data[:at]
        elif kind == "flip" and n:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif kind == "token":
            tok = draw(st.sampled_from(_TOKENS)).encode()
            span = draw(st.integers(0, 8))
            data = data[:at] + tok + data[at + span :]
        else:
            lines = data.split(b"\n")
            i = draw(st.integers(0, max(len(lines) - 1, 0)))
            if kind == "line-del":
                del lines[i]
            elif kind == "line-dup":
                lines.insert(i, lines[i])
            else:
                j = draw(st.integers(0, max(len(lines) - 1, 0)))
                lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
    return data
