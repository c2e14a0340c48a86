"""UnlockMGM self-guidance (Hur et al., NeurIPS 2024; JiwanHur/UnlockMGM
`MaskGitTransformerTOAST.generate_sg`, `evaluations/sample_sg_256.py`; unlockmgm_eval.md §1.4).

MaskGIT decoding where every step's logits are l = l_aux + (1 + s)(l_base - l_aux): the base
model's prediction pushed away from the TOAST-smoothed auxiliary one (p ~ p_base^(1+s) / p_aux^s),
at every position, with a constant s (the official `guidance_anneal` is never read). Tokens are
drawn from softmax(l) at temperature 1 without top-k; confidence is the guided probability of the
drawn token plus Gumbel noise whose scale *compounds*: tau_t = tau_0 prod_{j<=t} (1 - (j+1)/T)
(the official code rescales the temperature in place each step; `linear` gives MaskGIT's
tau_0 (1 - (t+1)/T) instead). Two details follow the official code, not MaskGIT's: the mask count
is floor(N cos(pi/2 r)) in torch float32, and already-known tokens enter the ranking with
probability torch.finfo(float32).max (log-confidence 88.72) instead of +inf, so while
tau_t * Gumbel can exceed ~89 (the first steps at tau_0 = 25) a known token may be re-masked;
the published numbers were produced this way. Published setting: 18 steps, cosine, s = 1, tau_0 = 25 (256 px) or
45 (512 px). The auxiliary pass reads the base pass's hidden states, so the two run in turn, not
as one batched forward; each step costs two transformer passes.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import LogitsFn, TokenProblem
from reimpl.samplers.maskgit import MaskGitSampler
from reimpl.samplers.schedules import ScheduleDtype


@dataclasses.dataclass(frozen=True)
class SelfGuidanceSamplerConfig:
    steps: int = 18
    schedule: str = "cosine"
    choice_temperature: float = 25.0
    choice_temperature_annealing: Literal["compounding", "linear", "constant"] = "compounding"
    guidance_scale: float = 1.0  # s; 0 is plain MaskGIT decoding with the base model
    token_temperature: float = 1.0
    # As the official generate_sg: the cosine count in torch float32 (127 of 256 masked after step
    # 11 of 18, where float64 gives 128) and known tokens at probability finfo.max, not +inf, so
    # the large early Gumbel scale can re-mask them. "float64" / "inf" are MaskGIT's choices.
    schedule_dtype: ScheduleDtype = "torch-float32"
    known_confidence: Literal["finfo-max", "inf"] = "finfo-max"


@SAMPLERS.register("self-guidance")
class SelfGuidanceSampler(MaskGitSampler):
    Config = SelfGuidanceSamplerConfig
    sweep_axes = {"steps": "steps", "temperature": "choice_temperature", "guidance": "guidance_scale"}

    @staticmethod
    def forwards_per_step(config: dict) -> int:
        return 2 if config.get("guidance_scale", 1.0) else 1

    def guided_logits(self, logits_fn: LogitsFn, tokens, labels, problem: TokenProblem, step: int) -> torch.Tensor:
        scale = self.config.guidance_scale
        if scale == 0:
            return logits_fn(tokens, labels)
        if problem.guidance_pair is None:
            raise ValueError("self-guidance needs a model with an auxiliary (TOAST) prediction, e.g. an unlockmgm card")
        base, auxiliary = problem.guidance_pair(tokens, labels)
        return auxiliary + (1 + scale) * (base - auxiliary)
