"""The sampler contract. A sampler owns one decoding algorithm and its config dataclass;
it sees the network only through `logits_fn(tokens, labels) -> logits` and draws every
random number from the per-sample noise it is given (`reimpl/samplers/noise.py`)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar, Protocol

import torch

from reimpl.samplers.noise import CounterNoise

LogitsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (B, L) ids, (B,) labels -> (B, L, K)


@dataclasses.dataclass(frozen=True)
class TokenProblem:
    """What a token sampler needs to know about the model it decodes for."""

    num_tokens: int  # L
    mask_token_id: int
    null_label: int | None  # the label of the unconditional class token (None: no CFG possible)
    # Text models: maps a batch of conditions to the unconditional (empty-prompt) batch.
    null_condition: Callable[[Any], Any] | None = None
    # Token-Critic models: called like the network, returns (B, L, 1) scores, high = likely wrong.
    critic: Callable[..., Any] | None = None
    # Self-guided models (UnlockMGM): (tokens, labels) -> (base logits, auxiliary logits), each (B, L, K).
    guidance_pair: Callable[..., Any] | None = None


def concat_conditions(first: Any, second: Any) -> Any:
    """Stack two condition batches along the batch axis: class ids (B,), tensors, or dicts
    of tensors (text states and their masks), so cond and uncond share one forward."""
    if isinstance(first, dict):
        return {key: concat_conditions(first[key], second[key]) for key in first}
    if first is None:
        return None
    return torch.cat([first, second])


def condition_device(conditions: Any) -> torch.device:
    if isinstance(conditions, dict):
        return next(value for value in conditions.values() if value is not None).device
    return conditions.device


def unconditional(conditions: Any, problem: TokenProblem) -> Any:
    """The unconditional twin of a condition batch (the null class or the empty prompt)."""
    if problem.null_condition is not None:
        return problem.null_condition(conditions)
    if problem.null_label is None:
        raise ValueError("guidance needs a model trained with a null class or an empty prompt")
    return torch.full_like(conditions, problem.null_label)


def guided_logits(cond: torch.Tensor, uncond: torch.Tensor, scale: float, classifier_prior: float = 0.0) -> torch.Tensor:
    """Classifier-free guidance over ids: log p_null + s (log p_cond - log p_null) (Ho & Salimans
    2022, eq. 6, on logits as lucidrains' `forward_with_cond_scale` writes it). cond, uncond: (..., K).

    The guided distribution is p_cond * r^(s-1) with r = p_cond / p_null, the implicit
    classifier's likelihood ratio, which has no bound where the null model rules an id out.
    `classifier_prior` = pi > 0 (an extension of this suite, used while s > 1) takes the null as
    the mixture (1 - pi) p_uncond + pi p_cond: the marginal in which the prompt has prior pi, so
    the implicit classifier pi p_cond / p_null is a probability and r <= 1 / pi. An id then gains
    at most (s - 1) log(1 / pi) nats over its conditional log-probability. Returns logits (log-probs
    when pi > 0).
    """
    if classifier_prior <= 0 or scale <= 1:
        return uncond + (cond - uncond) * scale
    log_cond = cond.float().log_softmax(-1)
    log_null = torch.logaddexp(uncond.float().log_softmax(-1) + math.log1p(-classifier_prior),
                               log_cond + math.log(classifier_prior))
    return log_null + (log_cond - log_null) * scale


def restrict_to_plausible(guided: torch.Tensor, cond: torch.Tensor, alpha: float) -> torch.Tensor:
    """Contrastive decoding's adaptive plausibility constraint (Li et al., ACL 2023,
    arXiv 2210.15097, eq. 2) applied to guided logits: only ids whose conditional probability
    is at least `alpha` times the most likely id's stay candidates; the others get -inf.

    Guidance extrapolates cond - uncond, and where both models find a token unlikely that
    difference is noise; scaled by s > 1 it can lift such a token to the top. alpha = 0 is
    plain guidance. guided, cond: (..., K) logits.
    """
    if alpha <= 0:
        return guided
    log_prob = cond.float().log_softmax(-1)
    floor = log_prob.amax(-1, keepdim=True) + math.log(alpha)
    return guided.masked_fill(log_prob < floor, float("-inf"))


class Sampler(Protocol):
    Config: ClassVar[type]

    def __init__(self, config) -> None: ...

    def sample(
        self, logits_fn: LogitsFn, labels: torch.Tensor, problem: TokenProblem, noise: CounterNoise
    ) -> torch.Tensor:
        """Return final token ids (B, L); sample i uses only the noise of its own seed."""
