"""Vision Transformer backbones and TransFG (training side: imports torch).

``import taxovit`` never imports this package; the evaluation path stays torch-free.
"""

from taxovit.models.from_checkpoint import load_model
from taxovit.models.registry import ARCHITECTURES, build_model, build_transfg, build_vit
from taxovit.models.safetensors_io import read_safetensors, save_safetensors
from taxovit.models.transfg import (
    TransFG,
    contrastive_loss,
    select_parts,
    select_parts_reference,
    transfg_loss,
)
from taxovit.models.vit import (
    PRESET_LAYOUTS,
    PRESETS,
    VisionTransformer,
    ViTLayout,
    ViTPreset,
    resample_pos_embed,
)
from taxovit.models.weights import LoadReport, load_pretrained, read_checkpoint

__all__ = [
    "ARCHITECTURES",
    "PRESETS",
    "PRESET_LAYOUTS",
    "LoadReport",
    "TransFG",
    "ViTLayout",
    "ViTPreset",
    "VisionTransformer",
    "build_model",
    "build_transfg",
    "build_vit",
    "contrastive_loss",
    "load_model",
    "load_pretrained",
    "read_checkpoint",
    "read_safetensors",
    "resample_pos_embed",
    "save_safetensors",
    "select_parts",
    "select_parts_reference",
    "transfg_loss",
]
