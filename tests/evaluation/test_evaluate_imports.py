"""`taxovit evaluate` (and its --help) start without the heavy optional imports: never torch,
and no networkx (a nested-JSON taxonomy is read into arrays, the graph view is lazy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
BIRDS = ROOT / "taxonomies" / "birds.json"


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import runpy, sys; sys.argv = ['taxovit', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('taxovit.cli', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print(' '.join(sorted(m for m in sys.modules if '.' not in m)), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return set(out.stderr.strip().splitlines()[-1].split())


@pytest.mark.parametrize(
    "args", [["evaluate", "--help"], ["evaluate", str(EXAMPLE), "-t", str(BIRDS), "-f", "json"]]
)
def test_evaluate_imports_neither_torch_nor_networkx(args: list[str]) -> None:
    mods = _modules_after(args)
    assert "taxovit" in mods
    assert "torch" not in mods
    assert "networkx" not in mods


def test_evaluate_help_imports_no_pandas() -> None:
    """--help needs no data library (pandas, pyarrow): they load when a file is read."""
    mods = _modules_after(["evaluate", "--help"])
    assert not {"pandas", "pyarrow", "scipy", "matplotlib"} & mods


def test_import_taxovit_is_light_and_public_names_resolve() -> None:
    """`import taxovit` loads the wings lazily (PEP 562); every public name still imports."""
    code = (
        "import sys, taxovit\n"
        "light = not {'numpy', 'taxovit.evaluation', 'taxovit.taxonomy'} & set(sys.modules)\n"
        "from taxovit import *  # noqa: F403\n"
        "names = [getattr(taxovit, n) for n in taxovit.__all__]\n"
        "from taxovit import EvaluationReport, Taxonomy, evaluate, load_taxonomy, save_taxonomy\n"
        "from taxovit.evaluation import evaluate as e2\n"
        "from taxovit.taxonomy import Taxonomy as T2\n"
        "assert evaluate is e2 and Taxonomy is T2 and len(names) == len(taxovit.__all__)\n"
        "assert set(taxovit.__all__) <= set(dir(taxovit))\n"
        "print(light)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
