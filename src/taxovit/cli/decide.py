"""``taxovit decide``: replace y_pred by a decision from the scores (CRM or confident ancestor)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from taxovit.cli import app, err_console, handle_errors
from taxovit.cli.evaluate import (
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
    preds: Annotated[Path, typer.Argument(help="Predictions CSV with score_<class> columns.",
                                          show_default=False)],  # fmt: skip
    taxonomy: TaxonomyOpt,
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write the new file "
                                         "('-': standard output).", show_default=False)],  # fmt: skip
    rule: Annotated[Rule, typer.Option("--rule", help="crm: the class of least expected cost; "
                                       "ancestor: the deepest node whose marginal clears "
                                       "--threshold.")] = Rule.crm,  # fmt: skip
    cost: Annotated[Cost, typer.Option("--cost", help="Cost C(k, j) of the crm rule.")] = Cost.lca_height,
    threshold: Annotated[float, typer.Option("--threshold", min=0.0, max=1.0,
                                             help="Marginal a step of the ancestor rule needs.")] = 0.9,  # fmt: skip
    min_rank: Annotated[str | None, typer.Option("--min-rank", help="Ancestor rule: never stop "
                                                 "above this rank.")] = None,  # fmt: skip
    scores: Annotated[ScoreKind, typer.Option("--scores", help="probs: non-negative, each row "
                                              "divided by its sum; logits: softmax.")] = ScoreKind.probs,  # fmt: skip
    true_col: TrueColOpt = "y_true",
    pred_col: PredColOpt = "y_pred",
    id_col: IdColOpt = "id",
    score_prefix: ScorePrefixOpt = "score_",
    add_root: AddRootOpt = False,
) -> None:
    """Decide from the scores: write the same predictions file with y_pred replaced (the
    scores are kept), ready for [bold]taxovit evaluate[/].

    [bold]crm[/]: conditional risk minimisation (Karthik et al. 2021), the class with the
    least expected cost Σ_j C(k, j) p(j | x). [bold]ancestor[/]: from the root, step to the
    most probable child while its marginal is at least --threshold (what iNaturalist's
    vision service returns when unsure). Trees only for the ancestor rule.

    [bold]Examples[/]

      taxovit decide preds.csv -t birds.json --rule crm -o preds_crm.csv

      taxovit decide preds.csv -t birds.json --rule ancestor --threshold 0.8 -o safe.csv
    """
    import numpy as np
    import pandas as pd

    from taxovit._outputs import OutputPlan
    from taxovit.decide import to_probabilities
    from taxovit.errors import ArgumentError
    from taxovit.predictions import read_predictions
    from taxovit.taxonomy import load_taxonomy, taxonomy_inputs

    plan = OutputPlan({"predictions file": preds, **taxonomy_inputs("--taxonomy", taxonomy)})
    out = plan.file("--output", output)
    tax = load_taxonomy(taxonomy, add_root=add_root)
    data = read_predictions(preds, tax.name_to_id, id_col=id_col, true_col=true_col,
                            pred_col=pred_col, score_prefix=score_prefix)  # fmt: skip
    if data.scores is None:
        raise ArgumentError(f"{preds}: no {score_prefix}<class> columns; decide needs scores")
    probs = to_probabilities(data.scores, scores.value)
    chosen = _decide(rule, probs, data.score_labels, tax, cost, threshold, min_rank)
    raw = pd.read_csv(preds, dtype=str, keep_default_na=False, na_filter=False)
    raw[pred_col] = tax.names(chosen)
    plan.write({out: raw.to_csv(index=False, lineterminator="\n")})
    changed = int(np.count_nonzero(np.asarray(chosen) != data.y_pred))
    err_console.print(f"{rule.value}: {changed:,} of {len(data):,} predictions changed"
                      + ("" if out.kind == "stdout" else f"; wrote {out.shown}"))  # fmt: skip


def _decide(rule: Rule, probs, cols, tax, cost: Cost, threshold: float, min_rank: str | None):
    """Node id chosen for each row by ``rule``."""
    from taxovit.decide import confident_ancestor, crm_predict

    if rule is Rule.crm:
        return cols[crm_predict(probs, cols, tax, cost.value)]
    return confident_ancestor(probs, cols, tax, threshold, min_rank)
