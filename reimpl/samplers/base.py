"""The sampler contract. A sampler owns one decoding algorithm and its config dataclass;
it sees the network only through `logits_fn(tokens, labels) -> logits` and draws every
random number from the per-sample generators it is given."""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar, Protocol

import torch

LogitsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (B, L) ids, (B,) labels -> (B, L, K)


@dataclasses.dataclass(frozen=True)
class TokenProblem:
    """What a token sampler needs to know about the model it decodes for."""

    num_tokens: int  # L
    mask_token_id: int
    null_label: int | None  # the label of the unconditional class token (None: no CFG possible)


class Sampler(Protocol):
    Config: ClassVar[type]

    def __init__(self, config) -> None: ...

    def sample(
        self, logits_fn: LogitsFn, labels: torch.Tensor, problem: TokenProblem, generators: list[torch.Generator]
    ) -> torch.Tensor:
        """Return final token ids (B, L); sample i uses only generators[i]."""


def per_sample_uniform(generators: list[torch.Generator], shape: tuple[int, ...], device) -> torch.Tensor:
    """(B, *shape) uniforms in (0, 1), row i from generators[i] (always drawn on the CPU so
    the numbers do not depend on the device either)."""
    rows = [torch.rand(shape, generator=g) for g in generators]
    return torch.stack(rows).clamp_(1e-20, 1 - 1e-7).to(device)


def per_sample_gumbel(generators: list[torch.Generator], shape: tuple[int, ...], device) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise -log(-log U), row i from generators[i]."""
    return -torch.log(-torch.log(per_sample_uniform(generators, shape, device)))
