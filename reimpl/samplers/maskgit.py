"""MaskGIT parallel decoding (google-research/maskgit `libml/parallel_decode.py`), with
classifier-free guidance added in one batched forward.

Per step t of T (see ../shared/spec/maskgit.md §3.1):
1. logits for every position; with guidance, cond and uncond rows in one batch, combined as
   cond + w_t (cond - uncond) (a scale of 0 means no guidance and no extra rows);
2. sample every position from softmax(logits / token_temperature); known positions keep their ids;
3. confidence = log p(sampled) + choice_temperature_t * Gumbel, where already-known positions
   have log-confidence `known_confidence`: +inf as MaskGIT (never re-masked), or the official
   UnlockMGM / open-muse value log(float32 max) = 88.72, which the Gumbel term can undercut;
4. keep masked the mask_len = clamp(floor(N0 gamma((t+1)/T)), 1, unknown - 1) least
   confident positions (`mask_by_random_topk`);
5. the output is the last step's sampled ids, so every position is filled.

Vectorised over the batch: every position of every sample is drawn each step (inverse CDF on one
uniform per position, the same distribution as the official Gumbel-max), and the noise at
position l of step t is a function of the sample's seed alone (`reimpl/samplers/noise.py`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import LogitsFn, TokenProblem, concat_conditions, condition_device, unconditional
from reimpl.samplers.noise import CounterNoise
from reimpl.samplers.schedules import ScheduleDtype, check_schedule, choice_temperature, guidance_scale, masked_after_step

TOKEN_STREAM, CHOICE_STREAM = 0, 1
# log(torch.finfo(torch.float32).max) in float32: the official PyTorch ports overwrite the
# probability of known tokens with finfo.max before `log(probs) + temperature * gumbel`.
FINFO_MAX_LOG_CONFIDENCE = float(torch.tensor(torch.finfo(torch.float32).max).log())


@dataclasses.dataclass(frozen=True)
class MaskGitSamplerConfig:
    steps: int = 8
    schedule: str = "cosine"
    choice_temperature: float = 4.5
    choice_temperature_annealing: Literal["linear", "constant", "compounding"] = "linear"
    token_temperature: float = 1.0
    guidance_scale: float = 0.0
    guidance_schedule: Literal["constant", "linear", "power-cosine"] = "constant"
    guidance_power: float = 2.0
    schedule_dtype: ScheduleDtype = "float64"
    # "inf": known tokens are never re-masked (MaskGIT JAX); "finfo-max": the official PyTorch
    # UnlockMGM / open-muse value, which lets strong Gumbel noise re-mask a known token.
    known_confidence: Literal["inf", "finfo-max"] = "inf"


def known_log_confidence(name: str) -> float:
    if name == "inf":
        return math.inf
    if name == "finfo-max":
        return FINFO_MAX_LOG_CONFIDENCE
    raise ValueError(f"known_confidence={name!r}: choose 'inf' or 'finfo-max'")


@SAMPLERS.register("maskgit")
class MaskGitSampler:
    Config = MaskGitSamplerConfig
    # Short names a benchmark sweep may use for this sampler's knobs (`sweep.steps=[4,8]`).
    sweep_axes = {"steps": "steps", "temperature": "choice_temperature", "guidance": "guidance_scale"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:
        return 2 if config.get("guidance_scale") else 1

    def __init__(self, config: MaskGitSamplerConfig):
        if config.steps < 1:
            raise ValueError(f"steps={config.steps}: need at least 1")
        if config.choice_temperature < 0 or config.token_temperature < 0:
            raise ValueError("temperatures must be >= 0")
        check_schedule(config.schedule)
        known_log_confidence(config.known_confidence)
        self.config = config

    def guided_logits(self, logits_fn: LogitsFn, tokens, labels, problem: TokenProblem, step: int) -> torch.Tensor:
        config = self.config
        weight = guidance_scale(config.guidance_scale, step, config.steps, config.guidance_schedule, config.guidance_power)
        if config.guidance_scale == 0:
            return logits_fn(tokens, labels)
        null = unconditional(labels, problem)
        both = logits_fn(torch.cat([tokens, tokens]), concat_conditions(labels, null))  # (2B, L, K): one forward
        cond, uncond = both.chunk(2)
        # cond + w (cond - uncond), the same three roundings, in the forward's own buffer
        guided = torch.sub(cond, uncond, out=uncond).mul_(weight).add_(cond)
        return guided

    @torch.no_grad()
    def sample(
        self, logits_fn: LogitsFn, labels: torch.Tensor, problem: TokenProblem, noise: CounterNoise,
        record_steps: list | None = None,
    ) -> torch.Tensor:
        config = self.config
        batch, length, device = len(noise), problem.num_tokens, condition_device(labels)
        tokens = torch.full((batch, length), problem.mask_token_id, dtype=torch.long, device=device)
        known_confidence = torch.full((), known_log_confidence(config.known_confidence), device=device)
        for step in range(config.steps):
            unknown = tokens == problem.mask_token_id  # (B, L)
            logits = self.guided_logits(logits_fn, tokens, labels, problem, step).float()  # (B, L, K)
            probs = logits.softmax(-1)
            if config.token_temperature == 0:
                drawn = logits.argmax(-1)
            elif config.token_temperature == 1:
                drawn = noise.categorical(probs, step, TOKEN_STREAM)
            else:
                drawn = noise.categorical((logits / config.token_temperature).softmax(-1), step, TOKEN_STREAM)
            sampled = torch.where(unknown, drawn, tokens)
            if step == config.steps - 1:
                return sampled
            temperature = choice_temperature(
                config.choice_temperature, step, config.steps, config.choice_temperature_annealing
            )
            # log(p) of the sampled id as the official `log(probs)` (clamped at 1e-20), from the untempered softmax
            log_prob = probs.gather(-1, sampled[..., None]).squeeze(-1).clamp(min=1e-20).log()
            log_prob = torch.where(unknown, log_prob, known_confidence)
            confidence = log_prob + temperature * noise.gumbel(step, CHOICE_STREAM, (length,))
            mask_len = masked_after_step(config.schedule, step, config.steps, length, config.schedule_dtype)
            # (B, 1): at least one revealed, at least one left for later
            mask_len = (unknown.sum(-1, keepdim=True) - 1).clamp(max=mask_len).clamp(min=1)
            # Rank instead of the official `confidence < sorted[mask_len]`: identical unless
            # confidences tie exactly, where the official test masks fewer than mask_len.
            rank = confidence.argsort(dim=-1, stable=True).argsort(dim=-1)  # (B, L): 0 = least confident
            tokens = torch.where(rank < mask_len, problem.mask_token_id, sampled)
            if record_steps is not None:
                record_steps.append((tokens == problem.mask_token_id).sum(-1).tolist())
        return tokens
