"""MAGE iterative decoding (LTH14/mage `gen_img_uncond.py`, ../shared/spec/mage_emigm.md §1.5).

It is MaskGIT's parallel decoding with MAGE's fixed choices: start fully masked, cosine
schedule, every masked position sampled from the logits at token temperature 1
(`Categorical(logits=...)`), confidence = log p(sampled) + temp * (1 - (t+1)/T) * Gumbel (the
choice temperature annealed linearly to 0), mask_len = floor(N cos(pi/2 (t+1)/T)) clamped to
[1, unknown - 1], known tokens kept, the last step's samples decoded. No guidance: the model is
unconditional. The defaults are the published setting (README: `--temp 6.0 --num_iter 20`);
the script's argparse defaults (4.5, 12) are not what the paper's numbers used.
"""

from __future__ import annotations

import dataclasses

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import LogitsFn, TokenProblem
from reimpl.samplers.noise import CounterNoise
from reimpl.samplers.maskgit import MaskGitSampler, MaskGitSamplerConfig


@dataclasses.dataclass(frozen=True)
class MageSamplerConfig:
    steps: int = 20
    choice_temperature: float = 6.0
    schedule: str = "cosine"


@SAMPLERS.register("mage")
class MageSampler:
    Config = MageSamplerConfig
    sweep_axes = {"steps": "steps", "temperature": "choice_temperature"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:
        return 1

    def __init__(self, config: MageSamplerConfig):
        self.config = config
        # The loop itself is MaskGIT's (same clamp, same confidence, same last step).
        self.decoder = MaskGitSampler(MaskGitSamplerConfig(
            steps=config.steps, schedule=config.schedule, choice_temperature=config.choice_temperature,
            choice_temperature_annealing="linear", token_temperature=1.0, guidance_scale=0.0,
        ))

    @torch.no_grad()
    def sample(
        self, logits_fn: LogitsFn, labels: torch.Tensor, problem: TokenProblem, noise: CounterNoise,
        record_steps: list | None = None,
    ) -> torch.Tensor:
        return self.decoder.sample(logits_fn, labels, problem, noise, record_steps)
