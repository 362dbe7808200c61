"""The evaluation wing: taxonomy -> metrics -> report -> renderers. Never imports torch.

:func:`evaluate` (in :mod:`.core`) computes an :class:`EvaluationReport` (:mod:`.report`);
:mod:`.render` turns it into a table, JSON, CSV or markdown; :mod:`.plots` draws PNGs.
"""

from taxovit.evaluation.core import DEFAULT_TOP_K, MAP_KEYS, evaluate
from taxovit.evaluation.report import EvaluationReport

__all__ = ["DEFAULT_TOP_K", "MAP_KEYS", "EvaluationReport", "evaluate"]
