"""The Halton scheduler (Besnier et al., ICLR 2025; valeoai/Halton-MaskGIT `Sampler/halton_sampler.py`;
unlockmgm_eval.md §2.4): which positions to reveal comes from a 2-D Halton sequence, not from
the model's confidence, so there is no re-masking and no Gumbel noise on confidences.

- order: Halton points in bases 2 (rows) and 3 (columns), 10,000 of them floored to the grid,
  duplicates dropped in first-seen order; `randomize` rolls the order per sample;
- step k of T reveals positions [r_{k-1}, r_k) of the order, r_k = max(k + 1, floor((1 -
  arccos((k+1)/T) / (pi/2)) N)), so the last step reveals the rest;
- tokens there are drawn from softmax(logits * s_k): s_k runs linearly from `softmax_scale_min`
  to `softmax_scale_max` (raised to `scale_power`, halved during `warmup_steps`); the official
  code calls s a temperature but *multiplies* the logits by it;
- classifier-free guidance (1 + w) l_c - w l_u with a constant w, cond and uncond in one batch.
README quick-start: w 2, scale 1 -> 1.2, 32 steps, randomize.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import torch

from reimpl.devices import DeviceCache

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import LogitsFn, TokenProblem, concat_conditions, condition_device, unconditional
from reimpl.samplers.noise import CounterNoise

ORDER_STREAM, TOKEN_STREAM = 2, 0


@dataclasses.dataclass(frozen=True)
class HaltonSamplerConfig:
    steps: int = 32
    softmax_scale_min: float = 1.0
    softmax_scale_max: float = 1.2
    scale_power: float = 1.0
    warmup_steps: int = 0
    guidance_scale: float = 2.0
    randomize: bool = True


def _radical_inverse(base: int, count: int) -> list[float]:
    """The first `count` Halton numbers in `base`: 0, 1/b, 2/b, ..., 1/b^2, ..."""
    values = []
    for index in range(count):
        result, fraction, n = 0.0, 1.0 / base, index
        while n:
            result += (n % base) * fraction
            n //= base
            fraction /= base
        values.append(result)
    return values


@functools.lru_cache(maxsize=8)
def halton_order(side: int, points: int = 10_000) -> torch.Tensor:
    """Flat positions (row * side + col) of a side x side grid in Halton order, (side^2,)."""
    seen: dict[int, None] = {}
    for x, y in zip(_radical_inverse(2, points), _radical_inverse(3, points)):
        seen.setdefault(math.floor(x * side) * side + math.floor(y * side), None)
    order = torch.tensor(list(seen))
    if len(order) != side * side:
        raise ValueError(f"{points} Halton points do not cover a {side}x{side} grid")
    return order


_DEVICE_ORDERS = DeviceCache()


def revealed_after(step: int, steps: int, length: int) -> int:
    ratio = (step + 1) / steps
    return max(step + 1, int((1 - math.acos(ratio) / (math.pi / 2)) * length))


@SAMPLERS.register("halton")
class HaltonSampler:
    Config = HaltonSamplerConfig
    sweep_axes = {"steps": "steps", "guidance": "guidance_scale", "temperature": "softmax_scale_max"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:
        return 2 if config.get("guidance_scale", 2.0) else 1

    def __init__(self, config: HaltonSamplerConfig):
        if config.steps < 1:
            raise ValueError(f"steps={config.steps}: need at least 1")
        self.config = config

    def scale_at(self, step: int) -> float:
        config = self.config
        fraction = step / (config.steps - 1) if config.steps > 1 else 0.0
        scale = (config.softmax_scale_min + fraction * (config.softmax_scale_max - config.softmax_scale_min))
        scale = scale**config.scale_power
        return scale * 0.5 if step < config.warmup_steps else scale

    @torch.no_grad()
    def sample(self, logits_fn: LogitsFn, labels, problem: TokenProblem, noise: CounterNoise,
               record_steps: list | None = None) -> torch.Tensor:
        config = self.config
        batch, length, device = len(noise), problem.num_tokens, condition_device(labels)
        side = math.isqrt(length)
        if side * side != length:
            raise ValueError(f"the Halton scheduler needs a square token grid, got {length} tokens")
        base_order = _DEVICE_ORDERS.get(side, device, lambda: halton_order(side))
        orders = base_order.expand(batch, -1)  # (B, L)
        if config.randomize:  # `torch.roll` of the order by a random shift per sample
            shift = (noise.uniform(0, ORDER_STREAM, (1,)) * length).long().clamp_(max=length - 1)  # (B, 1)
            orders = base_order[(torch.arange(length, device=device) - shift) % length]
        tokens = torch.full((batch, length), problem.mask_token_id, dtype=torch.long, device=device)
        done = 0
        for step in range(config.steps):
            upto = min(revealed_after(step, config.steps, length), length)
            if config.guidance_scale:
                both = logits_fn(torch.cat([tokens, tokens]), concat_conditions(labels, unconditional(labels, problem)))
                cond, uncond = both.float().chunk(2)
                logits = (1 + config.guidance_scale) * cond - config.guidance_scale * uncond
            else:
                logits = logits_fn(tokens, labels).float()
            positions = orders[:, done:upto]  # (B, n)
            if positions.shape[1]:
                chosen = logits.gather(1, positions[..., None].expand(-1, -1, logits.shape[-1])) * self.scale_at(step)
                drawn = noise.categorical_at(chosen.softmax(-1), step, TOKEN_STREAM, positions)
                tokens = tokens.scatter(1, positions, drawn)
            done = upto
            if record_steps is not None:
                record_steps.append(positions.tolist())
        return tokens
