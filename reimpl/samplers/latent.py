"""What the continuous-token samplers (`mar`, `emigm`) share: the contract with the network, the
head's per-token counter noise, gathering and scattering the revealed rows, and drawing the predicted tokens from the diffusion head with classifier-free
guidance on its noise prediction (MAR `SimpleMLPAdaLN.forward_with_cfg`, eMIGM's DPM-Solver
`model_wrapper`): eps = eps_u + w (eps_c - eps_u), the variance channel from the conditional half,
and one batched call for both halves.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Protocol

import torch

from reimpl.diffusion.dpm_solver import DiscreteVPSchedule, DpmSolverPlusPlus
from reimpl.diffusion.gaussian import GaussianDiffusion, cosine_betas, spaced_steps
from reimpl.samplers.noise import CounterNoise


@dataclasses.dataclass(frozen=True)
class LatentProblem:
    num_tokens: int  # L
    token_dim: int  # C
    null_label: int  # the label whose embedding is fake_latent


class LatentNetwork(Protocol):
    """The backbone + head a latent sampler drives (reimpl/networks/mar.py MarNetwork)."""

    def class_embedding(self, labels: torch.Tensor) -> torch.Tensor: ...

    def __call__(self, tokens: torch.Tensor, mask: torch.Tensor, class_embedding: torch.Tensor) -> torch.Tensor: ...

    @property
    def head(self) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]: ...


def blank_canvas(batch: int, problem: LatentProblem, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Where both samplers start: all-zero tokens (B, L, C), every position masked (B, L)."""
    tokens = torch.zeros(batch, problem.num_tokens, problem.token_dim, device=device)
    return tokens, torch.ones(batch, problem.num_tokens, dtype=torch.bool, device=device)


DIFFUSION_STREAM = 4  # the head's noise: block d of iteration k is x_T (d = 0) or step d's fresh draw


def head_noise(noise: CounterNoise, iteration: int, positions: torch.Tensor, length: int, dim: int,
               blocks: int) -> torch.Tensor:
    """(blocks, B * n, C) normals for the tokens at `positions` (B, n) of decoding iteration
    `iteration`: a function of (seed, iteration, block, position) only, so a token's noise does not
    depend on which other tokens or samples are drawn with it. One cipher call for all blocks."""
    rows = torch.arange(blocks, device=positions.device)[None, :, None] * length + positions[:, None, :]  # (B, d, n)
    normals = noise.normal_block(iteration, DIFFUSION_STREAM, rows, dim)  # (B, d, n, C)
    return normals.transpose(0, 1).reshape(blocks, -1, dim)


def gather_rows(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """values (B, L, D), positions (B, n) -> (B * n, D), sample-major."""
    return values.gather(1, positions[..., None].expand(-1, -1, values.shape[-1])).flatten(0, 1)


def scatter_rows(tokens: torch.Tensor, positions: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Write rows (B * n, C) into tokens (B, L, C) at positions (B, n)."""
    batch, count = positions.shape
    index = positions[..., None].expand(-1, -1, tokens.shape[-1])
    return tokens.scatter(1, index, rows.view(batch, count, -1).to(tokens.dtype))


def conditions(network: LatentNetwork, tokens: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
               null_label: int, guided: bool) -> torch.Tensor:
    """z (B, L, D), or (2B, L, D) = [conditional; unconditional] in one forward when guided."""
    if guided:
        tokens, mask = torch.cat([tokens, tokens]), torch.cat([mask, mask])
        labels = torch.cat([labels, torch.full_like(labels, null_label)])
    return network(tokens, mask, network.class_embedding(labels))


def guided_denoiser(head, z_cond: torch.Tensor, z_uncond: torch.Tensor | None, scale: float):
    """(x_t, t) -> [eps, v] (N, 2C) of the head, guided when an unconditional half is given."""
    if z_uncond is None:
        return lambda x, t: head(x, t, z_cond)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        cond, uncond = head(torch.cat([x, x]), torch.cat([t, t]), torch.cat([z_cond, z_uncond])).chunk(2)
        channels = x.shape[1]
        eps = uncond[:, :channels] + scale * (cond[:, :channels] - uncond[:, :channels])
        return torch.cat([eps, cond[:, channels:]], dim=-1)

    return denoise


@functools.lru_cache(maxsize=8)
def respaced_diffusion(steps: int, training_steps: int = 1000) -> GaussianDiffusion:
    """`create_diffusion(timestep_respacing=str(steps), noise_schedule="cosine")`."""
    return GaussianDiffusion(cosine_betas(training_steps), spaced_steps(training_steps, steps))


@functools.lru_cache(maxsize=2)
def solver_schedule(training_steps: int = 1000) -> DiscreteVPSchedule:
    return DiscreteVPSchedule(cosine_betas(training_steps))


def ddpm_tokens(head, z_cond: torch.Tensor, z_uncond: torch.Tensor | None, scale: float, steps: int,
                temperature: float, noise: CounterNoise, iteration: int, positions: torch.Tensor, length: int,
                clip_x0: float | None = None) -> torch.Tensor:
    """MAR's `DiffLoss.sample` (DDPM over `steps` respaced steps, noise x temperature): one token
    per row of z_cond (B * n, D), the rows of the tokens at positions (B, n)."""
    draws = iter(head_noise(noise, iteration, positions, length, head.token_dim, steps + 1))
    return respaced_diffusion(steps).sample(
        guided_denoiser(head, z_cond, z_uncond, scale), next(draws), draws.__next__, temperature, clip_x0)


def dpm_solver_tokens(head, z_cond: torch.Tensor, z_uncond: torch.Tensor | None, scale: float, steps: int,
                      noise: CounterNoise, iteration: int, positions: torch.Tensor, length: int) -> torch.Tensor:
    """eMIGM's DPM-Solver++ path (3rd-order singlestep, logSNR steps); no temperature."""
    denoise = guided_denoiser(head, z_cond, z_uncond, scale)
    dim = head.token_dim
    solver = DpmSolverPlusPlus(lambda x, t: denoise(x, t)[:, :dim], solver_schedule())
    return solver.sample(head_noise(noise, iteration, positions, length, dim, 1)[0], steps, order=3)
