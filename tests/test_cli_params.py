"""The CLI's option values converted without pydantic (`taxovit.cli._params`) give exactly
what typer's own conversion gives: the same value and type, or the same error, for every
parameter of every command and a spread of good and bad values."""

from __future__ import annotations

import enum
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

typer = pytest.importorskip("typer")
from typer._click import Context  # noqa: E402
from typer._coercion import build_runtime_param  # noqa: E402
from typer.main import get_command  # noqa: E402

from taxovit.cli import app  # noqa: E402
from taxovit.cli._params import fast_runtime_param  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += _commands(cmd, f"{prefix}{name} ")
        else:
            out.append((prefix + name, cmd))
    return out


def _params() -> list[tuple[str, Any, Any]]:
    root = get_command(app)
    out = []
    for name, cmd in _commands(root):
        ctx = Context(cmd, info_name=name)
        out += [(f"{name} {p.name}", cmd, p) for p in cmd.get_params(ctx)]
    return out


def _values(annotation: Any, tmp: Path) -> list[Any]:
    if typing.get_origin(annotation) is list:
        return [("1", "5"), ["1"], (), ("x",), [1, 5], ("0", "-1"), ("7", "1.5"), "5", 5]
    if annotation is bool:
        return [True, False, "true", "1", "no", "", "x", 1, 0]
    if annotation is str:
        return ["x", "", " a ", "-", "é", "score_", b"bytes", 5]
    if annotation is Path:
        return ["a", "", "-", "a//b/", ".", "/nonexistent/x", "a\0b", Path("p"), 5,
                str(tmp / "file.txt"), str(tmp), tmp / "file.txt"]  # fmt: skip
    if annotation in (int, float):
        return ["0", "5", "-1", "07", "+5", " 5", "5.0", "1_000", "1e3", "x", "٣", "",
                "99999999999999999999", "1000000", "0.95", "1", "0.4", "0.999", "1.0", "0.5",
                ".5", "nan", "inf", "-0", "0.9999", 0, 5, -1, 10**6, True, 5.0, 0.95, 1,
                float("nan"), 0.3, None]  # fmt: skip
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        members = list(annotation)
        return [*members, *(m.value for m in members), *(str(m.value).upper() for m in members),
                "bad", "", 3]  # fmt: skip
    raise AssertionError(f"no test values for {annotation!r}")


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[Any, ...]:
    try:
        got = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # noqa: BLE001
        message = exc.format_message() if hasattr(exc, "format_message") else ""
        return ("error", type(exc), str(exc), message)
    if isinstance(got, list | tuple):
        return ("value", type(got), [(type(v), v) for v in got])
    return ("value", type(got), got if got == got else "nan")


@pytest.mark.parametrize(("label", "cmd", "param"), _params(), ids=lambda x: x if isinstance(x, str) else "")
def test_fast_conversion_matches_typer(label: str, cmd: Any, param: Any, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    descriptor = param.type_descriptor
    fast = fast_runtime_param(descriptor)
    if fast is None:
        pytest.skip(f"{label}: typer's own conversion")
    slow = build_runtime_param(descriptor)
    ctx = Context(cmd, info_name=label.split()[0])
    for value in _values(descriptor.annotation, tmp_path):
        assert _outcome(fast, value, param, ctx) == _outcome(slow, value, param, ctx), (label, value)


def test_every_option_type_of_the_cli_is_converted_fast() -> None:
    """Each parameter's type has the fast converter (a new type would bring pydantic back
    into every run): evaluate's Path, str, int, float, bool, enum and list[int] options."""
    slow = [label for label, _, p in _params() if fast_runtime_param(p.type_descriptor) is None]
    assert slow == []


def test_evaluate_does_not_import_pydantic(tmp_path: Path) -> None:
    code = (
        "import runpy, sys; sys.argv = ['taxovit', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('taxovit.cli', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('pydantic' in sys.modules, file=sys.stderr)"
    )
    args = ["evaluate", str(ROOT / "examples" / "birds_preds.csv"), "-t",
            str(ROOT / "taxonomies" / "birds.json"), "-f", "json", "--top-k", "1", "--top-k", "3",
            "--ci", "0.9", "-o", str(tmp_path / "r.json")]  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "False"
