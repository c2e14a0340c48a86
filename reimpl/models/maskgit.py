"""The MaskGIT family: a VQ tokenizer + the bidirectional transformer + the `maskgit` sampler."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from reimpl.models import MODELS
from reimpl.models.base import GenerativeModel, ModelAssets
from reimpl.networks.maskgit import MASKGIT_CONFIGS, MaskGitConfig, MaskGitNetwork
from reimpl.recipes.loop import load_checkpoint
from reimpl.samplers.base import TokenProblem
from reimpl.tokenizers import TOKENIZERS


def network_config(architecture: dict) -> MaskGitConfig:
    """A card's `architecture`: a `preset` name and/or explicit MaskGitConfig fields."""
    fields = dict(architecture)
    preset = fields.pop("preset", None)
    return dataclasses.replace(MASKGIT_CONFIGS[preset] if preset else MaskGitConfig(), **fields)


class MaskGitModel(GenerativeModel):
    default_sampler = "maskgit"

    def __init__(self, card: Any, network: MaskGitNetwork, tokenizer: torch.nn.Module, image_size: int):
        super().__init__(card, network.config.num_classes, image_size)
        self.network = network.eval()
        self.tokenizer = tokenizer.eval()
        side = int(network.config.num_tokens**0.5)
        self.grid = (side, side)
        self.problem = TokenProblem(network.config.num_tokens, network.mask_token_id, network.config.null_class_id)

    def to(self, device):
        self.network.to(device)
        self.tokenizer.to(device)
        return self

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, seeds: list[int], sampler: Any = None) -> torch.Tensor:
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        tokens = sampler.sample(self.network, labels, self.problem, generators)  # (B, L)
        return self.tokenizer.decode(tokens.view(len(labels), *self.grid))  # (B, 3, H, W) uint8


@MODELS.register("maskgit")
def build_maskgit(card: Any, assets: ModelAssets) -> MaskGitModel:
    network = MaskGitNetwork(network_config(card.architecture))
    load_checkpoint(assets.files["transformer"], network)
    tokenizer = TOKENIZERS.get(assets.tokenizer_family)(assets.tokenizer_architecture)
    load_checkpoint(assets.files["tokenizer"], tokenizer)
    return MaskGitModel(card, network, tokenizer, card.benchmark.resolution)
