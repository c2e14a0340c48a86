"""The MAGE family: a frozen MaskGIT-architecture VQGAN + the MAGE encoder-decoder + the
`mage` sampler; unconditional generation, and the encoder's pooled features for linear probes."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from reimpl.models import MODELS
from reimpl.models.base import ModelAssets, RepresentationLearner, TokenGridModel
from reimpl.networks.mage import MAGE_CONFIGS, MageConfig, MageNetwork
from reimpl.recipes.loop import load_checkpoint


def network_config(architecture: dict) -> MageConfig:
    """A card's `architecture`: a `preset` name and/or explicit MageConfig fields."""
    fields = dict(architecture)
    preset = fields.pop("preset", None)
    return dataclasses.replace(MAGE_CONFIGS[preset] if preset else MageConfig(), **fields)


class MageModel(TokenGridModel, RepresentationLearner):
    default_sampler = "mage"

    def __init__(self, card: Any, network: MageNetwork, tokenizer: torch.nn.Module, image_size: int):
        super().__init__(card, network, tokenizer, image_size, num_classes=None, null_label=None)  # unconditional

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, seeds: list[int], sampler: Any = None) -> torch.Tensor:
        pixels = self.tokenizer.decode_float(self.sample_grid(labels, seeds, sampler))  # labels ignored; [0, 1]
        # gen_img_uncond.py: np.clip(x * 255, 0, 255).astype(uint8) truncates, it does not round.
        return (pixels.clamp(0, 1) * 255).to(torch.uint8)

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        device = next(self.network.parameters()).device
        ids = self.tokenizer.encode(images.to(device)).flatten(1)  # (B, L)
        return self.network.pooled_features(ids)

    def randomly_initialised(self, seed: int) -> "MageModel":
        torch.manual_seed(seed)
        device = next(self.network.parameters()).device
        network = MageNetwork(self.network.config).to(device)
        return MageModel(self.card, network, self.tokenizer, self.image_size)


@MODELS.register("mage")
def build_mage(card: Any, assets: ModelAssets) -> MageModel:
    network = MageNetwork(network_config(card.architecture))
    load_checkpoint(assets.files["transformer"], network)
    tokenizer = assets.load_tokenizer()
    return MageModel(card, network, tokenizer, card.benchmark.resolution)
