"""The MAR and eMIGM families: a frozen continuous-latent tokenizer (KL-VAE or DC-AE) + the shared
MAR backbone with its diffusion head; the family decides the default sampler (`mar` or `emigm`)
and the architecture preset decides the eMIGM switch (mask token = fake_latent)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from reimpl.models import MODELS
from reimpl.models.base import GenerativeModel, ModelAssets
from reimpl.networks.mar import MAR_CONFIGS, MarConfig, MarNetwork
from reimpl.recipes.loop import load_checkpoint
from reimpl.samplers.latent import LatentProblem
from reimpl.samplers.noise import CounterNoise


def network_config(architecture: dict) -> MarConfig:
    """A card's `architecture`: a `preset` name and/or explicit MarConfig fields."""
    fields = dict(architecture)
    preset = fields.pop("preset", None)
    return dataclasses.replace(MAR_CONFIGS[preset] if preset else MarConfig(), **fields)


PAD_SEED = 2**31 - 1  # throwaway images that fill the last group


class LatentMaskedModel(GenerativeModel):
    """Class-conditional generation of a token grid of continuous latents, decoded by the tokenizer."""

    group_size = 16

    def __init__(self, card: Any, network: MarNetwork, tokenizer: torch.nn.Module, image_size: int,
                 default_sampler: str):
        super().__init__(card, network.config.num_classes, image_size)
        self.default_sampler = default_sampler
        self.network = network.eval()
        self.tokenizer = tokenizer.eval()
        config = network.config
        self.side = int(config.num_tokens**0.5)
        self.problem = LatentProblem(config.num_tokens, config.token_dim, config.null_label)

    @torch.no_grad()
    def sample_latents(self, labels: torch.Tensor, seeds: list[int], sampler: Any) -> torch.Tensor:
        """(B, C, h, w) scaled latents; sample i from the counter noise of seeds[i].

        Images are decoded in groups of exactly `group_size` (the last one padded with throwaway
        images): BLAS chooses kernels and thread splits by matrix shape, and with few tokens per
        row (eMIGM reveals one token in its first steps) a different batch size would change an
        image's last bits. With one fixed shape, image i is the same in any batch.
        """
        device = next(self.network.parameters()).device
        groups = []
        for start in range(0, len(seeds), self.group_size):
            group_seeds = list(seeds[start : start + self.group_size])
            group_labels = labels[start : start + self.group_size].to(device)
            pad = self.group_size - len(group_seeds)
            group_seeds += [PAD_SEED] * pad
            group_labels = torch.cat([group_labels, group_labels.new_zeros(pad)])
            noise = CounterNoise.from_seeds(group_seeds, device)
            groups.append(sampler.sample(self.network, group_labels, self.problem, noise)[: self.group_size - pad])
        tokens = torch.cat(groups)  # (B, L, C)
        return tokens.transpose(1, 2).reshape(len(seeds), -1, self.side, self.side)  # `unpatchify`, patch 1

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, seeds: list[int], sampler: Any = None) -> torch.Tensor:
        latents = self.sample_latents(labels, seeds, sampler)
        # One image at a time, each in the same contiguous layout: convolutions choose kernels by
        # batch size and by memory format (a transposed (1, C, h, w) slice reads as channels-last),
        # and image i must not change in its last bits with the batch it was drawn in.
        return torch.cat([self.tokenizer.decode(latents[i : i + 1].contiguous()) for i in range(len(seeds))])


def _build(card: Any, assets: ModelAssets, default_sampler: str) -> LatentMaskedModel:
    network = MarNetwork(network_config(card.architecture))
    load_checkpoint(assets.files["transformer"], network)
    return LatentMaskedModel(card, network, assets.load_tokenizer(), card.benchmark.resolution, default_sampler)


@MODELS.register("mar")
def build_mar(card: Any, assets: ModelAssets) -> LatentMaskedModel:
    return _build(card, assets, "mar")


@MODELS.register("emigm")
def build_emigm(card: Any, assets: ModelAssets) -> LatentMaskedModel:
    return _build(card, assets, "emigm")
