"""taxovit: taxonomy-aware evaluation and fine-grained ViT training.

Importing this package never imports torch: the training side lives in
``taxovit.models``, ``taxovit.losses``, ``taxovit.neighbors`` and ``taxovit.train``.
"""

from taxovit.errors import InputError, TaxonomyError, TaxovitError
from taxovit.evaluation import EvaluationReport, evaluate
from taxovit.taxonomy import Taxonomy, load_taxonomy, save_taxonomy

__version__ = "0.1.0"

__all__ = [
    "EvaluationReport",
    "InputError",
    "Taxonomy",
    "TaxonomyError",
    "TaxovitError",
    "evaluate",
    "load_taxonomy",
    "save_taxonomy",
]

