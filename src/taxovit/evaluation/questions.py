"""The optional questions of :func:`taxovit.evaluate` asked of one evaluation context: each
adds its per-sample statistics to the context (rows of the metric table,
:mod:`taxovit.metrics.table_questions`) before the statistics are summed, and its section to
the report after (``costs``: :mod:`taxovit.evaluation.costs`; ``novel``:
:mod:`taxovit.evaluation.novel`). ``subset`` acts earlier, on the inputs
(:mod:`taxovit.evaluation.subset`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.errors import ArgumentError
from taxovit.evaluation.context import SampleContext
from taxovit.taxonomy import Taxonomy

__all__ = ["Asked", "ask"]


@dataclass
class Asked:
    """The questions asked, parsed (``None``: not asked)."""

    taxonomy: Any = None
    costs: Any = None
    known: Any = None
    train_counts: Any = None
    confused: int = 0
    confused_rank: str | None = None
    abstention: bool = False

    def answer(self, report: Any, ctx: SampleContext, inputs: Any) -> None:
        """Add each asked question's section to ``report`` (from its computed metrics)."""
        if self.costs is not None:
            from taxovit.evaluation.costs import cost_section

            report.sections["costs"] = cost_section(self.costs, report.metrics, report.per_rank)
        if self.known is not None:
            from taxovit.evaluation.novel import novel_section

            probs = None if inputs is None else inputs.probs
            report.sections["novel"] = novel_section(self.known, ctx.questions["novel"], probs,
                                                     report.metrics)  # fmt: skip
        if self.train_counts is not None:
            from taxovit.evaluation.long_tail import long_tail_section

            report.sections["long_tail"] = long_tail_section(self.train_counts, ctx, report.metrics)
        if self.confused:
            from taxovit.evaluation.confused import confused_pairs

            report.sections["confused_pairs"] = confused_pairs(
                self.taxonomy, ctx.comp.y_true, ctx.comp.y_pred, self.confused, list(report.per_rank),
                self.confused_rank)  # fmt: skip
        if self.abstention:
            from taxovit.evaluation.abstention import abstention_section

            probs = None if inputs is None else inputs.probs
            report.sections["abstention"] = abstention_section(
                probs, ctx.score_ids, self.taxonomy, ctx.comp.y_true, ctx.comp.y_pred)  # fmt: skip


def ask(taxonomy: Taxonomy, ctx: SampleContext, *, costs: Any = None, known: Any = None,
        unknown_label: str = "unknown", train_counts: Any = None,
        shot_thresholds: Any = (20, 100), confused: int = 0,
        confused_rank: str | None = None, abstention: bool = False) -> Asked:  # fmt: skip
    """Parse the questions and put their per-sample statistics on ``ctx.questions``."""
    from taxovit.evaluation.arguments import check_int

    asked = Asked(taxonomy, confused=check_int(confused, "confused", 0), confused_rank=confused_rank,
                  abstention=bool(abstention))  # fmt: skip
    if confused_rank is not None and confused_rank not in taxonomy.index.rank_names:
        raise ArgumentError(f"confused_rank: unknown rank {confused_rank!r}; this taxonomy has "
                            f"{', '.join(taxonomy.index.rank_names) or 'no ranks'}")  # fmt: skip
    t, p = ctx.comp.y_true, ctx.comp.y_pred
    if costs is not None:
        from taxovit.evaluation.costs import as_cost_table

        asked.costs = as_cost_table(taxonomy, costs)
        ctx.questions["costs"] = asked.costs.columns(t, p, taxonomy, ctx.ranks)
    if known is not None:
        from taxovit.evaluation.novel import as_known, novel_columns

        asked.known = as_known(taxonomy, known, ctx.score_ids, unknown_label)
        ctx.questions["novel"] = novel_columns(asked.known, t, p, taxonomy)
    if train_counts is not None:
        from taxovit.evaluation.long_tail import as_train_counts, long_tail_columns

        asked.train_counts = as_train_counts(taxonomy, train_counts, shot_thresholds)
        ctx.questions["long_tail"] = long_tail_columns(asked.train_counts, ctx)
    return asked
