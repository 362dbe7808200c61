"""``method: mae`` (He et al., *Masked Autoencoders Are Scalable Vision Learners*, CVPR 2022):
self-supervised pretraining by reconstructing the pixels of randomly masked patches.

Per image, ``mae.mask_ratio`` of the patch tokens are removed at random (each image its own
draw; ``floor(N (1 - ratio))`` kept, see :func:`~taxovit.training.parts.ssl.random_masking`);
the encoder (the backbone, with its prefix tokens) sees only the kept tokens; a light decoder
(``mae.decoder_dim`` wide, ``mae.decoder_depth`` blocks, a shared mask token and fixed
sine-cosine positions) predicts every patch's pixels, and the loss is the mean squared error
on the removed patches only (per-patch normalised targets with ``mae.norm_pix``). The decoder
is kept in the checkpoint's ``model`` but is no part of the backbone: the read-outs
(``knn``, ``linear``, ``model.pretrained``, :func:`taxovit.models.load_model`) take the
backbone as it is. No labels are used (the training rank's labels are ignored).

Views: one view of the config's augmentation (the paper uses random resized crops and flips
only). Written from the paper; the MAE reference code was not used (its licence is
non-commercial).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxovit.training.methods.base import Method
from taxovit.training.run.rules import Problem, Section, boolean, integer, key, number, ok

__all__ = ["MAE", "MaeConfig"]


@dataclass
class MaeConfig(Section):
    """``mae:``."""

    name = "mae"
    mask_ratio: float = key(
        0.75,
        number(0, 1, lo_open=True, hi_open=True),
        "share of patch tokens removed per image (the paper's 0.75)",
    )
    decoder_dim: int = key(128, integer(1), "decoder width (light: below the encoder's)")
    decoder_depth: int = key(2, integer(1), "decoder blocks")
    decoder_heads: int = key(4, integer(1), "decoder attention heads (divides decoder_dim)")
    norm_pix: bool = key(
        True,
        boolean(),
        "targets: each patch normalised by its mean and variance (paper: better representations)",
    )


class MAE(Method):
    """Masked autoencoder (module docstring)."""

    name = "mae"
    section = MaeConfig

    @classmethod
    def check(cls, cfg: Any, bad: set[str]) -> list[Problem]:
        m, out = cfg.mae, []
        if m.decoder_dim % m.decoder_heads and ok(bad, "mae.decoder_dim", "mae.decoder_heads"):
            out.append(
                Problem(
                    "mae.decoder_heads",
                    f"mae.decoder_heads: must divide "
                    f"mae.decoder_dim ({m.decoder_dim}), got {m.decoder_heads}",
                )
            )
        stride, patch = cfg.model.stride, cfg.model.patch_size
        if stride is not None and stride != patch and ok(bad, "model.stride"):
            out.append(
                Problem(
                    "model.stride",
                    "model.stride: method mae reconstructs "
                    "non-overlapping patches: leave it null or equal to "
                    f"model.patch_size, got {stride}",
                )
            )
        if cfg.model.stem != "patch" and ok(bad, "model.stem"):
            out.append(
                Problem(
                    "model.stem",
                    "model.stem: method mae needs patch (a conv stem "
                    "would show each token its masked neighbours' pixels), got "
                    f"{cfg.model.stem}",
                )
            )
        return out

    @classmethod
    def has_head(cls, section: MaeConfig) -> bool:
        return False

    @classmethod
    def add_parts(cls, net: Any, section: MaeConfig, num_classes: int) -> None:
        from taxovit.training.parts.ssl import MaeDecoder

        bb = net.backbone
        pe = bb.patch_embed
        grid = tuple(pe.grid_size)
        pixels = (pe.img_size[0] // grid[0]) * (pe.img_size[1] // grid[1]) * bb.in_chans
        net.mae_decoder = MaeDecoder(
            bb.embed_dim,
            section.decoder_dim,
            section.decoder_depth,
            section.decoder_heads,
            grid,
            pixels,
            bb.num_prefix_tokens,
        )
        net.mae_ratio = float(section.mask_ratio)
        net.forwards["mae"] = masked_forward

    def __init__(self, cfg: Any, online: Any, dist: Any, device: Any) -> None:
        super().__init__(cfg, online, dist, device)
        self.norm_pix = bool(cfg.mae.norm_pix)

    def loss(self, model: Any, x: Any, labels: Any) -> dict[str, Any]:
        from taxovit.training.parts.ssl import mae_loss, patchify

        out = model(x, via="mae")
        target = patchify(x, out["grid"])
        loss = mae_loss(out["pred"], target, out["mask"], self.norm_pix)
        return {"loss": loss, "mae": loss.detach()}


def masked_forward(net: Any, x: Any) -> dict[str, Any]:
    """The encoder on each image's kept tokens and the decoder's pixel predictions:
    ``pred (B, N, P)``, ``mask (B, N)`` (1 = removed) and the patch ``grid``."""
    import torch

    from taxovit.training.parts.ssl import random_masking

    bb = net.backbone
    prefix = bb.num_prefix_tokens
    kept: dict[str, Any] = {}

    def drop_tokens(i: int, t: Any) -> Any:  # before block 0: the tokens with positions
        if i:
            return t
        patches = t[:, prefix:]
        b, n, d = patches.shape
        ids_keep, kept["mask"], kept["restore"] = random_masking(b, n, net.mae_ratio, t.device)
        chosen = patches.gather(1, ids_keep.unsqueeze(-1).expand(-1, -1, d))
        return torch.cat([t[:, :prefix], chosen], dim=1)

    h = bb.forward_tokens(x, drop_tokens)
    pred = net.mae_decoder(h, kept["restore"])
    return {"pred": pred, "mask": kept["mask"], "grid": tuple(bb.grid_size)}
