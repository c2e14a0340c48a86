"""MAR decoding (LTH14/mar `models/mar.py sample_tokens`; ../shared/spec/mage_emigm.md §3.3).

- a random generation order per sample, fixed for the whole run;
- `steps` iterations; after iteration k the first mask_len = floor(L cos(pi/2 (k+1)/K)) positions
  of each order stay unknown, clamped to [1, unknown - 1]; the last iteration predicts the rest;
- every position revealed at an iteration is sampled from the diffusion head given the backbone's
  z there: DDPM over `diffusion_steps` respaced steps, noise scaled by `temperature`;
- classifier-free guidance (`cfg` != 1, MAR's convention: 1 is none) on the head's noise
  prediction at every iteration, cond and uncond backbone rows in one batch; the "linear"
  schedule (after Muse) ramps it as 1 + (cfg - 1)(L - mask_len)/L.
Published evaluation (README): 256 iterations, DDPM 100, temperature 1.0, cfg 2.9 / 3.0 / 3.2
(B / L / H) linear; without CFG, temperature 0.95. The argparse default is 64 iterations.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.latent import (LatentNetwork, LatentProblem, blank_canvas, conditions, ddpm_tokens, gather_rows,
                                   scatter_rows)
from reimpl.samplers.noise import CounterNoise

ORDER_STREAM = 2


@dataclasses.dataclass(frozen=True)
class MarSamplerConfig:
    steps: int = 64  # num_iter
    cfg: float = 1.0
    cfg_schedule: Literal["linear", "constant"] = "linear"
    temperature: float = 1.0
    diffusion_steps: int = 100
    # Off (0) as officially (`clip_denoised=False`). The first respaced step is t = 999, where
    # x0 = (x - sqrt(1 - a) eps) / sqrt(a) amplifies any eps error 20,000-fold; an undertrained
    # model (the toy) needs the implied x0 clamped to a latent range.
    clip_x0: float = 0.0


@SAMPLERS.register("mar")
class MarSampler:
    Config = MarSamplerConfig
    sweep_axes = {"steps": "steps", "guidance": "cfg", "temperature": "temperature"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:
        return 1 if config.get("cfg", 1.0) == 1.0 else 2

    def __init__(self, config: MarSamplerConfig):
        if config.steps < 1 or config.diffusion_steps < 1:
            raise ValueError("steps and diffusion_steps must be >= 1")
        if config.cfg_schedule not in ("linear", "constant"):
            raise ValueError(f"cfg_schedule={config.cfg_schedule!r}: MAR supports 'linear' or 'constant'")
        self.config = config

    @torch.no_grad()
    def sample(self, network: LatentNetwork, labels: torch.Tensor, problem: LatentProblem,
               noise: CounterNoise) -> torch.Tensor:
        """-> tokens (B, L, C); sample i's order and noise are functions of its seed only."""
        config, length = self.config, problem.num_tokens
        batch, device = len(noise), labels.device
        orders = noise.permutation(0, ORDER_STREAM, length)  # (B, L): position of each rank
        rank = torch.empty_like(orders).scatter_(1, orders, torch.arange(length, device=device).expand(batch, -1))
        tokens, mask = blank_canvas(batch, problem, device)
        guided = config.cfg != 1.0
        unknown = length  # the same in every row: ranks [0, unknown) of each order are still masked
        for step in range(config.steps):
            z = conditions(network, tokens, mask, labels, problem.null_label, guided)
            mask_len = max(1, min(unknown - 1, math.floor(length * math.cos(math.pi / 2 * (step + 1) / config.steps))))
            last = step == config.steps - 1
            scale = config.cfg if config.cfg_schedule == "constant" else 1 + (config.cfg - 1) * (length - mask_len) / length
            positions = orders[:, 0 if last else mask_len:unknown]  # (B, n): the ranks revealed now
            if positions.shape[1]:  # more steps than tokens leaves some steps with nothing to reveal
                z_uncond = gather_rows(z[batch:], positions) if guided else None
                sampled = ddpm_tokens(network.head, gather_rows(z[:batch], positions), z_uncond, scale,
                                      config.diffusion_steps, config.temperature, noise, step, positions, length,
                                      config.clip_x0)
                tokens = scatter_rows(tokens, positions, sampled)
            unknown = 0 if last else min(unknown, mask_len)
            mask = rank < unknown
        return tokens
