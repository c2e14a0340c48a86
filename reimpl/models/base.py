"""What the harness needs from any generative model."""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any, Mapping

import torch


@dataclasses.dataclass(frozen=True)
class ModelAssets:
    """Local files and the tokenizer description a builder needs; the harness resolves
    (and checksums) them so reimpl never touches checkpoints.yaml."""

    files: Mapping[str, Path] = dataclasses.field(default_factory=dict)  # role -> local path
    tokenizer_family: str | None = None
    tokenizer_architecture: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def load_tokenizer(self) -> torch.nn.Module:
        """The card's tokenizer, built from its family and architecture, with its weights (strict)."""
        from reimpl.recipes.loop import load_checkpoint
        from reimpl.tokenizers import TOKENIZERS

        tokenizer = TOKENIZERS.get(self.tokenizer_family)(self.tokenizer_architecture)
        return load_checkpoint(self.files["tokenizer"], tokenizer)


class GenerativeModel(abc.ABC):
    """A class-conditional (or unconditional) image generator built from a card.

    `default_sampler` names a registered sampler for token models; models that draw
    pixels directly (the toy baselines) leave it None and ignore the sampler.
    """

    default_sampler: str | None = None

    def __init__(self, card: Any, num_classes: int | None, image_size: int):
        self.card = card
        self.num_classes = num_classes
        self.image_size = image_size

    @abc.abstractmethod
    def generate(self, labels: torch.Tensor, seeds: list[int], sampler: Any = None) -> torch.Tensor:
        """Draw one image per label; image i depends only on (labels[i], seeds[i]).

        labels: int64 (B,) class ids (ignored by unconditional models)
        returns: uint8 (B, 3, H, W)
        """

    def to(self, device: torch.device | str) -> "GenerativeModel":
        """Moves the `network` and `tokenizer` modules when the model has them."""
        for part in ("network", "tokenizer"):
            module = getattr(self, part, None)
            if module is not None:
                module.to(device)
        return self

    def denoising_networks(self) -> list[torch.nn.Module]:
        """The modules called once per sampling step: what `compile_networks` compiles."""
        return [module for part in ("network", "transformer")
                if isinstance(module := getattr(self, part, None), torch.nn.Module)]

    def compile_networks(self) -> "GenerativeModel":
        """torch.compile each per-step network in place (`nn.Module.compile`): a GPU speed
        option; the sampler loop and the tokenizer stay eager."""
        for module in self.denoising_networks():
            module.compile()
        return self


class RepresentationLearner(abc.ABC):
    """A model whose encoder is also judged as a representation (MAGE): the harness's
    linear probe trains on `image_features` and compares against `randomly_initialised`."""

    @abc.abstractmethod
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> frozen features (B, D)."""

    @abc.abstractmethod
    def randomly_initialised(self, seed: int) -> "RepresentationLearner":
        """The same architecture and tokenizer with the network re-initialised from `seed`:
        the probe's chance-level reference."""


class TokenGridModel(GenerativeModel):
    """A token network over a square grid of VQ tokens plus its tokenizer: the shared body of the
    MaskGIT-like families (MaskGIT, UnlockMGM, MAGE)."""

    def __init__(self, card: Any, network: torch.nn.Module, tokenizer: torch.nn.Module, image_size: int,
                 num_classes: int | None, null_label: int | None):
        from reimpl.samplers.base import TokenProblem

        super().__init__(card, num_classes, image_size)
        self.network = network.eval()
        self.tokenizer = tokenizer.eval()
        side = int(network.config.num_tokens**0.5)
        self.grid = (side, side)
        self.problem = TokenProblem(network.config.num_tokens, network.mask_token_id, null_label)

    @torch.no_grad()
    def sample_grid(self, labels: torch.Tensor, seeds: list[int], sampler: Any) -> torch.Tensor:
        """Token ids (B, h, w), sample i drawn from the counter noise of seeds[i]."""
        from reimpl.samplers.noise import CounterNoise

        noise = CounterNoise.from_seeds(seeds, labels.device)
        return sampler.sample(self.network, labels, self.problem, noise).view(len(seeds), *self.grid)
