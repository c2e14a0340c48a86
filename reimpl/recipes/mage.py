"""MAGE pre-training (LTH14/mage `models_mage.py forward_encoder/forward_loss`, `main_pretrain.py`;
../shared/spec/mage_emigm.md §1.3, §1.4, §1.9).

Per step, one mask ratio r for the whole batch from a Gaussian of mode 0.55 and std 0.25
truncated to [0.5, 1.0] (`mask_ratio_generator.rvs(1)`); per row, a random ordering of the L
positions masks the first ceil(L r) and drops the first ceil(L drop_ratio) of them from the
encoder (the dropped set is inside the masked set). Loss: cross-entropy with label smoothing 0.1
over the codebook logits, averaged over masked positions. Published optimiser: AdamW (0.9, 0.95),
weight decay 0.05 without decay on norms and biases, lr 1.5e-4 x batch / 256, 40 warm-up epochs
then half-cycle cosine to 0, gradient clip 3.0, batch 4096, 1600 epochs, no EMA.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import torch
import torch.nn.functional as F

from reimpl.networks.mage import MageNetwork
from reimpl.recipes.loop import OptimConfig, train
from reimpl.recipes.snapshot import Snapshot


@dataclasses.dataclass(frozen=True)
class MageTrainConfig:
    optim: OptimConfig = OptimConfig(
        steps=500_000, batch_size=4096, learning_rate=2.4e-3, betas=(0.9, 0.95), weight_decay=0.05,
        warmup_steps=12_500, grad_clip=3.0, no_decay_on_1d=True,
    )  # 1600 epochs of 1.28M images at batch 4096 is ~500k steps; 40 warm-up epochs ~12.5k
    mask_ratio_mode: float = 0.55
    mask_ratio_std: float = 0.25
    mask_ratio_min: float = 0.5
    mask_ratio_max: float = 1.0
    label_smoothing: float = 0.1


def truncated_normal_ratio(config: MageTrainConfig, generator: torch.Generator) -> float:
    """One draw of scipy's truncnorm((min-mode)/std, (max-mode)/std, loc=mode, scale=std), by
    inverting the normal CDF on the truncated interval."""
    normal = torch.distributions.Normal(0.0, 1.0)
    low = normal.cdf(torch.tensor((config.mask_ratio_min - config.mask_ratio_mode) / config.mask_ratio_std))
    high = normal.cdf(torch.tensor((config.mask_ratio_max - config.mask_ratio_mode) / config.mask_ratio_std))
    u = low + (high - low) * torch.rand((), generator=generator, dtype=torch.float64).float()
    return float(config.mask_ratio_mode + config.mask_ratio_std * normal.icdf(u))


def mask_and_drop(batch: int, length: int, ratio: float, drop_ratio: float,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked, dropped), each (B, L) bool: the first ceil(L ratio) and ceil(L drop_ratio)
    positions of one random ordering per row (so dropped is a subset of masked)."""
    num_masked = math.ceil(length * ratio)
    num_dropped = math.ceil(length * drop_ratio)
    rank = torch.rand(batch, length, generator=generator).argsort(dim=-1).argsort(dim=-1)
    return rank < num_masked, rank < num_dropped


def train_mage(network: MageNetwork, batches: Iterator[torch.Tensor], config: MageTrainConfig,
               progress: bool = True, snapshot: Snapshot | None = None) -> dict[str, float]:
    """batches yields token ids (B, L) of the frozen tokenizer."""
    generator = torch.Generator().manual_seed(config.optim.seed)
    if config.mask_ratio_min < network.config.drop_ratio:
        raise ValueError("the mask ratio must never fall below the drop ratio (dropped positions are masked ones)")

    def loss_fn(model, ids, step):
        ratio = truncated_normal_ratio(config, generator)
        masked, dropped = mask_and_drop(ids.shape[0], ids.shape[1], ratio, network.config.drop_ratio, generator)
        sequence = network.with_class_token(torch.where(masked, network.mask_token_id, ids))  # (B, 1+L)
        no = torch.zeros(ids.shape[0], 1, dtype=torch.bool)
        masked_seq, dropped_seq = torch.cat([no, masked], 1), torch.cat([no, dropped], 1)
        logits = model(sequence, masked_seq, dropped_seq)[:, 1:]  # (B, L, codebook)
        loss = F.cross_entropy(logits[masked], ids[masked], label_smoothing=config.label_smoothing)
        accuracy = (logits[masked].argmax(-1) == ids[masked]).float().mean()
        return loss, {"loss": loss.item(), "acc": accuracy.item(), "ratio": ratio}

    return train(_TrainingForward(network), loss_fn, batches, config.optim, progress=progress,
                 description="train mage", snapshot=snapshot, state={"generator": generator})


class _TrainingForward(torch.nn.Module):
    """The training pass as one module call (so the loop can compile it): encoder over the kept
    positions, decoder over all of them; logits restricted to the codebook."""

    def __init__(self, network: MageNetwork):
        super().__init__()
        self.network = network

    def forward(self, sequence: torch.Tensor, masked: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
        encoded = self.network.encode(sequence, dropped)
        return self.network.decode(encoded, masked, dropped, rows=self.network.config.codebook_size)
