"""aMUSEd decoding, step for step as diffusers' `AmusedScheduler.step` and `AmusedPipeline`
run it (diffusers 0.42.1, `schedulers/scheduling_amused.py` and
`pipelines/deprecated/amused/pipeline_amused.py`).

It differs from MaskGIT's `decode` in four places, all kept here on purpose:
- every position is drawn by `torch.multinomial(softmax(logits))` (known ones are drawn and
  then discarded, which matters for the random stream);
- the re-masking noise is `temperatures[t] * Gumbel` with `temperatures = linspace(t0, t1, T)`
  (a single number x means `linspace(x, 0.01, T)` there: pass temperature_end=0.01);
- guidance is `uncond + g (cond - uncond)`, only when g > 1 (g = 1 is the plain conditional);
- the schedule runs in float32 torch, mask_len = floor(L * cos(pi/2 (t+1)/T)).

Randomness: each step draws one id per position, then one Gumbel uniform per position. With the
suite's counter noise image i depends on its own seed only; a `GeneratorNoise` over one torch
generator draws the multinomials of all rows and then the uniforms of all rows, as the
pipeline does, and reproduces its images exactly (`tests/reference/test_amused_parity.py`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import LogitsFn, TokenProblem, concat_conditions, condition_device, unconditional
from reimpl.samplers.noise import CounterNoise

TOKEN_STREAM, CHOICE_STREAM = 0, 1


@dataclasses.dataclass(frozen=True)
class AmusedSamplerConfig:
    steps: int = 12
    schedule: Literal["cosine", "linear"] = "cosine"
    temperature: float = 2.0  # re-masking noise at the first step
    temperature_end: float = 0.0  # ... and at the last (linspace between them)
    guidance_scale: float = 10.0
    starting_mask_ratio: float = 1.0


@SAMPLERS.register("amused")
class AmusedSampler:
    Config = AmusedSamplerConfig
    sweep_axes = {"steps": "steps", "temperature": "temperature", "guidance": "guidance_scale"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:
        return 2 if config.get("guidance_scale", 10.0) > 1 else 1  # the pipeline guides only above 1

    def __init__(self, config: AmusedSamplerConfig):
        if config.steps < 1:
            raise ValueError(f"steps={config.steps}: need at least 1")
        if config.schedule not in ("cosine", "linear"):
            raise ValueError(f"unknown masking schedule {config.schedule!r}; AmusedScheduler knows cosine and linear")
        self.config = config

    def _logits(self, logits_fn: LogitsFn, tokens, conditions, problem: TokenProblem) -> torch.Tensor:
        scale = self.config.guidance_scale
        if scale <= 1.0:
            return logits_fn(tokens, conditions)
        both = logits_fn(torch.cat([tokens, tokens]), concat_conditions(unconditional(conditions, problem), conditions))
        uncond, cond = both.chunk(2)  # the pipeline puts the negative prompt first
        return uncond + scale * (cond - uncond)

    def _mask_len(self, step: int, length: int, unknown: torch.Tensor) -> torch.Tensor:
        ratio = torch.tensor(step + 1) / self.config.steps  # float32, as `(step_idx + 1) / len(timesteps)`
        if self.config.schedule == "cosine":
            mask_ratio = torch.cos(ratio * math.pi / 2)
        else:
            mask_ratio = 1 - ratio
        mask_len = int((length * (self.config.starting_mask_ratio * mask_ratio)).floor())  # host scalar
        return (unknown.sum(-1, keepdim=True) - 1).clamp(max=mask_len).clamp(min=1)  # (B, 1)

    @torch.no_grad()
    def sample(
        self, logits_fn: LogitsFn, conditions, problem: TokenProblem, noise: CounterNoise,
        record_steps: list | None = None,
    ) -> torch.Tensor:
        config = self.config
        batch, length, device = len(noise), problem.num_tokens, condition_device(conditions)
        tokens = torch.full((batch, length), problem.mask_token_id, dtype=torch.long, device=device)
        temperatures = torch.linspace(config.temperature, config.temperature_end, config.steps).tolist()
        for step in range(config.steps):
            unknown = tokens == problem.mask_token_id  # (B, L): True = masked
            probs = self._logits(logits_fn, tokens, conditions, problem).softmax(-1).float()  # (B, L, K)
            sampled = torch.where(unknown, noise.categorical(probs, step, TOKEN_STREAM), tokens)
            if step == config.steps - 1:
                tokens = sampled
                break
            mask_len = self._mask_len(step, length, unknown)
            chosen = probs.gather(-1, sampled[..., None])[..., 0]  # (B, L)
            chosen = torch.where(unknown, chosen, torch.finfo(chosen.dtype).max)
            gumbel = noise.gumbel(step, CHOICE_STREAM, (length,))
            confidence = torch.log(chosen.clamp(1e-20)) + temperatures[step] * gumbel
            cut_off = confidence.sort(-1).values.gather(1, mask_len.long())  # (B, 1)
            tokens = torch.where(confidence < cut_off, problem.mask_token_id, sampled)
            if record_steps is not None:
                record_steps.append(tokens.clone())
        if record_steps is not None:
            record_steps.append(tokens.clone())
        return tokens
