"""Pure schedule functions, named so configs and sweeps can refer to them.

Mask schedules gamma(r) give the fraction of tokens still masked at progress r in [0, 1]
(MaskGIT `libml/mask_schedule.py`: uniform, pow<e> with square = pow2, cubic = pow3,
sqrt = pow0.5, cosine, log, exp; arccos comes from MUSE). The official code clips the
result to [1e-6, 1]. `log` and `exp` depend on the number of tokens N.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import numpy as np


def _pow(exponent: float) -> Callable[[float, int], float]:
    return lambda r, n: 1.0 - r**exponent


MASK_SCHEDULES: dict[str, Callable[[float, int], float]] = {
    "uniform": _pow(1.0),
    "linear": _pow(1.0),
    "square": _pow(2.0),
    "cubic": _pow(3.0),
    "sqrt": _pow(0.5),
    "cosine": lambda r, n: math.cos(math.pi / 2 * r),
    "arccos": lambda r, n: math.acos(r) / (math.pi / 2),
    "log": lambda r, n: -math.log2(r) / math.log2(n) if r > 0 else 1.0,
    "exp": lambda r, n: 1.0 - 2.0 ** (-math.log2(n) * (1.0 - r)),
}


def check_schedule(name: str) -> None:
    """Raise ValueError for a name that is neither registered nor pow<number>."""
    if name in MASK_SCHEDULES:
        return
    try:
        float(name[3:]) if name.startswith("pow") else float("x")
    except ValueError:
        raise ValueError(f"unknown mask schedule {name!r}; choose one of {sorted(MASK_SCHEDULES)} or pow<e>") from None


def mask_ratio(name: str, ratio: float, num_tokens: int) -> float:
    """gamma(ratio) clipped to [1e-6, 1]; `pow<e>` names any exponent."""
    check_schedule(name)
    value = MASK_SCHEDULES[name](ratio, num_tokens) if name in MASK_SCHEDULES else 1.0 - ratio ** float(name[3:])
    return min(max(value, 1e-6), 1.0)


ScheduleDtype = Literal["float64", "float32", "torch-float32"]


def masked_after_step(name: str, step: int, steps: int, num_tokens: int, dtype: ScheduleDtype = "float64") -> int:
    """floor(N * gamma((t+1)/T)) as MaskGIT's `decode` computes it, before the clamp.

    JAX computes in float32; cos(pi/3) is 0.49999997 there, so N=256, T=12, t=7 gives 127
    instead of 128. `dtype='float32'` reproduces that; float64 is the mathematically exact count.
    `torch-float32` is the official PyTorch ports' expression for the cosine schedule (UnlockMGM
    `generate_sg`, muse/sampling.py `cosine_schedule`): floor(N * cos(float32(r) * pi * 0.5)) in
    torch float32, which gives 127 of 256 at step 11 of 18.
    """
    ratio = (step + 1) / steps
    if dtype == "torch-float32" and name == "cosine":
        import torch

        return int((num_tokens * torch.cos(torch.tensor(ratio) * math.pi * 0.5)).floor())
    if dtype == "torch-float32":
        dtype = "float32"
    if dtype == "float32":
        value = np.float32(mask_ratio(name, float(np.float32(ratio)), num_tokens))
        if name == "cosine":  # recompute in float32 end to end, as jnp.cos does
            value = np.clip(np.cos(np.float32(np.pi / 2) * np.float32(ratio)), np.float32(1e-6), np.float32(1.0))
        return int(np.floor(np.float32(num_tokens) * value))
    return math.floor(num_tokens * mask_ratio(name, ratio, num_tokens))


def reveal_counts(name: str, steps: int, num_tokens: int, dtype: ScheduleDtype = "float64") -> list[int]:
    """Tokens revealed at each step of a fresh decode, with the official clamp
    max(1, min(unknown - 1, mask_len)) and everything revealed on the last step."""
    unknown, counts = num_tokens, []
    for step in range(steps):
        if step == steps - 1:
            counts.append(unknown)
            break
        keep_masked = max(1, min(unknown - 1, masked_after_step(name, step, steps, num_tokens, dtype)))
        counts.append(unknown - keep_masked)
        unknown = keep_masked
    return counts


def choice_temperature(
    base: float, step: int, steps: int, annealing: Literal["linear", "constant", "compounding"]
) -> float:
    """MaskGIT anneals the re-masking noise as base * (1 - (t+1)/T): zero on the last step.

    compounding: base * prod_{j<=t} (1 - (j+1)/T), what open-muse's and UnlockMGM's samplers
    compute by updating `temperature *= 1 - ratio` in place every step (unlockmgm_eval.md §1.4).
    """
    if annealing == "linear":
        return base * (1.0 - (step + 1) / steps)
    if annealing == "compounding":
        value = base
        for j in range(step + 1):  # in the official order of float products, not base * prod(...)
            value = value * (1.0 - (j + 1) / steps)
        return value
    return base


def guidance_scale(
    scale: float, step: int, steps: int, schedule: Literal["constant", "linear", "power-cosine"], power: float = 2.0
) -> float:
    """CFG weight w_t in logits = cond + w_t (cond - uncond), at step t of T.

    linear: w * t / T (1d-tokenizer's guidance_decay; maskgit-pytorch's `linear`, shifted by 1);
    power-cosine: w * (1 - cos(pi (t/T)^p)) / 2 (maskgit-pytorch, from MDT).
    """
    progress = step / steps
    if schedule == "constant":
        return scale
    if schedule == "linear":
        return scale * progress
    if schedule == "power-cosine":
        return scale * (1 - math.cos(math.pi * progress**power)) / 2
    raise ValueError(f"unknown guidance schedule {schedule!r}")
