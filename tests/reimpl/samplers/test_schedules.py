"""Per-step token counts of the official schedule, worked out by hand from
floor(N * cos(pi/2 * (t+1)/T)) with the clamp max(1, min(unknown - 1, .)):

N=256, T=8: (t+1)/T = 1/8 .. 7/8; 256 cos(pi/16) = 251.08 -> 251 masked, 256 cos(pi/8) =
236.51 -> 236, 212.84 -> 212, 181.02 -> 181, 142.22 -> 142, 97.97 -> 97, 49.94 -> 49, and
the last step reveals the rest: revealed 5, 15, 24, 31, 39, 45, 48, 49.
"""

import pytest

from reimpl.samplers.schedules import guidance_scale, mask_ratio, masked_after_step, reveal_counts


def test_official_cosine_counts_256_tokens_8_steps():
    assert reveal_counts("cosine", 8, 256) == [5, 15, 24, 31, 39, 45, 48, 49]


def test_official_cosine_counts_256_tokens_12_steps():
    assert reveal_counts("cosine", 12, 256) == [3, 6, 11, 15, 18, 22, 26, 27, 31, 31, 33, 33]


def test_float32_trap_at_12_steps():
    # cos(pi/3) is 0.49999997 in float32: 127 stay masked after step 7, not 128 (JAX, diffusers).
    assert masked_after_step("cosine", 7, 12, 256, "float64") == 128
    assert masked_after_step("cosine", 7, 12, 256, "float32") == 127
    assert masked_after_step("cosine", 7, 12, 1024, "float32") == 511


def test_counts_always_sum_to_all_tokens_and_reveal_at_least_one():
    for name in ("cosine", "linear", "square", "cubic", "sqrt", "exp", "log", "arccos", "pow1.5"):
        for steps in (1, 4, 8, 12, 16):
            counts = reveal_counts(name, steps, 64)
            assert sum(counts) == 64 and min(counts) >= 1, (name, steps)


def test_schedule_values():
    assert mask_ratio("cosine", 0.0, 256) == 1.0
    assert mask_ratio("cosine", 1.0, 256) == pytest.approx(1e-6)  # clipped like the official code
    assert mask_ratio("square", 0.5, 256) == 0.75 and mask_ratio("pow2", 0.5, 256) == 0.75
    assert mask_ratio("exp", 0.5, 256) == pytest.approx(1 - 2 ** (-4))
    with pytest.raises(ValueError):
        mask_ratio("zigzag", 0.5, 256)


def test_guidance_schedules():
    assert guidance_scale(3.0, 5, 8, "constant") == 3.0
    assert [guidance_scale(2.0, t, 4, "linear") for t in range(4)] == [0.0, 0.5, 1.0, 1.5]
    assert guidance_scale(2.0, 0, 8, "power-cosine") == 0.0
    assert guidance_scale(2.0, 4, 8, "power-cosine", power=1.0) == pytest.approx(1.0)
