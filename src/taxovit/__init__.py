"""taxovit: taxonomy-aware evaluation and fine-grained ViT training.

Two wings share the taxonomy (:mod:`taxovit.taxonomy`), the predictions file contract
(:mod:`taxovit.predictions`) and the errors (:mod:`taxovit.errors`):

* :mod:`taxovit.evaluation` (with :mod:`taxovit.metrics`): taxonomy -> metrics -> report ->
  renderers. Importing this package, or running ``taxovit evaluate``, never imports torch.
* :mod:`taxovit.training` (with :mod:`taxovit.models`): config -> data -> network ->
  objective -> loop -> checkpoint -> predict. Imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taxovit.errors import InputError, TaxonomyError, TaxovitError

if TYPE_CHECKING:
    from taxovit.evaluation import EvaluationReport, evaluate
    from taxovit.evaluation.streaming import StreamingEvaluator
    from taxovit.taxonomy import Taxonomy, load_taxonomy, save_taxonomy

__version__ = "0.1.0"

# PEP 562: the public names of the two wings load with their subpackage on first use, so
# `import taxovit` (and the CLI's start, its --help) does not import numpy and every
# evaluation module; `from taxovit import evaluate` works as before.
_LAZY = {
    "EvaluationReport": "taxovit.evaluation",
    "evaluate": "taxovit.evaluation",
    "StreamingEvaluator": "taxovit.evaluation.streaming",
    "Taxonomy": "taxovit.taxonomy",
    "load_taxonomy": "taxovit.taxonomy",
    "save_taxonomy": "taxovit.taxonomy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "EvaluationReport",
    "InputError",
    "StreamingEvaluator",
    "Taxonomy",
    "TaxonomyError",
    "TaxovitError",
    "evaluate",
    "load_taxonomy",
    "save_taxonomy",
]
