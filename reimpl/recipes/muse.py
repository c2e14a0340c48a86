"""MUSE training as muse-maskgit-pytorch's `MaskGit.forward` does it, for every stage of a
cascade at once (the toy text encoder is trained with them; a pretrained T5 stays frozen).

Per sequence: t ~ U(0, 1), mask round(cos(pi t / 2) L) positions (at least one), chosen
uniformly; cross-entropy on masked positions only, no label smoothing. The prompt is
dropped (all text masked) with probability `cond_drop_prob` for classifier-free guidance
(lucidrains' default 0.5, its README 0.25). With self-conditioning, `self_cond_prob` of the
steps first run a no-grad pass and feed its embedding back. A Token-Critic learns, by binary
cross-entropy, which positions of (masked positions re-sampled from the generator's
detached logits at a temperature ~ U(0, 1)) differ from the truth, weighted `critic_loss_weight`.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Iterator

import torch
import torch.nn.functional as F

from reimpl.models.muse import MuseCascade, MuseStage
from reimpl.recipes.loop import OptimConfig, train
from reimpl.recipes.snapshot import Snapshot


@dataclasses.dataclass(frozen=True)
class MuseTrainConfig:
    optim: OptimConfig = OptimConfig(steps=100_000, batch_size=64, learning_rate=1e-4, betas=(0.9, 0.99))
    cond_drop_prob: float = 0.25
    self_cond_prob: float = 0.9
    critic_loss_weight: float = 1.0


def cosine_masks(batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """(B, L) bool, True = masked: round(cos(pi t / 2) L).clamp(1) random positions, t ~ U(0, 1)."""
    times = torch.rand(batch, generator=generator)
    counts = (length * torch.cos(times * torch.pi / 2)).round().clamp(min=1)
    ranks = torch.rand(batch, length, generator=generator).argsort(dim=-1)
    return ranks < counts[:, None]


def stage_loss(stage: MuseStage, ids: torch.Tensor, conditions: dict, config: MuseTrainConfig,
               generator: torch.Generator, rng: random.Random) -> tuple[torch.Tensor, dict[str, float]]:
    """ids (B, L) target tokens; conditions as MuseStage takes them."""
    masked = cosine_masks(*ids.shape, generator).to(ids.device)
    inputs = torch.where(masked, stage.network.mask_token_id, ids)
    if config.cond_drop_prob:
        keep = torch.rand(len(ids), 1, generator=generator).to(ids.device) >= config.cond_drop_prob
        conditions = {**conditions, "valid": conditions["valid"] & keep}
    self_cond = None
    if stage.self_conditioning and rng.random() < config.self_cond_prob:
        with torch.no_grad():
            _, self_cond = stage(inputs, {**conditions, "states": conditions["states"].detach()}, return_embed=True)
    logits = stage(inputs, conditions, self_cond=self_cond)  # (B, L, codebook)
    loss = F.cross_entropy(logits[masked], ids[masked])
    logged = {"loss": loss.item(), "acc": (logits[masked].argmax(-1) == ids[masked]).float().mean().item()}
    if stage.critic is None:
        return loss, logged
    with torch.no_grad():
        temperature = max(rng.random(), 1e-10)
        gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator).clamp(1e-20, 1 - 1e-7)))
        sampled = (logits.detach() / temperature + gumbel.to(logits.device)).argmax(-1)
        critic_input = torch.where(masked, sampled, inputs)
        wrong = (critic_input != ids).float()
    critic_logits = stage.critic(critic_input, conditions)[..., 0]  # (B, L)
    critic_loss = F.binary_cross_entropy_with_logits(critic_logits, wrong)
    logged["critic"] = critic_loss.item()
    return loss + config.critic_loss_weight * critic_loss, logged


def train_muse(cascade: MuseCascade, batches: Iterator[dict], config: MuseTrainConfig,
               progress: bool = True, snapshot: Snapshot | None = None) -> dict[str, float]:
    """batches yield {"texts": [B str], "base": (B, Lb) ids, "superres": (B, Ls) ids, "lowres": (B, Lc) ids}."""
    generator = torch.Generator().manual_seed(config.optim.seed)
    rng = random.Random(config.optim.seed)

    def loss_fn(model, batch, step):
        conditions = model.encode_text(batch["texts"])
        loss, logged = stage_loss(model.base, batch["base"], conditions, config, generator, rng)
        if model.superres is not None:
            sr_loss, sr_logged = stage_loss(model.superres, batch["superres"], {**conditions, "lowres": batch["lowres"]},
                                            config, generator, rng)
            loss = loss + sr_loss
            logged = {**logged, **{f"sr_{k}": v for k, v in sr_logged.items()}}
        return loss, logged

    return train(cascade, loss_fn, batches, config.optim, progress=progress, description="train muse",
                 snapshot=snapshot, state={"generator": generator, "rng": rng})
