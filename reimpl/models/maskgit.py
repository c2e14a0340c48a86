"""The MaskGIT family: a VQ tokenizer + the bidirectional transformer + the `maskgit` sampler."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from reimpl.models import MODELS
from reimpl.models.base import ModelAssets, TokenGridModel
from reimpl.networks.maskgit import MASKGIT_CONFIGS, MaskGitConfig, MaskGitNetwork
from reimpl.recipes.loop import load_checkpoint


def network_config(architecture: dict) -> MaskGitConfig:
    """A card's `architecture`: a `preset` name and/or explicit MaskGitConfig fields."""
    fields = dict(architecture)
    preset = fields.pop("preset", None)
    return dataclasses.replace(MASKGIT_CONFIGS[preset] if preset else MaskGitConfig(), **fields)


class MaskGitModel(TokenGridModel):
    default_sampler = "maskgit"

    def __init__(self, card: Any, network: MaskGitNetwork, tokenizer: torch.nn.Module, image_size: int):
        super().__init__(card, network, tokenizer, image_size, network.config.num_classes, network.config.null_class_id)

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, seeds: list[int], sampler: Any = None) -> torch.Tensor:
        return self.tokenizer.decode(self.sample_grid(labels, seeds, sampler))  # (B, 3, H, W) uint8


@MODELS.register("maskgit")
def build_maskgit(card: Any, assets: ModelAssets) -> MaskGitModel:
    network = MaskGitNetwork(network_config(card.architecture))
    load_checkpoint(assets.files["transformer"], network)
    tokenizer = assets.load_tokenizer()
    return MaskGitModel(card, network, tokenizer, card.benchmark.resolution)
