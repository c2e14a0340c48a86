"""taming-transformers Lightning checkpoints (`{'state_dict': ...}`) -> TamingVQGANTokenizer.
Keys are taming's own names; the training-only `loss.*` entries (discriminator and LPIPS
network) are set aside with that reason, anything else unexpected is an error."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from reimpl.convert.common import KeyConsumer, to_tensor
from reimpl.tokenizers.taming_vqgan import TamingVQGANConfig, TamingVQGANTokenizer

IGNORED = {"loss.": "training-only: discriminator and perceptual (LPIPS) weights of the VQGAN loss"}


def convert_taming_lightning(checkpoint: Mapping[str, Any], config: TamingVQGANConfig) -> dict:
    state = checkpoint.get("state_dict", checkpoint)
    with torch.device("meta"):
        expected = TamingVQGANTokenizer(config).state_dict()
    keys = KeyConsumer(state, ignored=IGNORED)
    out = {}
    for name, reference in expected.items():
        value = keys.pop(name)
        if tuple(value.shape) != tuple(reference.shape):
            raise ValueError(f"{name}: shape {tuple(value.shape)} != expected {tuple(reference.shape)}")
        out[name] = to_tensor(value).float()
    keys.finish()
    return out
