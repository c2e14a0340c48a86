"""The PyTorch port of the MaskGIT VQGAN that open-muse made (scripts/convert_maskgit_vqgan.py)
and 1d-tokenizer / maskgit-pytorch load (`maskgit-vqgan-imagenet-f16-256.bin`, 168 keys).
Its key names are this package's names, so conversion is a checked identity: every key
must be present with the expected shape, and nothing else may be in the file."""

from __future__ import annotations

from typing import Mapping

import torch

from reimpl.convert.common import copy_matching
from reimpl.tokenizers.vqgan import VQGANConfig, VQGANTokenizer


def convert_maskgit_torch_port(state_dict: Mapping[str, torch.Tensor], config: VQGANConfig = VQGANConfig()) -> dict:
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]
    return copy_matching(state_dict, lambda: VQGANTokenizer(config))
