"""Tokenizer baselines of the toy benchmark (../shared/spec/evaluation.md (b), (c)), registered
as the model family `token-baseline`:

- `reconstruction`: held-out real images passed through the tokenizer (encode -> decode);
  its FID against the reference is the best a generator on these tokens can hope for;
- `random-tokens`: uniformly random token grids decoded, the ceiling any trained
  transformer must get well below.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.baselines.toy import RealHeldOut
from bench.errors import BadCardError
from bench.registry import MODELS
from reimpl.models.base import GenerativeModel, ModelAssets
from reimpl.recipes.loop import load_checkpoint
from reimpl.tokenizers import TOKENIZERS


class Reconstruction(GenerativeModel):
    def __init__(self, card, tokenizer, num_classes: int, image_size: int):
        super().__init__(card, num_classes, image_size)
        self.real = RealHeldOut(card, num_classes, image_size)
        self.tokenizer = tokenizer

    def generate(self, labels: torch.Tensor, seeds: list[int], sampler=None) -> torch.Tensor:
        return self.tokenizer.decode(self.tokenizer.encode(self.real.generate(labels, seeds)))


class RandomTokens(GenerativeModel):
    def __init__(self, card, tokenizer, num_classes: int, image_size: int):
        super().__init__(card, num_classes, image_size)
        self.tokenizer = tokenizer
        side = image_size // tokenizer.config.downsample_factor
        self.grid = (side, side)

    def generate(self, labels: torch.Tensor, seeds: list[int], sampler=None) -> torch.Tensor:
        ids = [torch.randint(self.tokenizer.codebook_size, self.grid, generator=torch.Generator().manual_seed(s)) for s in seeds]
        return self.tokenizer.decode(torch.stack(ids))


KINDS = {"reconstruction": Reconstruction, "random-tokens": RandomTokens}


@MODELS.register("token-baseline")
def build_token_baseline(card: Any, assets: ModelAssets) -> GenerativeModel:
    kind = card.architecture.get("kind")
    if kind not in KINDS:
        raise BadCardError(f"card {card.name}: architecture.kind {kind!r} is not one of {sorted(KINDS)}", hint="fix the card")
    tokenizer = TOKENIZERS.get(assets.tokenizer_family)(assets.tokenizer_architecture)
    load_checkpoint(assets.files["tokenizer"], tokenizer)
    return KINDS[kind](card, tokenizer, card.num_classes, card.benchmark.resolution)
