"""Acting on the taxonomy: probabilities from scores and marginals over taxonomy nodes.

Torch-free and vectorised. ``P(node | x)`` is the sum of the class probabilities of the
score columns under the node (the node itself included).
"""

from taxovit.decide.marginals import RankMarginals, node_marginals, rank_marginals
from taxovit.decide.probabilities import SCORE_KINDS, to_probabilities

__all__ = ["SCORE_KINDS", "RankMarginals", "node_marginals", "rank_marginals", "to_probabilities"]
