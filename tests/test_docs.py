"""The documentation keeps up with the code: every key of the JSON report has a definition on
the Metrics page (docs/metrics.md), and every command has its option table on a docs page
(generated at build time from the typer application by docs/hooks/cli_reference.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

import taxovit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _documented_patterns() -> list[re.Pattern[str]]:
    """Every backticked key of metrics.md as a regex: ``{a,b}`` alternatives, ``{k}`` a number."""
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    out = []
    for token in set(re.findall(r"`([a-z0-9_{},]+)`", text)):
        parts = re.split(r"(\{[^}]*\})", token)
        regex = "".join(
            r"\d+"
            if p == "{k}"
            else "(?:" + "|".join(map(re.escape, p[1:-1].split(","))) + ")"
            if p.startswith("{")
            else re.escape(p)
            for p in parts
        )
        out.append(re.compile(regex))
    return out


def _undocumented(keys: list[str]) -> list[str]:
    patterns = _documented_patterns()
    return [k for k in keys if not any(p.fullmatch(k) for p in patterns)]


def test_pattern_expansion() -> None:
    assert _undocumented(["top7_accuracy", "f1_weighted", "map_micro"]) == []
    assert _undocumented(["no_such_key", "top_accuracy"]) == ["no_such_key", "top_accuracy"]


def test_every_report_key_is_defined_in_the_metrics_page() -> None:
    tax = taxovit.load_taxonomy(ROOT / "taxonomies" / "birds.json")
    preds = pd.read_csv(ROOT / "examples" / "birds_preds.csv")
    scores = preds.filter(like="score_").rename(columns=lambda c: c[len("score_") :])
    report = taxovit.evaluate(
        preds["y_true"], preds["y_pred"], tax, scores=scores, top_k=(1, 3), bootstrap=2
    )
    blocks = report.to_dict()
    rank_keys = {k for per_rank in report.per_rank.values() for k in per_rank}
    keys = [*report.metrics, *rank_keys, *blocks, *report.taxonomy, *report.bootstrap]
    assert report.metrics["top3_accuracy"] is not None and np.isfinite(report.metrics["ece"])
    assert _undocumented(sorted(set(keys))) == []


def _command_paths() -> list[str]:
    from typer.main import get_command

    from taxovit.cli import app

    def walk(group, prefix: str) -> list[str]:
        out = []
        for name, cmd in group.commands.items():
            path = f"{prefix}{name}"
            out += walk(cmd, path + " ") if hasattr(cmd, "commands") else [path]
        return out

    return walk(get_command(app), "")


def test_every_command_has_an_option_table_in_the_docs() -> None:
    pages = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.glob("*.md"))
    marked = set(re.findall(r"<!-- cli: ([a-z ]+) -->", pages))
    paths = _command_paths()
    assert {"evaluate", "taxonomy convert"} <= set(paths)
    assert sorted(set(paths) - marked) == []


def test_option_table_lists_every_option() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cli_reference", DOCS / "hooks" / "cli_reference.py"
    )
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    table = hooks.option_table("evaluate")
    for option in ("`--taxonomy`, `-t`", "`--bootstrap`, `-b`", "`--label-attr`", "`PREDS`"):
        assert option in table
    page = hooks.on_page_markdown("before\n<!-- cli: decide -->\nafter")
    assert "`--rule`" in page and "`crm` \\| `ancestor`" in page and "<!--" not in page


def test_readme_is_short_and_its_links_and_quick_start_hold() -> None:
    """The README is the short front page: two screens, its links resolve, and its two
    set-up commands are the ones the docs' Getting started page (and .ci/run) give."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 90
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert targets and all((ROOT / t).exists() for t in targets if "://" not in t), targets
    start = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    for cmd in (
        "pip install -e . && taxovit evaluate examples/birds_preds.csv --taxonomy taxonomies/birds.json",
        'pip install -e ".[train,dev]" && pytest',
    ):
        assert f"```bash\n{cmd}\n```" in readme and f"```bash\n{cmd}\n```" in start


def test_every_question_row_and_section_is_defined_in_the_metrics_page() -> None:
    from taxovit.metrics.table import QUESTION_ROWS

    keys = {m.key.split("/")[-1] for m in QUESTION_ROWS}
    assert {"cost_mean", "n_novel", "few_shot_accuracy"} <= keys
    sections = ["subset", "costs", "novel", "long_tail", "slices", "abstention", "confused_pairs"]
    assert _undocumented(sorted(keys) + sections) == []


def test_every_exported_function_and_class_has_numpydoc_sections(capsys) -> None:
    """scripts/check_docstrings.py over the whole package: Parameters/Attributes, Returns
    and Examples for every name a package's ``__init__`` exports (the doctests run them)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "check_docstrings", ROOT / "scripts" / "check_docstrings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main([])
    assert status == 0, capsys.readouterr().out
