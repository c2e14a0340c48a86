"""taming-transformers Lightning checkpoints (`{'state_dict': ...}`) -> TamingVQGANTokenizer.
Keys are taming's own names; the training-only `loss.*` entries (discriminator and LPIPS
network) are set aside with that reason, anything else unexpected is an error."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from reimpl.convert.common import KeyConsumer, take_expected
from reimpl.tokenizers.taming_vqgan import TamingVQGANConfig, TamingVQGANTokenizer

IGNORED = {"loss.": "training-only: discriminator and perceptual (LPIPS) weights of the VQGAN loss"}


def to_taming_layout(state: Mapping[str, Any], config: TamingVQGANConfig, ignored: Mapping[str, str]) -> dict:
    """A state dict already under taming's names -> checked TamingVQGANTokenizer weights."""
    with torch.device("meta"):
        expected = TamingVQGANTokenizer(config).state_dict()
    keys = KeyConsumer(state, ignored=ignored)
    out = take_expected(keys, expected)
    keys.finish()
    return out


def convert_taming_lightning(checkpoint: Mapping[str, Any], config: TamingVQGANConfig) -> dict:
    return to_taming_layout(checkpoint.get("state_dict", checkpoint), config, IGNORED)
