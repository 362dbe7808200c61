"""taxovit: taxonomy-aware evaluation and fine-grained ViT training.

Two wings share the taxonomy (:mod:`taxovit.taxonomy`), the predictions file contract
(:mod:`taxovit.predictions`) and the errors (:mod:`taxovit.errors`):

* :mod:`taxovit.evaluation` (with :mod:`taxovit.metrics`): taxonomy -> metrics -> report ->
  renderers. Importing this package, or running ``taxovit evaluate``, never imports torch.
* :mod:`taxovit.training` (with :mod:`taxovit.models`): config -> data -> network ->
  objective -> loop -> checkpoint -> predict. Imports torch.
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

