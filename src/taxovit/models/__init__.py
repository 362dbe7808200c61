"""Vision Transformer backbones and TransFG (training side: imports torch).

``import taxovit`` never imports this package; the evaluation path stays torch-free.
"""

from taxovit.models.transfg import (
    TransFG,
    build_transfg,
    contrastive_loss,
    select_parts,
    select_parts_reference,
    transfg_loss,
)
from taxovit.models.vit import PRESETS, VisionTransformer, build_vit, resample_pos_embed
from taxovit.models.weights import LoadReport, load_pretrained

__all__ = [
    "PRESETS",
    "LoadReport",
    "TransFG",
    "VisionTransformer",
    "build_transfg",
    "build_vit",
    "contrastive_loss",
    "load_pretrained",
    "resample_pos_embed",
    "select_parts",
    "select_parts_reference",
    "transfg_loss",
]
