"""taxovit: taxonomy-aware evaluation and fine-grained ViT training.

Importing this package never imports torch: the training side lives in
``taxovit.models``, ``taxovit.losses``, ``taxovit.neighbors`` and ``taxovit.train``.
"""

from taxovit.errors import InputError, TaxonomyError, TaxovitError
from taxovit.taxonomy import Taxonomy, load_taxonomy, save_taxonomy

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "Taxonomy",
    "TaxonomyError",
    "TaxovitError",
    "evaluate",
    "load_taxonomy",
    "save_taxonomy",
]


def __getattr__(name: str):
    # Lazy so that `import taxovit` stays light (no pandas/sklearn until evaluation is used).
    if name == "evaluate":
        from taxovit.evaluate import evaluate

        return evaluate
    raise AttributeError(name)
