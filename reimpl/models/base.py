"""What the harness needs from any generative model."""

from __future__ import annotations

import abc
from typing import Any, Mapping

import torch


class GenerativeModel(abc.ABC):
    """A class-conditional (or unconditional) image generator built from a card.

    `default_sampler` names a registered sampler for token models; models that draw
    pixels directly (the toy baselines) leave it None and implement `generate`.
    """

    default_sampler: str | None = None

    def __init__(self, card: Mapping[str, Any], num_classes: int | None, image_size: int):
        self.card = card
        self.num_classes = num_classes
        self.image_size = image_size

    @abc.abstractmethod
    def generate(self, labels: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """Draw one image per label; image i depends only on (labels[i], seeds[i]).

        labels: int64 (B,) class ids (ignored by unconditional models)
        returns: uint8 (B, 3, H, W)
        """

    def to(self, device: torch.device | str) -> "GenerativeModel":
        return self
