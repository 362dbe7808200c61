"""The evaluators' questions as the commands read them: which files they name (inputs of the
output plan) and the arguments of :func:`taxovit.evaluate` / ``compare`` they become, each
file read and checked once here for ``evaluate`` and ``compare`` alike."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["question_inputs", "row_questions"]


def question_inputs(o: SimpleNamespace) -> dict[str, Path]:
    """The questions' input files by option (a --subset or --known may also be a node name or
    'auto'); options a command lacks are skipped."""
    files = {
        option: getattr(o, name)
        for option, name in (
            ("--costs", "costs"),
            ("--train-counts", "train_counts"),
            ("--meta", "meta"),
        )
        if getattr(o, name, None) is not None
    }
    for option, name in (("--subset", "subset"), ("--known", "known")):
        value = getattr(o, name, None)
        if value is not None and Path(value).is_file():
            files[option] = Path(value)
    return files


def row_questions(o: SimpleNamespace, tax: Any) -> dict[str, Any]:
    """The questions answered by rows of the metric table (``costs``, ``known`` with
    ``unknown_label``, ``train_counts``), their files read and checked against ``tax``."""
    out: dict[str, Any] = {}
    if o.costs is not None:
        from taxovit.evaluation.costs import read_costs

        out["costs"] = read_costs(tax, o.costs)
    if o.known is not None:
        from taxovit.evaluation.novel import as_known

        auto = o.known == "auto"
        out["known"] = o.known if auto else as_known(tax, o.known, None, o.unknown_label)
        out["unknown_label"] = o.unknown_label
    if o.train_counts is not None:
        from taxovit.evaluation.long_tail import read_train_counts

        out["train_counts"] = read_train_counts(tax, o.train_counts, (o.few_below, o.many_above))
    return out
