"""Stage-1 VQ training (MaskGIT's `configs/vqgan_config.py` recipe, the parts that run offline).

Official losses: L2 reconstruction, commitment 0.25, codebook (the VQ-VAE `sg[z_e] - z_q`
term), entropy loss 0.1, plus a perceptual loss (0.1) and a StyleGAN discriminator (0.1, R1
10). The perceptual and GAN terms need pretrained networks that cannot be fetched offline;
they are off here and `recipe_notes()` says so, for the run record. `ema_codebook` and
`restart_dead_codes` are not in the official recipe: they keep a tiny codebook alive in a
few thousand CPU steps, and the toy card switches them on.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import torch
import torch.nn.functional as F

from reimpl.recipes.loop import OptimConfig, train
from reimpl.recipes.snapshot import Snapshot
from reimpl.tokenizers.vqgan import VQGANTokenizer


@dataclasses.dataclass(frozen=True)
class VQTrainConfig:
    optim: OptimConfig = OptimConfig(steps=1_000_000, batch_size=256, learning_rate=1e-4, betas=(0.0, 0.99))
    commitment: float = 0.25
    codebook: float = 1.0
    entropy: float = 0.1
    entropy_temperature: float = 0.01
    ema_codebook: float | None = None  # decay; None = codebook learned by its loss (official)
    restart_dead_codes: bool = False
    perceptual: float = 0.1  # needs pretrained weights: unavailable offline
    gan: float = 0.1  # needs a discriminator recipe with pretrained init: unavailable offline


def recipe_notes(config: VQTrainConfig) -> list[str]:
    notes = []
    if config.perceptual:
        notes.append(f"perceptual loss (weight {config.perceptual}) off: its pretrained network is unavailable offline")
    if config.gan:
        notes.append(f"GAN loss (weight {config.gan}) off: not run in the offline recipe")
    if config.ema_codebook is not None:
        notes.append(f"EMA codebook (decay {config.ema_codebook}) instead of the official codebook loss")
    if config.restart_dead_codes:
        notes.append("unused codes are restarted from encoder outputs (not in the official recipe)")
    return notes


def entropy_loss(z_e: torch.Tensor, codes: torch.Tensor, temperature: float) -> torch.Tensor:
    """MaskGIT `losses.entropy_loss`: mean per-sample entropy minus the entropy of the mean
    assignment, with soft assignments softmax(-distance / temperature)."""
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (N, D)
    distance = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codes.T + codes.pow(2).sum(1)[None]
    probs = F.softmax(-distance / temperature, dim=-1)
    log_probs = F.log_softmax(-distance / temperature + 1e-5, dim=-1)
    sample_entropy = -(probs * log_probs).sum(-1).mean()
    mean_probs = probs.mean(0)
    average_entropy = -(mean_probs * torch.log(mean_probs + 1e-5)).sum()
    return sample_entropy - average_entropy


def train_vqgan(
    tokenizer: VQGANTokenizer, images: Iterator[torch.Tensor], config: VQTrainConfig, progress: bool = True,
    snapshot: Snapshot | None = None,
) -> dict[str, float]:
    """images yields float batches in [0, 1] (B, 3, H, W)."""
    codebook = tokenizer.quantize.embedding.weight
    usage = torch.zeros(codebook.shape[0])
    latest: dict[str, torch.Tensor] = {}

    if config.ema_codebook is not None:
        codebook.requires_grad_(False)
        cluster_size = torch.ones(codebook.shape[0])
        cluster_sum = codebook.detach().clone()

    def loss_fn(model, batch, step):
        reconstruction, z_e, z_q, ids = model(batch)
        latest["z_e"], latest["ids"] = z_e.detach(), ids
        reconstruction_loss = F.mse_loss(reconstruction, batch)
        loss = reconstruction_loss + config.commitment * F.mse_loss(z_e, z_q.detach())
        if config.ema_codebook is None:
            loss = loss + config.codebook * F.mse_loss(z_q, z_e.detach())
        if config.entropy:
            loss = loss + config.entropy * entropy_loss(z_e, model.quantize.embedding.weight, config.entropy_temperature)
        used = ids.flatten().unique().numel() / codebook.shape[0]
        return loss, {"rec": reconstruction_loss.item(), "used": used}

    @torch.no_grad()
    def after_step(step):
        flat = latest["z_e"].permute(0, 2, 3, 1).reshape(-1, codebook.shape[1])  # (N, D)
        counts = torch.bincount(latest["ids"].flatten(), minlength=codebook.shape[0]).float()
        usage.mul_(0.99).add_(counts)
        if config.ema_codebook is not None:
            decay = config.ema_codebook
            one_hot = F.one_hot(latest["ids"].flatten(), codebook.shape[0]).float()  # (N, K)
            cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
            cluster_sum.mul_(decay).add_(one_hot.T @ flat, alpha=1 - decay)
            codebook.copy_(cluster_sum / cluster_size.clamp_min(1e-5)[:, None])
        if config.restart_dead_codes and step % 50 == 49:
            dead = (usage < 1e-3 * usage.sum() / codebook.shape[0]).nonzero().flatten()
            if len(dead):
                picks = flat[torch.randint(len(flat), (len(dead),))]
                codebook[dead] = picks
                if config.ema_codebook is not None:
                    cluster_sum[dead], cluster_size[dead] = picks, 1.0
                usage[dead] = usage.sum() / codebook.shape[0]

    running = {"usage": usage}
    if config.ema_codebook is not None:
        running.update(cluster_size=cluster_size, cluster_sum=cluster_sum)
    return train(tokenizer, loss_fn, images, config.optim, progress=progress, description="train vqgan",
                 after_step=after_step, snapshot=snapshot, state=running)
