"""LTH14/mage PyTorch checkpoints -> this package's MAGE network and VQGAN state dicts.

A pretrained MAGE file is `torch.load`-able as {'model': state_dict} (`gen_img_uncond.py`
loads `checkpoint['model']` strictly), 433 keys for ViT-B and 577 for ViT-L: the MAGE keys, whose
names this package keeps, the frozen VQGAN under `vqgan.*` (168 keys), and parameters the
official module builds but never uses. The tokenizer file `vqgan_jax_strongaug.ckpt` holds the
same VQGAN keys without the prefix (optionally under 'state_dict'). Its taming-style names differ
from this package's MaskGIT VQGAN in three places, renamed here:
`{encoder,decoder}.mid.block_{k+1}` -> `.mid.{k}` and `decoder.up.{i}.upsample.conv` ->
`decoder.up.{i}.upsample_conv`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

import torch

from reimpl.convert.common import KeyConsumer, copy_matching, take_expected
from reimpl.networks.mage import MageConfig, MageNetwork
from reimpl.tokenizers.vqgan import VQGANConfig, VQGANTokenizer

VQGAN_PREFIX = "vqgan."


def ignored_mage_keys() -> dict[str, str]:
    """Official keys that carry nothing the model uses, each with the reason."""
    reasons = {
        "patch_embed.": "MAE pixel patch embedding, never called (MAGE embeds token ids)",
        "cls_token": "unused (the fake class token is a word-embedding row; issue #38)",
        "pos_embed": "fixed sin-cos embedding, unused (token_emb has learned positions; issue #38)",
        "mask_token": "unused: pad_with_cls_token fills masked positions with the class token's projection",
        "decoder_pos_embed": "fixed sin-cos embedding, unused (decoder_pos_embed_learned is added)",
        "decoder_pred.": "MAE pixel head, never called (the MlmLayer predicts tokens)",
        "token_emb.position_ids": "buffer, arange(257), recomputed",
    }
    return reasons


@dataclasses.dataclass(frozen=True)
class MageConversion:
    network: dict[str, torch.Tensor]
    tokenizer: dict[str, torch.Tensor] | None  # None when the file has no vqgan.* keys
    ignored: dict[str, str]  # official key -> why it was not converted


def unwrap(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    for wrapper in ("model", "state_dict"):
        if wrapper in checkpoint and isinstance(checkpoint[wrapper], Mapping):
            return checkpoint[wrapper]
    return checkpoint


def taming_to_vqgan_name(key: str) -> str:
    key = re.sub(r"^(encoder|decoder)\.mid\.block_(\d+)\.", lambda m: f"{m[1]}.mid.{int(m[2]) - 1}.", key)
    return re.sub(r"^decoder\.up\.(\d+)\.upsample\.conv\.", r"decoder.up.\1.upsample_conv.", key)


def convert_mage_vqgan(checkpoint: Mapping[str, Any], config: VQGANConfig = VQGANConfig(), prefix: str = "") -> dict:
    """The MAGE VQGAN (taming layout, MaskGIT architecture) -> VQGANTokenizer state dict. Every
    key under `prefix` must be used; keys outside it are left for the caller."""
    state = unwrap(checkpoint)
    renamed = {taming_to_vqgan_name(k[len(prefix):]): v for k, v in state.items() if k.startswith(prefix)}
    return copy_matching(renamed, lambda: VQGANTokenizer(config))


def convert_mage_checkpoint(checkpoint: Mapping[str, Any], config: MageConfig = MageConfig(),
                            vqgan_config: VQGANConfig = VQGANConfig()) -> MageConversion:
    state = unwrap(checkpoint)
    mage_keys = {k: v for k, v in state.items() if not k.startswith(VQGAN_PREFIX)}
    with torch.device("meta"):
        expected = MageNetwork(config).state_dict()
    keys = KeyConsumer(mage_keys, ignored_mage_keys())
    network = take_expected(keys, expected)
    ignored = keys.finish()
    has_vqgan = len(mage_keys) < len(state)
    tokenizer = convert_mage_vqgan(state, vqgan_config, VQGAN_PREFIX) if has_vqgan else None
    return MageConversion(network, tokenizer, ignored)
