"""LTH14/mar and ML-GSAI/eMIGM PyTorch checkpoints -> MarNetwork state dicts, and MAR's KL-16 VAE
(../shared/spec/mage_emigm.md §2.6, §3.5).

- MAR `checkpoint-last.pth`: {'model', 'model_ema', 'optimizer', 'epoch', 'scaler', 'args'}
  (`util/misc.save_model`); evaluation uses `model_ema`, and so does this converter by default.
- eMIGM releases (`eMIGM_<size>_<res>_checkpoint.pth`): one fp32 state dict, which `main_emigm.py`
  accepts as {'model'[, 'model_ema']} or {'model_ema'} alone; the size comes from the card, never
  from the file name. Its `mask_token` is `fake_latent` (one Parameter under both names, shape
  (1, D)); a MAR-layout file has its own (1, 1, D) mask token -- loading one into the other's card
  fails with the reason.
- The network keys are the official names (`class_emb`, `z_proj`, `encoder_blocks.{i}.attn.qkv`,
  ..., `diffloss.net.res_blocks.{j}.adaLN_modulation.1`), so conversion is a checked copy.
- KL-16 `kl16.ckpt`: `torch.load(...)['model']`, LDM AutoencoderKL keys (encoder / decoder /
  quant_conv / post_quant_conv); training-loss modules (`loss.*`), if present, are ignored.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from reimpl.convert.common import copy_matching
from reimpl.networks.mar import MarConfig, MarNetwork
from reimpl.tokenizers.kl_vae import KLVAEConfig, KLVAETokenizer

WEIGHT_ENTRIES = ("model_ema", "model")  # preference order for evaluation


class CheckpointLayoutError(ValueError):
    pass


def select_weights(checkpoint: Mapping[str, Any], prefer: str = "model_ema") -> tuple[str, Mapping[str, Any]]:
    """(entry name, state dict): `prefer` if present, else the other weight entry, else the
    checkpoint itself when it already is a flat state dict."""
    if prefer not in WEIGHT_ENTRIES:
        raise ValueError(f"prefer must be one of {WEIGHT_ENTRIES}")
    order = (prefer,) + tuple(entry for entry in WEIGHT_ENTRIES if entry != prefer)
    for entry in order:
        if isinstance(checkpoint.get(entry), Mapping):
            return entry, checkpoint[entry]
    if any(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return "state_dict", checkpoint
    raise CheckpointLayoutError(f"no 'model_ema' or 'model' entry among {sorted(checkpoint)[:8]}")


def convert_mar_checkpoint(checkpoint: Mapping[str, Any], config: MarConfig, prefer: str = "model_ema") -> dict:
    _, state = select_weights(checkpoint, prefer)
    mask = state.get("mask_token")
    if mask is not None:
        tied_shape = (1, config.width)
        if config.mask_is_fake_latent and tuple(mask.shape) != tied_shape:
            raise CheckpointLayoutError(
                f"mask_token has shape {tuple(mask.shape)}, an eMIGM card needs {tied_shape} (tied to fake_latent): "
                "this looks like a MAR checkpoint; use a MAR card (family mar) for it")
        if not config.mask_is_fake_latent and tuple(mask.shape) == tied_shape:
            raise CheckpointLayoutError(
                f"mask_token has shape {tied_shape}: this looks like an eMIGM checkpoint (use_unsup_cfg); "
                "use an eMIGM card (family emigm) for it")
        tied = mask is state["fake_latent"] or mask.is_meta or torch.equal(mask, state["fake_latent"])
        if config.mask_is_fake_latent and not tied:
            raise CheckpointLayoutError("mask_token differs from fake_latent: not an eMIGM use_unsup_cfg checkpoint")
    return copy_matching(state, lambda: MarNetwork(config))


def convert_kl_vae(checkpoint: Mapping[str, Any], config: KLVAEConfig = KLVAEConfig()) -> dict:
    state = checkpoint.get("model", checkpoint.get("state_dict", checkpoint))
    return copy_matching(state, lambda: KLVAETokenizer(config),
                         {"loss.": "LDM training loss (LPIPS / discriminator), not part of the autoencoder"})
