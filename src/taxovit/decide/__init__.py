"""Acting on the taxonomy: decisions from class scores that make better mistakes.

Torch-free and vectorised. ``P(node | x)`` is the sum of the class probabilities of the
score columns under the node (the node itself included).

* :func:`to_probabilities` — probabilities from ``probs`` or ``logits``;
* :func:`rank_marginals`, :func:`node_marginals` — marginals over taxonomy nodes;
* :func:`crm_predict`, :func:`expected_costs`, :func:`crm_scores` — conditional risk
  minimisation (rows are divided by their sums first), and the decision's ranking scores;
* :func:`confident_ancestor` — the deepest ancestor whose marginal clears a threshold.
"""

from taxovit.decide.ancestor import confident_ancestor
from taxovit.decide.marginals import RankMarginals, node_marginals, rank_marginals
from taxovit.decide.probabilities import SCORE_KINDS, to_probabilities
from taxovit.decide.risk import COSTS, cost_matrix, crm_predict, crm_scores, expected_costs

__all__ = [
    "COSTS",
    "SCORE_KINDS",
    "RankMarginals",
    "confident_ancestor",
    "cost_matrix",
    "crm_predict",
    "crm_scores",
    "expected_costs",
    "node_marginals",
    "rank_marginals",
    "to_probabilities",
]
