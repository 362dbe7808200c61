"""``taxovit decide``: replace y_pred by a decision from the scores (CRM or confident ancestor)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from taxovit.cli import app, err_console, handle_errors
from taxovit.cli._options import (
    AddRootOpt,
    IdColOpt,
    PredColOpt,
    ScorePrefixOpt,
    TaxonomyOpt,
    TrueColOpt,
)


class Rule(StrEnum):
    crm = "crm"
    ancestor = "ancestor"


class Cost(StrEnum):
    lca_height = "lca_height"
    depth_distance = "depth_distance"
    tree_induced_error = "tree_induced_error"


class ScoreKind(StrEnum):
    probs = "probs"
    logits = "logits"


@app.command()
@handle_errors
def decide(
    preds: Annotated[
        Path, typer.Argument(help="Predictions CSV with score_<class> columns.", show_default=False)
    ],
    taxonomy: TaxonomyOpt,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the new file ('-': standard output).",
            show_default=False,
        ),
    ],
    rule: Annotated[
        Rule,
        typer.Option(
            "--rule",
            help="crm: the class of least expected cost; "
            "ancestor: the deepest node whose marginal clears "
            "--threshold.",
        ),
    ] = Rule.crm,
    cost: Annotated[
        Cost | None,
        typer.Option(
            "--cost", help="Cost C(k, j) of the crm rule [default: lca_height].", show_default=False
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Marginal a step of the ancestor rule needs [default: 0.9].",
        ),
    ] = None,
    min_rank: Annotated[
        str | None, typer.Option("--min-rank", help="Ancestor rule: never stop above this rank.")
    ] = None,
    scores: Annotated[
        ScoreKind,
        typer.Option(
            "--scores", help="probs: non-negative, each row divided by its sum; logits: softmax."
        ),
    ] = ScoreKind.probs,
    true_col: TrueColOpt = "y_true",
    pred_col: PredColOpt = "y_pred",
    id_col: IdColOpt = "id",
    score_prefix: ScorePrefixOpt = "score_",
    add_root: AddRootOpt = False,
    keep_scores: Annotated[
        bool,
        typer.Option(
            "--keep-scores",
            help="crm: keep the model's scores instead of writing the decision's (-expected cost).",
        ),
    ] = False,
) -> None:
    """Decide from the scores: write the same predictions file with y_pred replaced, ready
    for [bold]taxovit evaluate[/].

    [bold]What is ranked.[/] With crm the score columns become the decision's scores,
    -(expected cost) rounded to 9 decimals, so evaluate's top{k}_accuracy and
    avg_hierarchical_distance_at_{k} describe the candidates ordered by expected cost (as
    Karthik et al. report them; ties: the later column, evaluate's rule) and y_pred is the
    first of them; the calibration keys are then null (the scores are not probabilities).
    --keep-scores keeps the model's scores instead (top-k, distance@k, mAP and calibration
    then describe the model). The ancestor rule picks one node, not an order of the classes:
    it always keeps the scores. The input file is never changed.

    [bold]crm[/]: conditional risk minimisation (Karthik et al. 2021), the class with the
    least expected cost Σ_j C(k, j) p(j | x). [bold]ancestor[/]: from the root, step to the
    most probable child while its marginal is at least --threshold (what iNaturalist's
    vision service returns when unsure). Trees only for the ancestor rule. An option of the
    other rule (--cost with ancestor; --threshold or --min-rank with crm) is refused.

    PREDS is read once, so '-' (standard input) and pipes work.

    [bold]Examples[/]

      taxovit decide preds.csv -t birds.json --rule crm -o preds_crm.csv

      taxovit decide preds.csv -t birds.json --rule ancestor --threshold 0.8 -o safe.csv
    """
    from taxovit._outputs import OutputPlan
    from taxovit.predictions.csv_layout import Columns
    from taxovit.taxonomy import load_taxonomy, taxonomy_inputs

    _check_rule_options(rule, cost, threshold, min_rank)
    plan = OutputPlan({"predictions file": preds, **taxonomy_inputs("--taxonomy", taxonomy)})
    out = plan.file("--output", output)
    tax = load_taxonomy(taxonomy, add_root=add_root)
    if rule is Rule.ancestor:
        _check_ancestor(tax, taxonomy, min_rank)
    cols = Columns(id_col, true_col, pred_col, score_prefix)
    ctx, data, pred = _read_once(preds, tax, cols)
    probs = _probabilities(ctx, data, pred, cols, scores)
    chosen, ranking = _decide(
        rule,
        probs,
        pred.score_labels,
        tax,
        cost or Cost.lca_height,
        0.9 if threshold is None else threshold,
        min_rank,
    )
    kept = None if keep_scores else ranking
    plan.write({out: _rewritten(data, cols, tax.names(chosen), kept)})
    changed = int((chosen != pred.y_pred).sum())
    err_console.print(
        f"{rule.value}: {changed:,} of {len(pred):,} predictions changed"
        + ("" if out.kind == "stdout" else f"; wrote {out.shown}")
    )


def _check_rule_options(rule: Rule, cost, threshold, min_rank) -> None:
    """An option of the other rule is refused, never silently ignored."""
    from taxovit.errors import ArgumentError

    other = (
        [("--cost", cost)]
        if rule is Rule.ancestor
        else [("--threshold", threshold), ("--min-rank", min_rank)]
    )
    for option, value in other:
        if value is not None:
            used = "--rule crm" if option == "--cost" else "--rule ancestor"
            raise ArgumentError(f"{option} is for {used}; --rule {rule.value} does not use it")


def _check_ancestor(tax, taxonomy: Path, min_rank: str | None) -> None:
    from taxovit.errors import ArgumentError

    if min_rank is not None and min_rank not in tax.rank_names:
        raise ArgumentError(
            f"--min-rank {min_rank!r} is not a rank of --taxonomy {taxonomy}; it "
            f"has {', '.join(tax.rank_names) or 'no ranks'}"
        )
    if not tax.is_tree:
        raise ArgumentError(
            f"--rule ancestor needs a tree; --taxonomy {taxonomy} is a DAG (use --rule crm)"
        )


def _read_once(preds: Path, tax, cols):
    """The file's bytes (read once: '-' and pipes work) and its predictions."""
    from taxovit.errors import ArgumentError
    from taxovit.predictions.csv_layout import FileContext, _read_file, check_bytes
    from taxovit.predictions.csv_reader import read_wide_csv

    spath = str(preds)
    ctx = FileContext("<stdin>" if spath == "-" else spath)
    data = _read_file(ctx, spath)  # once: '-' and pipes work
    if data.startswith((b"PAR1", b"PK\x03\x04")):
        kind = "a Parquet file" if data.startswith(b"PAR1") else "an .npz archive"
        raise ctx.error(
            f"{kind}; decide reads and writes a wide CSV (id,y_true,y_pred,"
            f"{cols.score_prefix}<class>...)"
        )
    data = check_bytes(ctx, data, f"{cols.id},{cols.true},{cols.pred}")
    pred = read_wide_csv(ctx, spath, data, tax.name_to_id, cols)
    if pred.scores is None:
        raise ArgumentError(
            f"{ctx.path}: no {cols.score_prefix}<class> columns; decide needs scores"
        )
    return ctx, data, pred


def _probabilities(ctx, data: bytes, pred, cols, kind: ScoreKind):
    """Each row's class probabilities; a row they cannot come from is named by its line."""
    import numpy as np

    from taxovit.decide import to_probabilities

    s = pred.scores
    if kind is ScoreKind.probs:
        bad = np.flatnonzero((s < 0).any(axis=1))
        if bad.size:
            j = int(np.argmax(s[bad[0]] < 0))
            _fail_row(
                ctx,
                data,
                cols,
                int(bad[0]),
                j,
                pred,
                f"score {float(s[bad[0], j])!r} is negative; "
                "--scores probs needs probabilities >= 0 (use --scores logits for logits)",
            )
        zero = np.flatnonzero(~(s.max(axis=1) > 0))
        if zero.size:
            _fail_row(
                ctx,
                data,
                cols,
                int(zero[0]),
                0,
                pred,
                "the scores of this row sum to 0; "
                "--scores probs needs a positive sum (use --scores logits for logits)",
            )
    return to_probabilities(s, kind.value)


def _fail_row(ctx, data: bytes, cols, row: int, j: int, pred, message: str):
    from taxovit.predictions.cells import Problems
    from taxovit.predictions.csv_reader import CsvTable, csv_header

    header, lines = csv_header(ctx, data)
    column = [h for h in header if h not in cols.required][j]  # the score columns (file order)
    table = CsvTable(ctx, data, header, lines, [])
    problems = Problems(header)
    problems.note(row, column, message)
    table.check(problems)


def _rewritten(data: bytes, cols, names: list[str], ranking) -> str:
    """The file's text (from the bytes read once) with the predicted column replaced by
    ``names`` and, unless ``ranking`` is None, the score columns by the decision's scores."""
    import io

    import pandas as pd

    raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False)
    raw[cols.pred] = names
    if ranking is not None:
        _put_scores(raw, ranking, (cols.id, cols.true, cols.pred))
    return raw.to_csv(index=False, lineterminator="\n", float_format="%.9f")


def _decide(rule: Rule, probs, cols, tax, cost: Cost, threshold: float, min_rank: str | None):
    """Node id chosen for each row by ``rule``, and the decision's ranking scores (crm: the
    negated expected costs, whose first column by evaluate's rule is the choice; the ancestor
    rule: None, the model's scores stay)."""
    from taxovit.decide import confident_ancestor, crm_scores
    from taxovit.metrics.ranking import top_k_columns

    if rule is Rule.crm:
        ranking = crm_scores(probs, cols, tax, cost.value)
        return cols[top_k_columns(ranking, 1)[:, 0]], ranking
    return confident_ancestor(probs, cols, tax, threshold, min_rank), None


def _put_scores(raw, ranking, label_cols: tuple[str, str, str]) -> None:
    """Replace the score columns of ``raw`` (every column but the id and label columns, in
    file order, as the reader takes them) by ``ranking``; written with 9 decimals, which
    hold the rounded costs exactly, so ties read back as ties."""
    names = [c for c in raw.columns if c not in label_cols]
    for j, name in enumerate(names):
        raw[name] = ranking[:, j]
