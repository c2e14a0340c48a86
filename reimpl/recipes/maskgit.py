"""Stage-2 masked-token training (MaskGIT paper §3.2 and `configs/maskgit_class_cond_config.py`).

For each sequence: r ~ U[0, 1), mask ceil(gamma(r) * L) positions chosen uniformly, predict
them from the rest; cross-entropy with label smoothing 0.1 on masked positions only
(`compute_loss_for_all = False`). Official optimiser: Adam(0.9, 0.96), lr 1e-4, weight decay
4.5e-2, 5000 warm-up steps, batch 256. `class_dropout` replaces labels by the null class for
classifier-free guidance; it is 0 in the official recipe (which has no null class).
The official config's `min_masking_rate = 0.5` has unverified semantics and is not applied.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import torch
import torch.nn.functional as F

from reimpl.networks.maskgit import MaskGitNetwork
from reimpl.recipes.loop import OptimConfig, WeightAverage, train
from reimpl.recipes.snapshot import Snapshot
from reimpl.samplers.schedules import mask_ratio


@dataclasses.dataclass(frozen=True)
class MaskGitTrainConfig:
    optim: OptimConfig = OptimConfig(
        steps=2_000_000, batch_size=256, learning_rate=1e-4, betas=(0.9, 0.96), weight_decay=4.5e-2, warmup_steps=5000
    )
    schedule: str = "cosine"
    label_smoothing: float = 0.1
    class_dropout: float = 0.0
    # > 0: the saved weights are an EMA of the trained ones (not in the official recipe)
    ema_decay: float = 0.0


def random_masks(batch: int, length: int, schedule: str, generator: torch.Generator) -> torch.Tensor:
    """(B, L) bool, True = masked: ceil(gamma(r) L) uniformly chosen positions per row, r ~ U[0, 1)."""
    ratios = torch.rand(batch, generator=generator)
    counts = torch.tensor([max(1, math.ceil(mask_ratio(schedule, float(r), length) * length)) for r in ratios])
    order = torch.rand(batch, length, generator=generator).argsort(dim=-1).argsort(dim=-1)  # random ranks
    return order < counts[:, None]


def train_maskgit(
    network: MaskGitNetwork, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], config: MaskGitTrainConfig,
    progress: bool = True,
    snapshot: Snapshot | None = None,
) -> dict[str, float]:
    """batches yields (token ids (B, L), labels (B,))."""
    generator = torch.Generator().manual_seed(config.optim.seed)
    null_label = network.config.null_class_id
    if config.class_dropout and null_label is None:
        raise ValueError("class_dropout needs a network built with null_class=True")

    def loss_fn(model, batch, step):
        ids, labels = batch
        masked = random_masks(ids.shape[0], ids.shape[1], config.schedule, generator)
        inputs = torch.where(masked, network.mask_token_id, ids)
        if config.class_dropout:
            drop = torch.rand(labels.shape, generator=generator) < config.class_dropout
            labels = torch.where(drop, null_label, labels)
        logits = model(inputs, labels)  # (B, L, codebook)
        loss = F.cross_entropy(logits[masked], ids[masked], label_smoothing=config.label_smoothing)
        accuracy = (logits[masked].argmax(-1) == ids[masked]).float().mean()
        return loss, {"loss": loss.item(), "acc": accuracy.item()}

    ema = WeightAverage(network, config.ema_decay) if config.ema_decay else None
    logged = train(network, loss_fn, batches, config.optim, progress=progress, description="train maskgit",
                   after_step=ema.update if ema else None, snapshot=snapshot,
                   state={"generator": generator, **({"ema": ema} if ema else {})})
    if ema:
        ema.copy_to(network)
    return logged
