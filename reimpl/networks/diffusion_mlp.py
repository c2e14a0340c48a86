"""The per-token diffusion head of MAR and eMIGM: `SimpleMLPAdaLN` (LTH14/mar `models/diffloss.py`,
ML-GSAI/eMIGM `models/diffloss.py`; ../shared/spec/mage_emigm.md §2.3).

It denoises one continuous token x_t (token_dim channels) given the transformer's feature z at
that position and the diffusion step t:
- y = TimestepEmbedder(t) + Linear(z)  (DiT's 256-frequency sinusoid -> Linear -> SiLU -> Linear);
- h = Linear(x_t), then `depth` residual blocks h += gate * MLP(modulate(LN(h), shift, scale)),
  with (shift, scale, gate) = Linear(SiLU(y));
- final AdaLN layer (LayerNorm without affine, modulated) -> Linear to 2 x token_dim: the noise
  prediction eps and the learned-range variance interpolation v (`learn_sigma`).
Initialisation as the official: xavier-uniform Linear weights, normal(0.02) timestep MLP, every
adaLN modulation and the output layer zero, so an untrained head predicts eps = 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """GLIDE / DiT sinusoidal embedding of (possibly fractional) steps: [cos(t f), sin(t f)]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1) if dim % 2 else embedding


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
    def __init__(self, width: int, frequencies: int = 256):
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(nn.Linear(frequencies, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.frequencies))


class ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.in_ln = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))  # noqa: N815 -- official key

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.adaLN_modulation(y).chunk(3, dim=-1)
        return x + gate * self.mlp(modulate(self.in_ln(x), shift, scale))


class FinalLayer(nn.Module):
    def __init__(self, width: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(width, out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))  # noqa: N815 -- official key

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(y).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class SimpleMLPAdaLN(nn.Module):
    """(x_t (N, C), t (N,), z (N, Dz)) -> (N, 2C): [eps, variance interpolation]."""

    def __init__(self, token_dim: int, width: int, depth: int, condition_dim: int):
        super().__init__()
        self.token_dim = token_dim
        self.time_embed = TimestepEmbedder(width)
        self.cond_embed = nn.Linear(condition_dim, width)
        self.input_proj = nn.Linear(token_dim, width)
        self.res_blocks = nn.ModuleList(ResBlock(width) for _ in range(depth))
        self.final_layer = FinalLayer(width, 2 * token_dim)
        self._initialise()

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.time_embed.mlp[0].weight, std=0.02)
        nn.init.normal_(self.time_embed.mlp[2].weight, std=0.02)
        zeroed = [block.adaLN_modulation[-1] for block in self.res_blocks]
        zeroed += [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = self.time_embed(t) + self.cond_embed(z)
        h = self.input_proj(x)
        for block in self.res_blocks:
            h = block(h, y)
        return self.final_layer(h, y)

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Only the eps half (what DPM-Solver consumes: `forward_with_dpmsolver`)."""
        return self.forward(x, t, z)[:, : self.token_dim]


class DiffusionHead(nn.Module):
    """Holds the MLP as `net` so checkpoint keys read `diffloss.net.*` as in the official module."""

    def __init__(self, token_dim: int, width: int, depth: int, condition_dim: int):
        super().__init__()
        self.net = SimpleMLPAdaLN(token_dim, width, depth, condition_dim)
