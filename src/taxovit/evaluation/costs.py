"""``costs=`` / ``--costs FILE``: the expected cost of the mistakes under a user cost table.

The file is a CSV with the header ``true,predicted,cost`` (any column order and case; other
columns ignored). Each of ``true`` and ``predicted`` is ``*`` (any node) or node names
joined by ``|``, each name standing for its **whole subtree**; ``cost`` is a finite number
>= 0. Lines that are empty or start with ``#`` are skipped.

The cost of a sample:

* a correct prediction (predicted node == true node) costs **0**, whatever the rules;
* a mistake costs the cost of the **most specific** rule matching it: the rule whose ``true``
  side names the deepest node containing the true label (``*`` is shallower than the root),
  then, among those, the one whose ``predicted`` side names the deepest node containing the
  prediction; between different rules still tied (a DAG node under two named nodes of one
  depth) the rule written **last** wins;
* a mistake no rule matches costs **1** (the 0/1 loss; write ``*,*,c`` to change it).

So ``*,*,1`` (or an empty table) gives a mean cost of 1 − accuracy. Reported as the table's
rows ``cost_mean`` and ``cost_total`` (and per rank ``per_rank/<rank>/cost_mean``, the labels
read at the rank: the truth's ancestor at the rank, the prediction's ancestor at the rank or
the prediction itself when it is coarser); they bootstrap and compare like every metric.
FungiCLEF 2023's rules (poisonous taxa ``P``: poisonous predicted as edible 100, edible as
poisonous 1, on top of the 0/1 species error) read::

    true,predicted,cost
    *,*,1
    Amanita|Cortinarius,*,101
    *,Amanita|Cortinarius,2
    Amanita|Cortinarius,Amanita|Cortinarius,1
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import InputError
from taxovit.evaluation.subset import subtree_mask
from taxovit.taxonomy import Taxonomy
from taxovit.taxonomy.text_input import read_text

__all__ = ["PRECEDENCE", "CostTable", "as_cost_table", "cost_section", "read_costs"]

PRECEDENCE = (
    "correct: 0; else the rule with the deepest true-side node, then the deepest "
    "predicted-side node ('*' below the root), the later line on a tie; no rule: 1"
)
_COLUMNS = ("true", "predicted", "cost")


@dataclass(frozen=True)
class CostTable:
    """The parsed rules: per rule the depth, over every node, of the deepest named node
    containing it (-1 for ``*``, -2: not matched) on each side, and its cost."""

    source: str
    true_depth: tuple[NDArray[np.int64], ...]
    pred_depth: tuple[NDArray[np.int64], ...]
    cost: tuple[float, ...]
    max_depth: int

    def of_pairs(self, t: NDArray[np.int64], p: NDArray[np.int64]) -> NDArray[np.float64]:
        """The cost of each (true, predicted) node pair (module docstring): one vectorised
        pass per rule."""
        out = np.ones(t.size)
        best = np.full(t.size, -1, dtype=np.int64)
        span = self.max_depth + 2
        for dt, dp, c in zip(self.true_depth, self.pred_depth, self.cost, strict=True):
            a, b = dt[t], dp[p]
            key = (a + 1) * span + (b + 1)
            win = (a > -2) & (b > -2) & (key >= best)
            out[win], best[win] = c, key[win]
        out[t == p] = 0.0
        return out

    def columns(
        self, t: NDArray[np.int64], p: NDArray[np.int64], taxonomy: Taxonomy, ranks: Any
    ) -> dict[str, NDArray[np.float64]]:
        """The statistics ``cost`` and ``cost/<rank>`` (0 where the truth has no ancestor at
        the rank) of the metric table's cost rows."""
        cols = {"cost": self.of_pairs(t, p)}
        ix = taxonomy.index
        for rank in ranks:
            tr, pr = ix.ancestor_at_rank(t, rank), ix.ancestor_at_rank(p, rank)
            keep = tr >= 0
            col = np.zeros(t.size)
            col[keep] = self.of_pairs(tr[keep], np.where(pr >= 0, pr, p)[keep])
            cols[f"cost/{rank}"] = col
        return cols


def _side(text: str, taxonomy: Taxonomy, where: dict[str, Any]) -> NDArray[np.int64]:
    """Per node the depth of the deepest named node above it (-1 everywhere for ``*``)."""
    ix = taxonomy.index
    if text == "*":
        return np.full(ix.n, -1, dtype=np.int64)
    names = [n.strip() for n in text.split("|")]
    out = np.full(ix.n, -2, dtype=np.int64)
    for name in names:
        if name not in taxonomy:
            shown = "an empty name" if not name else f"{name!r} is not a node of the taxonomy"
            raise InputError(f"{shown} (expected '*' or node names joined by '|')", **where)
        node = taxonomy.id_of(name)
        mask = subtree_mask(taxonomy, np.array([node]))
        out[mask] = np.maximum(out[mask], ix.depth[node])
    return out


def _cost(text: str, where: dict[str, Any]) -> float:
    try:
        c = float(text)
    except ValueError:
        c = math.nan
    if not (math.isfinite(c) and c >= 0):
        raise InputError(f"expected a finite number >= 0, got {text!r}", **where)
    return c


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = read_text(path, what="a cost table", empty_ok=True)
    rows = [
        (i, r)
        for i, r in enumerate(csv.reader(text.splitlines()), 1)
        if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")
    ]
    if not rows:
        raise InputError(
            "empty cost table: expected the header true,predicted,cost", file=str(path)
        )
    line, header = rows[0]
    return [h.strip().lower() for h in header], rows[1:]


def read_costs(taxonomy: Taxonomy, path: str | os.PathLike[str]) -> CostTable:
    """Parse and check a cost table (module docstring); every problem is an
    :class:`~taxovit.errors.InputError` naming the file, line and column."""
    path = Path(path)
    header, rows = _rows(path)
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected the header true,predicted,cost",
            file=str(path),
            row=1,
        )
    col = {c: header.index(c) for c in _COLUMNS}
    seen: dict[tuple[str, str], int] = {}
    sides_t, sides_p, costs = [], [], []
    for line, row in rows:
        if len(row) != len(header):
            raise InputError(
                f"{len(row)} fields, the header has {len(header)}", file=str(path), row=line
            )
        cells = {c: row[col[c]].strip() for c in _COLUMNS}
        where = {c: {"file": str(path), "row": line, "column": c} for c in _COLUMNS}
        key = (cells["true"], cells["predicted"])
        if key in seen:
            raise InputError(
                f"the rule {key[0]},{key[1]} is also on line {seen[key]}", **where["true"]
            )
        seen[key] = line
        sides_t.append(_side(cells["true"], taxonomy, where["true"]))
        sides_p.append(_side(cells["predicted"], taxonomy, where["predicted"]))
        costs.append(_cost(cells["cost"], where["cost"]))
    return CostTable(
        str(path), tuple(sides_t), tuple(sides_p), tuple(costs), taxonomy.index.max_depth
    )


def cost_section(
    table: CostTable, metrics: dict[str, Any], per_rank: dict[str, Any]
) -> dict[str, Any]:
    """The report's ``costs`` section: the file, its rules' count and precedence, and the
    values of the cost rows (copied from the report's metrics)."""
    return {
        "file": table.source,
        "n_rules": len(table.cost),
        "precedence": PRECEDENCE,
        "mean": metrics.get("cost_mean"),
        "total": metrics.get("cost_total"),
        "mean_per_rank": {r: v.get("cost_mean") for r, v in per_rank.items()},
    }


def as_cost_table(taxonomy: Taxonomy, costs: Any) -> CostTable:
    """``costs`` as a :class:`CostTable` (read when it is a path)."""
    return costs if isinstance(costs, CostTable) else read_costs(taxonomy, costs)
