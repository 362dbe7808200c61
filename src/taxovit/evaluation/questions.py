"""The evaluators' questions of :func:`taxovit.evaluate` (its ``**questions`` keywords),
each off by default and answered by a section of the report.

:class:`Questions` is the one definition of each option (name, default, meaning). ``subset``
acts first, on the inputs (:mod:`taxovit.evaluation.subset`); ``costs``, ``known`` and
``train_counts`` add per-sample statistics to the evaluation context before the statistics
are summed (rows of the metric table, :mod:`taxovit.metrics.table_questions`: they bootstrap
and compare like every metric) and a section after; ``confused``, ``abstention`` and
``groups`` are sections computed from the evaluated samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from taxovit.errors import ArgumentError
from taxovit.evaluation.context import SampleContext
from taxovit.taxonomy import Taxonomy

__all__ = ["Asked", "Questions", "ask"]


@dataclass(frozen=True)
class Questions:
    """The options of the evaluators' questions (keywords of :func:`taxovit.evaluate`).

    ``subset``: a node name (its clade), a checklist file or a
    :class:`~taxovit.evaluation.subset.Subset`: only its classes are evaluated (section
    ``subset``). ``costs``: a ``true,predicted,cost`` file or a
    :class:`~taxovit.evaluation.costs.CostTable`: ``cost_mean``, ``cost_total``, per-rank
    ``cost_mean`` (section ``costs``). ``known``: the model's classes (``"auto"``: the score
    columns, a file or names) and ``unknown_label`` the node meaning "unknown": known/novel
    rows (section ``novel``). ``train_counts``: training images per class (a
    ``class,count`` file or a mapping) split at ``shot_thresholds`` (low, high): many/medium/
    few-shot rows (section ``long_tail``). ``confused=N``: the N most-confused pairs, at
    ``confused_rank`` if given (section ``confused_pairs``). ``abstention``: risk–coverage and
    back-off curves (section ``abstention``). ``groups``: grouping columns (a mapping of
    ``(n,)`` arrays, a DataFrame or one array): a report per group, groups under
    ``min_support`` samples flagged (section ``slices``).
    """

    subset: Any = None
    costs: Any = None
    known: Any = None
    unknown_label: str = "unknown"
    train_counts: Any = None
    shot_thresholds: tuple[int, int] = (20, 100)
    confused: int = 0
    confused_rank: str | None = None
    abstention: bool = False
    groups: Any = None
    min_support: int = 30

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Questions:
        """The questions of ``evaluate``'s extra keywords (an unknown keyword is an error)."""
        names = [f.name for f in fields(cls)]
        unknown = [k for k in options if k not in names]
        if unknown:
            raise ArgumentError(
                f"evaluate() got unknown keyword(s) {', '.join(unknown)}; its "
                f"questions are {', '.join(names)}"
            )
        return cls(**options)

    def cut(self, taxonomy: Taxonomy, data: tuple, score_kind: str) -> tuple[Questions, tuple, Any]:
        """``data`` (y_true, y_pred, scores, score_labels, ranked, ranked_scores) cut to the
        subset (and the groups with it), or as given."""
        if self.subset is None:
            return self, data, None
        from taxovit.evaluation.subset import restrict

        cut = restrict(taxonomy, self.subset, *data, score_kind)
        data = (cut.y_true, cut.y_pred, cut.scores, cut.score_labels, cut.ranked, cut.ranked_scores)
        if self.groups is None:
            return self, data, cut
        from taxovit.evaluation.slices import as_groups

        groups = {k: v[cut.keep] for k, v in as_groups(self.groups, cut.keep.size).items()}
        return replace(self, groups=groups), data, cut

    def finish(self, report: Any, taxonomy: Taxonomy, data: tuple, cut: Any, kwargs: dict) -> None:
        """The sections of the whole inputs: ``subset`` and ``slices`` (``kwargs``: the
        options every group is evaluated with)."""
        if cut is not None:
            report.sections["subset"] = cut.section
        if self.groups is not None:
            from taxovit.evaluation.slices import evaluate_slices

            report.sections["slices"] = evaluate_slices(
                taxonomy, *data, self.groups, self.min_support, **kwargs
            )


@dataclass
class Asked:
    """The per-context questions, parsed (``None``: not asked)."""

    taxonomy: Any
    q: Questions
    costs: Any = None
    known: Any = None
    train_counts: Any = None

    def answer(self, report: Any, ctx: SampleContext, inputs: Any) -> None:
        """Add each asked question's section to ``report`` (from its computed metrics)."""
        probs = None if inputs is None else inputs.probs
        t, p = ctx.comp.y_true, ctx.comp.y_pred
        if self.costs is not None:
            from taxovit.evaluation.costs import cost_section

            report.sections["costs"] = cost_section(self.costs, report.metrics, report.per_rank)
        if self.known is not None:
            from taxovit.evaluation.novel import novel_section

            report.sections["novel"] = novel_section(
                self.known, ctx.questions["novel"], probs, report.metrics
            )
        if self.train_counts is not None:
            from taxovit.evaluation.long_tail import long_tail_section

            report.sections["long_tail"] = long_tail_section(self.train_counts, ctx, report.metrics)
        if self.q.confused:
            from taxovit.evaluation.confused import confused_pairs

            report.sections["confused_pairs"] = confused_pairs(
                self.taxonomy, t, p, self.q.confused, list(report.per_rank), self.q.confused_rank
            )
        if self.q.abstention:
            from taxovit.evaluation.abstention import abstention_section

            report.sections["abstention"] = abstention_section(
                probs, ctx.score_ids, self.taxonomy, t, p
            )


def ask(taxonomy: Taxonomy, ctx: SampleContext, q: Questions) -> Asked:
    """Check the questions, parse their files and put their per-sample statistics on
    ``ctx.questions``."""
    from taxovit.evaluation.arguments import check_int

    check_int(q.confused, "confused", 0)
    if q.confused_rank is not None and q.confused_rank not in taxonomy.index.rank_names:
        raise ArgumentError(
            f"confused_rank: unknown rank {q.confused_rank!r}; this taxonomy has "
            f"{', '.join(taxonomy.rank_names) or 'no ranks'}"
        )
    asked = Asked(taxonomy, q)
    t, p = ctx.comp.y_true, ctx.comp.y_pred
    if q.costs is not None:
        from taxovit.evaluation.costs import as_cost_table

        asked.costs = as_cost_table(taxonomy, q.costs)
        ctx.questions["costs"] = asked.costs.columns(t, p, taxonomy, ctx.ranks)
    if q.known is not None:
        from taxovit.evaluation.novel import as_known, novel_columns

        asked.known = as_known(taxonomy, q.known, ctx.score_ids, q.unknown_label)
        ctx.questions["novel"] = novel_columns(asked.known, t, p, taxonomy)
    if q.train_counts is not None:
        from taxovit.evaluation.long_tail import as_train_counts, long_tail_columns

        asked.train_counts = as_train_counts(taxonomy, q.train_counts, q.shot_thresholds)
        ctx.questions["long_tail"] = long_tail_columns(asked.train_counts, ctx)
    return asked
