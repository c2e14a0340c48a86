"""Baseline 'models' of the toy benchmark, registered as the model family `toy-baseline`.

They draw pixels directly (no sampler): `real-heldout` returns real images of the requested
class from the held-out `test` split; `shuffled-colour` the same with permuted colour
channels; `class-mean` returns the mean training image of the class, the picture of total
mode collapse."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from bench.data.toy import ToyShapes
from bench.errors import BadCardError
from bench.registry import MODELS
from reimpl.models.base import GenerativeModel

# Held-out images are picked from this many per class, by seed.
_POOL_PER_CLASS = 100_000


class RealHeldOut(GenerativeModel):
    def __init__(self, card, num_classes: int, image_size: int):
        super().__init__(card, num_classes, image_size)
        self.data = ToyShapes("test", _POOL_PER_CLASS * num_classes, image_size)

    def generate(self, labels: torch.Tensor, seeds: list[int], sampler=None) -> torch.Tensor:
        # Toy image j has class j mod K, so j = pick * K + label is a real image of that class.
        picks = [seed % _POOL_PER_CLASS for seed in seeds]
        images = [self.data[p * self.num_classes + int(label)][0] for p, label in zip(picks, labels)]
        return torch.stack(images)


class ClassMean(GenerativeModel):
    def __init__(self, card, num_classes: int, image_size: int, images_per_class: int = 200):
        super().__init__(card, num_classes, image_size)
        data = ToyShapes("train", images_per_class * num_classes, image_size)
        images, labels = data.batch(0, len(data))
        means = [images[labels == k].double().mean(dim=0) for k in range(num_classes)]
        self.means = torch.stack(means).round().to(torch.uint8)  # (K, 3, H, W)

    def generate(self, labels: torch.Tensor, seeds: list[int], sampler=None) -> torch.Tensor:
        return self.means[labels]


class ShuffledColour(RealHeldOut):
    """Real held-out images with their RGB channels permuted (R,G,B -> G,B,R): the shapes are
    perfect, only the colours are wrong. Its FID is the bar a tokenizer's reconstructions
    must beat (the MaskGIT issue's quality bar)."""

    def generate(self, labels: torch.Tensor, seeds: list[int], sampler=None) -> torch.Tensor:
        return super().generate(labels, seeds)[:, [1, 2, 0]]


KINDS = {"real-heldout": RealHeldOut, "class-mean": ClassMean, "shuffled-colour": ShuffledColour}


@MODELS.register("toy-baseline")
def build_toy_baseline(card: Any, assets: Any = None) -> GenerativeModel:
    architecture: Mapping[str, Any] = card.architecture
    kind = architecture.get("kind")
    if kind not in KINDS:
        raise BadCardError(f"card {card.name}: architecture.kind {kind!r} is not one of {sorted(KINDS)}", hint="fix the card")
    return KINDS[kind](card, card.num_classes, card.benchmark.resolution)
