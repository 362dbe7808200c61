"""Vision Transformer backbones and TransFG (training side: imports torch).

``import taxovit`` never imports this package; the evaluation path stays torch-free. The
names below are imported on first use, so :mod:`taxovit.models.presets` (the sizes and
layouts as data) can be read without importing torch (the training config does).
"""

from importlib import import_module
from typing import Any

#: public name -> the submodule that defines it
_WHERE = {
    "load_model": "from_checkpoint",
    "ARCHITECTURES": "registry",
    "build_model": "registry",
    "build_transfg": "registry",
    "build_vit": "registry",
    "read_safetensors": "safetensors_io",
    "save_safetensors": "safetensors_io",
    "TransFG": "transfg",
    "contrastive_loss": "transfg",
    "select_parts": "transfg",
    "select_parts_reference": "transfg",
    "transfg_loss": "transfg",
    "PRESET_LAYOUTS": "presets",
    "PRESETS": "presets",
    "ViTLayout": "presets",
    "ViTPreset": "presets",
    "VisionTransformer": "vit",
    "resample_pos_embed": "vit",
    "LoadReport": "weights",
    "load_pretrained": "weights",
    "read_checkpoint": "weights",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(f"taxovit.models.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'taxovit.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
