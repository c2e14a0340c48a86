"""eMIGM decoding (ML-GSAI/eMIGM `models/emigm.py sample_tokens`, `models/diffloss.py`;
../shared/spec/mage_emigm.md §2.4).

- time grid t_k = linspace(1, 1e-5, K + 1) (float32); at iteration k (t -> s) every unknown
  token is revealed with probability 1 - gamma(s)/gamma(t) (`mask_schedule`, published: exp,
  gamma(t) = 1 - e^{-5t}); the last iteration reveals everything; random order, no confidence;
- the MAE encoder needs the same number of known tokens in every row, so all samples reveal the
  same count per iteration (officially: the count of sample 0's random draw). Here the count is a
  Binomial(unknown, p) draw (at least 1) from the counter noise of seed `reveal_seed`, shared by
  every image of the run (computed on the host: no device round trip), and each sample picks
  *which* tokens from its own noise -- so image i does not depend on the batch it is drawn in;
- each revealed token is sampled by the diffusion head: DPM-Solver++ 3rd-order singlestep with
  `solver_steps` model calls (published: 8 for 16 iterations, 14 for 64 / 128; `temperature` is
  ignored on this path, as officially), or DDPM over `diffusion_steps` with noise x temperature;
- classifier-free guidance only on iterations whose end time s lies in (cfg_t_min, cfg_t_max]
  (the comparison in float32, as the official tensor-vs-float test), cond and uncond backbone rows
  in one batch, scale `cfg` (1 = none) -- constant as published, or ramped by the revealed fraction.

NFE as the paper counts it (transformer rows per image): K + the number of guided iterations.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.latent import (
    LatentNetwork, LatentProblem, blank_canvas, conditions, ddpm_tokens, dpm_solver_tokens, gather_rows, scatter_rows,
)
from reimpl.samplers.noise import CounterNoise

ORDER_STREAM, REVEAL_STREAM = 2, 5

EPS = 1e-5


def mask_fraction(schedule: str, t: torch.Tensor) -> torch.Tensor:
    """gamma(t), the expected masked fraction at time t (paper Table 4)."""
    if schedule == "exp":
        return 1 - torch.exp(-5 * t)
    if schedule == "cosine":
        return torch.cos(math.pi / 2 * (1 - t))
    if schedule == "linear":
        return t
    if schedule == "poly-0.5":
        return t**0.5
    if schedule == "log":
        return torch.log(1 + (math.exp(5) - 1) * t) / 5
    raise ValueError(f"unknown eMIGM mask schedule {schedule!r}: exp, cosine, linear, poly-0.5 or log")


def time_grid(steps: int) -> torch.Tensor:
    return torch.linspace(1.0, EPS, steps + 1)


def guided_iterations(steps: int, cfg: float, cfg_t_min: float, cfg_t_max: float) -> list[bool]:
    """Which iterations run the unconditional branch: s = t_{k+1} in (cfg_t_min, cfg_t_max]."""
    if cfg == 1.0:
        return [False] * steps
    ends = time_grid(steps)[1:]
    low, high = torch.tensor(cfg_t_min, dtype=ends.dtype), torch.tensor(cfg_t_max, dtype=ends.dtype)
    return [bool(low < s <= high) for s in ends]


def guidance_ramp(schedule: str, revealed: float) -> float:
    """The weight of (cfg - 1) when the schedule is not constant; `revealed` is the known fraction."""
    ramps = {"linear": lambda r: r, "power": lambda r: r**2, "cubic": lambda r: r**3,
             "exp": lambda r: 1 - math.exp(-5 * r), "cosine": lambda r: math.cos(math.pi / 2 * (1 - r))}
    return ramps[schedule](revealed)


@dataclasses.dataclass(frozen=True)
class EmigmSamplerConfig:
    steps: int = 16  # num_iter
    mask_schedule: str = "exp"
    cfg: float = 4.0
    cfg_schedule: Literal["constant", "linear", "power", "cubic", "exp", "cosine"] = "constant"
    cfg_t_min: float = 0.1
    cfg_t_max: float = 0.3
    head_sampler: Literal["dpm-solver", "ddpm"] = "dpm-solver"
    solver_steps: int = 8
    diffusion_steps: int = 100  # the DDPM path only
    temperature: float = 1.0  # the DDPM path only
    clip_x0: float = 0.0  # the DDPM path only; see MarSamplerConfig
    reveal_seed: int = 0


@SAMPLERS.register("emigm")
class EmigmSampler:
    Config = EmigmSamplerConfig
    sweep_axes = {"steps": "steps", "guidance": "cfg", "temperature": "temperature",
                  "cfg-t-min": "cfg_t_min", "cfg-t-max": "cfg_t_max"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:  # the average is not an integer: see network_evaluations
        return 1

    @staticmethod
    def network_evaluations(config: dict) -> int:
        settings = dataclasses.replace(EmigmSamplerConfig(), **{k: v for k, v in config.items()
                                                              if k in EmigmSamplerConfig.__dataclass_fields__})
        guided = guided_iterations(settings.steps, settings.cfg, settings.cfg_t_min, settings.cfg_t_max)
        return settings.steps + sum(guided)

    def __init__(self, config: EmigmSamplerConfig):
        if config.steps < 1 or config.solver_steps < 1 or config.diffusion_steps < 1:
            raise ValueError("steps, solver_steps and diffusion_steps must be >= 1")
        if not 0.0 <= config.cfg_t_min <= config.cfg_t_max <= 1.0:
            raise ValueError(f"CFG interval ({config.cfg_t_min}, {config.cfg_t_max}] must lie in [0, 1], min <= max")
        mask_fraction(config.mask_schedule, torch.tensor(0.5))  # validates the name
        if config.cfg_schedule != "constant":
            guidance_ramp(config.cfg_schedule, 0.5)
        self.config = config

    @torch.no_grad()
    def sample(self, network: LatentNetwork, labels: torch.Tensor, problem: LatentProblem,
               noise: CounterNoise) -> torch.Tensor:
        """-> tokens (B, L, C); which tokens sample i reveals and its noise are functions of its seed."""
        config, length = self.config, problem.num_tokens
        batch, device = len(noise), labels.device
        counts = CounterNoise([config.reveal_seed])  # on the CPU, shared by the whole run
        grid = time_grid(config.steps)
        guided_steps = guided_iterations(config.steps, config.cfg, config.cfg_t_min, config.cfg_t_max)
        tokens, mask = blank_canvas(batch, problem, device)
        unknown = length  # the same in every row
        for step in range(config.steps):
            if unknown == 0:
                break
            if step == config.steps - 1:
                count = unknown
            else:
                t, s = grid[step], grid[step + 1]
                p_reveal = 1 - mask_fraction(config.mask_schedule, s) / mask_fraction(config.mask_schedule, t)
                count = max(1, int((counts.uniform(step, REVEAL_STREAM, (unknown,))[0] < p_reveal).sum()))
            guided = guided_steps[step]
            z = conditions(network, tokens, mask, labels, problem.null_label, guided)
            scores = noise.uniform(step, ORDER_STREAM, (length,)).masked_fill(~mask, 2.0)  # known: never picked
            positions = scores.argsort(dim=1)[:, :count]  # (B, count)
            next_mask = mask.scatter(1, positions, False)
            unknown -= count
            scale = 1.0
            if guided:
                revealed = (length - unknown) / length
                scale = config.cfg if config.cfg_schedule == "constant" else (
                    1 + (config.cfg - 1) * guidance_ramp(config.cfg_schedule, revealed))
            z_cond = gather_rows(z[:batch], positions)
            z_uncond = gather_rows(z[batch:], positions) if guided else None
            if config.head_sampler == "dpm-solver":
                sampled = dpm_solver_tokens(network.head, z_cond, z_uncond, scale, config.solver_steps, noise, step,
                                            positions, length)
            else:
                sampled = ddpm_tokens(network.head, z_cond, z_uncond, scale, config.diffusion_steps,
                                      config.temperature, noise, step, positions, length, config.clip_x0)
            tokens = scatter_rows(tokens, positions, sampled)
            mask = next_mask
        return tokens
