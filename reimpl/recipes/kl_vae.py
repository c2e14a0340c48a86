"""KL autoencoder training, the part of LDM's recipe that runs offline (MAR trained its KL-16 "with
LDM's KL-f16 recipe", issue #3; `ldm/modules/losses/contperceptual.py LPIPSWithDiscriminator`).

Official loss per image: sum |x - x_rec| / exp(logvar) + logvar (a learned scalar logvar, 0 at
init) + 1e-6 KL(q(z|x) || N(0, I)) summed over the latent, plus LPIPS (1.0) and a patch GAN
(0.5, from a start step). LPIPS and the GAN need pretrained or separately trained networks that
are not part of this offline recipe: they are off and `recipe_notes()` says so. The latent scale
(1 / std of the latents over the training images, MAR's 0.2325 for KL-16) is measured at the end.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import torch

from reimpl.recipes.loop import OptimConfig, train
from reimpl.recipes.snapshot import Snapshot
from reimpl.tokenizers.kl_vae import KLVAETokenizer


@dataclasses.dataclass(frozen=True)
class KLTrainConfig:
    optim: OptimConfig = OptimConfig(steps=200_000, batch_size=256, learning_rate=1e-4, betas=(0.5, 0.9))
    kl_weight: float = 1e-6
    perceptual: float = 1.0  # LPIPS: needs pretrained VGG weights, unavailable offline
    gan: float = 0.5  # needs a discriminator trained alongside: not in the offline recipe


def recipe_notes(config: KLTrainConfig) -> list[str]:
    notes = []
    if config.perceptual:
        notes.append(f"LPIPS loss (weight {config.perceptual}) off: its pretrained network is unavailable offline")
    if config.gan:
        notes.append(f"GAN loss (weight {config.gan}) off: not run in the offline recipe")
    return notes


def gaussian_kl(moments: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, var) || N(0, 1)) summed over each image's latent: (B,)."""
    mean, logvar = moments.chunk(2, dim=1)
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=(1, 2, 3))


def train_kl_vae(tokenizer: KLVAETokenizer, batches: Iterator[torch.Tensor], config: KLTrainConfig,
                 progress: bool = True, snapshot: Snapshot | None = None) -> dict[str, float]:
    """batches yields float images (B, 3, H, W) in [0, 1]; the tokenizer's scale stays 1 while training."""
    if tokenizer.config.scale_factor != 1.0:
        raise ValueError("train with scale_factor 1.0 and set the measured scale on the card afterwards")
    generator = torch.Generator().manual_seed(config.optim.seed)
    log_variance = torch.nn.Parameter(torch.zeros(()))
    model = _WithLogVariance(tokenizer, log_variance)

    def loss_fn(forward, images, step):
        moments = tokenizer.moments(images)
        latents = tokenizer.sample_latents(moments, generator)
        reconstruction = tokenizer.decode_float(latents)
        absolute = (images * 2 - 1 - reconstruction).abs()
        nll = (absolute / forward.log_variance.exp() + forward.log_variance).sum(dim=(1, 2, 3)).mean()
        kl = gaussian_kl(moments).mean()
        loss = nll + config.kl_weight * kl
        return loss, {"loss": loss.item(), "l1": absolute.mean().item(), "kl": kl.item()}

    return train(model, loss_fn, batches, config.optim, progress=progress, description="train kl-vae",
                 snapshot=snapshot, state={"generator": generator})


class _WithLogVariance(torch.nn.Module):
    """The autoencoder plus LDM's learned output log-variance, so one optimizer trains both."""

    def __init__(self, tokenizer: KLVAETokenizer, log_variance: torch.nn.Parameter):
        super().__init__()
        self.tokenizer = tokenizer
        self.log_variance = log_variance


@torch.no_grad()
def latent_std(tokenizer: KLVAETokenizer, images: torch.Tensor, seed: int = 0) -> float:
    """Std of posterior samples over `images` (uint8): the latent scale is its inverse."""
    generator = torch.Generator().manual_seed(seed)
    samples = [tokenizer.sample_latents(tokenizer.moments(images[i : i + 250]), generator)
               for i in range(0, len(images), 250)]
    return float(torch.cat(samples).std())
