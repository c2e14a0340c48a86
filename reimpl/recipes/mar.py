"""MAR and eMIGM training (LTH14/mar `models/mar.py`, `engine_mar.py`; ML-GSAI/eMIGM
`models/emigm.py`, `engine_emigm.py`; ../shared/spec/mage_emigm.md §2.3, §2.7, §3.2, §3.6).

Per step, from cached KL moments (the image or its horizontal flip, picked at random, as
`CachedFolder`) a posterior sample x `scale_factor` gives the tokens; labels drop to the null class
(fake_latent) with probability 0.1; then one of the two masking rules:
- `truncnorm` (MAR): one ratio per step from a Gaussian of mode 1.0, std 0.25 truncated to
  [0.7, 1.0]; ceil(L r) tokens masked along a random order per sample;
- `bernoulli` (eMIGM, `random_masking`): one t ~ U(0, 1) per step clamped at t_min = 0.2,
  p = (1 - 1e-3) t + 1e-3, each token masked with probability gamma(p) (exp schedule), redrawn
  until at least 2 are masked; that count is then placed by a random permutation per sample.
The encoder drops the masked tokens (MAE); the loss is the diffusion loss on masked tokens only,
each seen with `diffusion_batch_mul` = 4 independent steps t, w(t) = 1 (eMIGM's published runs keep
the MDM weight off). Optimiser as published: AdamW (0.9, 0.95), weight decay 0.02 except biases,
1-d parameters and the whole diffusion head, linear warm-up then constant lr, gradient clip 3.0,
EMA 0.9999 of every weight (the EMA is what gets saved and evaluated).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import torch

from reimpl.diffusion.gaussian import GaussianDiffusion, cosine_betas
from reimpl.networks.mar import MarNetwork
from reimpl.recipes.loop import OptimConfig, WeightAverage, train
from reimpl.recipes.snapshot import Snapshot
from reimpl.recipes.mage import mask_and_drop, truncated_normal_ratio
from reimpl.samplers.emigm import mask_fraction


@dataclasses.dataclass(frozen=True)
class MarTrainConfig:
    optim: OptimConfig = OptimConfig(
        steps=500_000, batch_size=2048, learning_rate=8e-4, betas=(0.9, 0.95), weight_decay=0.02,
        warmup_steps=62_500, grad_clip=3.0, no_decay_on_1d=True, no_decay_prefixes=("diffloss.",),
        schedule="constant",
    )  # 800 epochs of 1.28M images at batch 2048 ~ 500k steps; 100 warm-up epochs ~ 62.5k
    masking: str = "truncnorm"  # truncnorm (MAR) | bernoulli (eMIGM)
    mask_ratio_mode: float = 1.0
    mask_ratio_std: float = 0.25
    mask_ratio_min: float = 0.7
    mask_ratio_max: float = 1.0
    mask_schedule: str = "exp"  # eMIGM's gamma
    t_min: float = 0.2  # eMIGM's clamp_t_min
    label_drop: float = 0.1
    diffusion_batch_mul: int = 4
    ema_decay: float = 0.9999


def bernoulli_mask(batch: int, length: int, config: MarTrainConfig, generator: torch.Generator) -> torch.Tensor:
    """eMIGM's `random_masking`: (B, L) bool, the same count in every row."""
    while True:
        t = max(float(torch.rand((), generator=generator)), config.t_min)
        p_mask = (1 - 1e-3) * t + 1e-3
        row = torch.rand(length, generator=generator) < mask_fraction(config.mask_schedule, torch.tensor(p_mask))
        if int(row.sum()) >= 2:
            break
    return torch.stack([row[torch.randperm(length, generator=generator)] for _ in range(batch)])


def draw_mask(batch: int, length: int, config: MarTrainConfig, generator: torch.Generator) -> torch.Tensor:
    if config.masking == "bernoulli":
        return bernoulli_mask(batch, length, config, generator)
    if config.masking == "truncnorm":
        masked, _ = mask_and_drop(batch, length, truncated_normal_ratio(config, generator), 0.0, generator)
        return masked
    raise ValueError(f"masking={config.masking!r}: choose truncnorm (MAR) or bernoulli (eMIGM)")


def tokens_from_moments(moments: torch.Tensor, scale_factor: float, generator: torch.Generator) -> torch.Tensor:
    """Cached (B, 2C, h, w) moments -> a posterior draw x scale as tokens (B, h*w, C) (`patchify`, patch 1)."""
    mean, logvar = moments.chunk(2, dim=1)
    latents = (mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)) * scale_factor
    return latents.flatten(2).transpose(1, 2)


def train_mar(network: MarNetwork, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], config: MarTrainConfig,
              scale_factor: float, progress: bool = True, snapshot: Snapshot | None = None) -> dict[str, float]:
    """batches yields (moments (B, 2C, h, w), labels (B,)); on return the network holds the EMA weights."""
    generator = torch.Generator().manual_seed(config.optim.seed)
    diffusion = GaussianDiffusion(cosine_betas())
    ema = WeightAverage(network, config.ema_decay)
    null_label = network.config.null_label

    def loss_fn(model, batch, step):
        moments, labels = batch
        tokens = tokens_from_moments(moments, scale_factor, generator)
        batch_size, length, channels = tokens.shape
        dropped = torch.rand(batch_size, generator=generator) < config.label_drop
        labels = torch.where(dropped, null_label, labels)
        mask = draw_mask(batch_size, length, config, generator)
        z = model(tokens, mask, network.class_embedding(labels))
        # only masked positions carry loss, so only they go through the head (the official code masks afterwards)
        z = z[mask].repeat(config.diffusion_batch_mul, 1)
        target = tokens[mask].repeat(config.diffusion_batch_mul, 1)
        t = torch.randint(0, diffusion.num_steps, (len(target),), generator=generator)
        noise = torch.randn(target.shape, generator=generator)
        loss = diffusion.training_losses(lambda x, steps: network.head(x, steps, z), target, t, noise).mean()
        return loss, {"loss": loss.item(), "masked": float(mask.float().mean())}

    logged = train(network, loss_fn, batches, config.optim, progress=progress, description="train mar",
                   after_step=ema.update, snapshot=snapshot, state={"generator": generator, "ema": ema})
    ema.copy_to(network)
    return logged
