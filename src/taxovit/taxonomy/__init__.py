"""The taxonomy graph, its loaders and writers, and the compiled integer index."""

from taxovit.taxonomy.graph import Taxonomy
from taxovit.taxonomy.index import PairStats, TaxonomyIndex
from taxovit.taxonomy.io import (
    FORMATS,
    READ_FORMATS,
    detect_format,
    dumps_taxonomy,
    load_taxonomy,
    save_taxonomy,
    taxonomy_inputs,
)

__all__ = [
    "FORMATS",
    "PairStats",
    "READ_FORMATS",
    "Taxonomy",
    "TaxonomyIndex",
    "detect_format",
    "dumps_taxonomy",
    "load_taxonomy",
    "save_taxonomy",
    "taxonomy_inputs",
]
