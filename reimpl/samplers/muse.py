"""MUSE decoding as muse-maskgit-pytorch 0.3.5 runs it (`MaskGit.generate`).

For step i of T, with t_i = linspace(0, 1, T)[i] and steps_until_x0 = T - 1 - i:
1. re-mask the max(int(cos(pi/2 t_i) L), 1) positions with the highest scores (all of
   them at i = 0), so the last step re-predicts one token;
2. logits = null + (cond - null) * s (`forward_with_cond_scale`, s = guidance_scale; s = 1
   is the conditional model alone, s = 0 the unconditional one). A negative prompt takes the
   place of the null prompt. Cond and null share one batched forward here;
3. keep the top ceil((1 - thres) V) logits (`top_k(thres=0.9)` keeps 10 %), sample by
   Gumbel-max at temperature `temperature * steps_until_x0 / T` (argmax on the last step);
4. scores: 1 - p(sampled) under the unfiltered, untempered softmax, with already-known
   positions pinned to -1e5 unless `can_remask_prev_masked`; or, with a Token-Critic, the
   critic's score of every position plus (U - 0.5) * critic_noise_scale * steps_until_x0 / T,
   so the critic may re-mask any token (Lezama et al. 2022).
Self-conditioning feeds the previous step's conditional embedding back in.

`guidance_schedule="linear"` is the Muse paper's schedule, which lucidrains' code does not have:
the scale grows with decoding progress, so early tokens are drawn with little or no guidance
(Chang et al. 2023, as MAR §5 describes following it): s_i = 1 + (s - 1) * r_i with r_i the
fraction of tokens known after step i; scales <= 1 stay constant (0 remains unconditional).
`guidance_schedule="linear-from-zero"` is open-muse's v2 `linear` (`MaskGiTUViT.generate2` in
muse/modeling_transformer_v2.py): s_i = linspace(0, s, T)[i] for every s, so step 0 is drawn
unconditionally even at s = 1.

`plausibility_alpha` (0 = off, as lucidrains) is an extension for strong guidance: while the
scale exceeds 1, only ids with p_cond >= alpha * max p_cond may be drawn (the adaptive
plausibility constraint of contrastive decoding, Li et al. ACL 2023, whose alpha is 0.1).
Extrapolating cond - uncond otherwise lifts ids both models find unlikely; on the toy cascade
at scale 5 these are stray blobs of other colours and broken shapes (README, MUSE section).

`classifier_prior` (0 = off, as lucidrains) is a second extension: while the scale exceeds 1,
the null distribution is mixed with that share of the conditional one, which caps the implicit
classifier's likelihood ratio p_cond / p_null at 1 / prior (`guided_logits`). Plain guidance
favours ids the null model rules out; on the toy cascade it repaints thin shapes in a
neighbouring hue (red stripes magenta) and caption accuracy falls from scale 3 to 5; the toy
card's prior of 0.1 stops that fall (4000 samples: 0.896 at both 3 and 5), at some cost in FID
(README).

Differences from the reference, on purpose: random numbers come from the per-sample counter noise
(image i depends on its seed alone, `reimpl/samplers/noise.py`); each position's id is drawn by
inverse CDF from the tempered softmax over the kept top-k logits with one uniform, the same
distribution as Gumbel-max over all V of them after the -inf fill.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import (TokenProblem, concat_conditions, condition_device, guided_logits,
                                  restrict_to_plausible, unconditional)
from reimpl.samplers.noise import CounterNoise

TOKEN_STREAM, CRITIC_STREAM = 0, 3


@dataclasses.dataclass(frozen=True)
class MuseSamplerConfig:
    steps: int = 18
    temperature: float = 1.0
    topk_filter_thres: float = 0.9
    guidance_scale: float = 3.0  # lucidrains' cond_scale
    guidance_schedule: Literal["constant", "linear", "linear-from-zero"] = "constant"
    can_remask_prev_masked: bool = False
    use_token_critic: bool = True  # when the model has a critic
    critic_noise_scale: float = 1.0
    # > 0: candidates limited to ids with p_cond >= alpha * max p_cond while the scale is above 1
    # (contrastive decoding's plausibility constraint; not in lucidrains' code; see the module docstring)
    plausibility_alpha: float = 0.0
    # > 0: guidance against the null mixed with this share of the conditional model, which bounds
    # how far guidance lifts an id the null model rules out (`guided_logits`; not in lucidrains' code)
    classifier_prior: float = 0.0


@SAMPLERS.register("muse")
class MuseSampler:
    Config = MuseSamplerConfig
    sweep_axes = {"steps": "steps", "temperature": "temperature", "guidance": "guidance_scale"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:
        ramps = config.get("guidance_schedule", "constant") == "linear-from-zero"
        return 1 if config.get("guidance_scale", 3.0) == 1 and not ramps else 2  # s = 1 is the conditional model alone

    def __init__(self, config: MuseSamplerConfig):
        if config.steps < 1:
            raise ValueError(f"steps={config.steps}: need at least 1")
        if not 0 <= config.plausibility_alpha < 1:
            raise ValueError("plausibility_alpha must be in [0, 1)")
        if not 0 <= config.classifier_prior < 1:
            raise ValueError("classifier_prior must be in [0, 1)")
        if not 0 <= config.topk_filter_thres < 1:
            raise ValueError("topk_filter_thres must be in [0, 1)")
        if config.temperature < 0:
            raise ValueError("temperature must be >= 0")
        self.config = config

    def scale_at(self, step: int, length: int) -> float:
        """The guidance scale of step `step` (see the module docstring)."""
        scale, steps = self.config.guidance_scale, self.config.steps
        if self.config.guidance_schedule == "linear-from-zero":
            return scale * step / max(steps - 1, 1)
        if self.config.guidance_schedule == "constant" or scale <= 1:
            return scale
        after = 0 if step == steps - 1 else max(int(math.cos((step + 1) / (steps - 1) * math.pi / 2) * length), 1)
        return 1 + (scale - 1) * (1 - after / length)

    def _guided(self, network, tokens, conditions, problem, self_cond, scale: float, alpha: float = 0.0,
                prior: float = 0.0):
        """(logits (B, L, V), conditional embedding (B, L, D)) with cond and null in one forward;
        when the scale extrapolates (s > 1), alpha > 0 applies the plausibility constraint and
        prior > 0 the bounded classifier of `guided_logits`."""
        negative = conditions.get("negative") if isinstance(conditions, dict) else None
        positive = {k: v for k, v in conditions.items() if k != "negative"} if negative is not None else conditions
        if scale == 1:
            return network(tokens, positive, self_cond=self_cond, return_embed=True)
        null = negative if negative is not None else unconditional(positive, problem)
        doubled = None if self_cond is None else torch.cat([self_cond, self_cond])
        logits, embed = network(torch.cat([tokens, tokens]), concat_conditions(positive, null),
                                self_cond=doubled, return_embed=True)
        cond, uncond = logits.chunk(2)
        guided = guided_logits(cond, uncond, scale, prior)
        if scale > 1:
            guided = restrict_to_plausible(guided, cond, alpha)
        return guided, embed.chunk(2)[0]

    @torch.no_grad()
    def sample(self, network, conditions, problem: TokenProblem, noise: CounterNoise,
               record_steps: list | None = None) -> torch.Tensor:
        """network(tokens, conditions, self_cond=None, return_embed=False) -> logits [, embed]."""
        config = self.config
        batch, length, device = len(noise), problem.num_tokens, condition_device(conditions)
        tokens = torch.full((batch, length), problem.mask_token_id, dtype=torch.long, device=device)
        scores = torch.zeros(batch, length, device=device)
        self_conditioning = getattr(network, "self_conditioning", False)
        use_critic = config.use_token_critic and problem.critic is not None
        self_cond = None
        for step, progress in enumerate(torch.linspace(0, 1, config.steps).tolist()):
            steps_until_x0 = config.steps - 1 - step
            num_masked = max(int(math.cos(progress * math.pi / 2) * length), 1)
            remask = scores.topk(num_masked, dim=-1).indices  # (B, n)
            tokens = tokens.scatter(1, remask, problem.mask_token_id)
            scale = self.scale_at(step, length)
            logits, embed = self._guided(network, tokens, conditions, problem, self_cond, scale,
                                         config.plausibility_alpha, config.classifier_prior)
            logits = logits.float()
            self_cond = embed if self_conditioning else None
            keep = math.ceil((1 - config.topk_filter_thres) * logits.shape[-1])
            top_values, top_ids = logits.topk(keep, dim=-1)  # (B, L, k)
            temperature = max(config.temperature * steps_until_x0 / config.steps, 1e-10)
            choice = noise.categorical((top_values / temperature).softmax(-1), step, TOKEN_STREAM)  # (B, L)
            picked = top_ids.gather(-1, choice[..., None])[..., 0]
            is_masked = tokens == problem.mask_token_id
            tokens = torch.where(is_masked, picked, tokens)
            if use_critic:
                scores = self._guided(problem.critic, tokens, conditions, problem, None, scale)[0][..., 0].float()  # (B, L)
                jitter = noise.uniform(step, CRITIC_STREAM, (length,)) - 0.5
                scores = scores + jitter * config.critic_noise_scale * (steps_until_x0 / config.steps)
            else:
                chosen = logits.softmax(-1).gather(-1, picked[..., None])[..., 0]
                scores = 1 - chosen
                if not config.can_remask_prev_masked:
                    scores = scores.masked_fill(~is_masked, -1e5)
            if record_steps is not None:
                record_steps.append(tokens.clone())
        return tokens
