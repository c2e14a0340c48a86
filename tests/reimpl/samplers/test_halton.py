import math

import torch

from reimpl.samplers.base import TokenProblem
from reimpl.samplers.halton import HaltonSampler, HaltonSamplerConfig, halton_order, revealed_after
from reimpl.samplers.noise import CounterNoise


def test_order_is_the_2d_halton_sequence_and_covers_the_grid():
    order = halton_order(8)
    assert sorted(order.tolist()) == list(range(64))
    # (x, y) = (0, 0), (1/2, 1/3), (1/4, 2/3), (3/4, 1/9), (1/8, 4/9): rows from base 2, columns from base 3
    assert order[:5].tolist() == [0 * 8 + 0, 4 * 8 + 2, 2 * 8 + 5, 6 * 8 + 0, 1 * 8 + 3]


def test_reveal_counts_follow_the_arccos_schedule():
    counts = [revealed_after(k, 8, 64) for k in range(8)]
    assert counts == [max(k + 1, int((1 - math.acos((k + 1) / 8) / (math.pi / 2)) * 64)) for k in range(8)]
    assert counts[-1] == 64 and counts == sorted(counts)


def test_every_position_is_drawn_once_in_order_and_without_masks_left():
    problem = TokenProblem(64, 99, 5)
    record = []
    logits = lambda tokens, labels: torch.randn(*tokens.shape, 16, generator=torch.Generator().manual_seed(1))  # noqa: E731
    sampler = HaltonSampler(HaltonSamplerConfig(steps=8, guidance_scale=0.0, randomize=False))
    out = sampler.sample(logits, torch.zeros(2, dtype=torch.long), problem, CounterNoise.from_seeds(range(2)),
                         record)
    assert (out != 99).all()
    flat = [p for step in record for p in step[0]]
    assert flat == halton_order(8).tolist()


def test_guidance_uses_cond_and_null_rows_in_one_batch():
    calls = []

    def logits(tokens, labels):
        calls.append(labels.clone())
        return torch.where(labels[:, None, None] == 5, 0.0, 1.0) * torch.arange(16.0).expand(*tokens.shape, 16)

    sampler = HaltonSampler(HaltonSamplerConfig(steps=4, guidance_scale=3.0, softmax_scale_min=50, softmax_scale_max=50))
    out = sampler.sample(logits, torch.tensor([1, 2]), TokenProblem(16, 99, 5), CounterNoise.from_seeds([0, 0]))
    assert all(c.tolist() == [1, 2, 5, 5] for c in calls) and len(calls) == 4
    assert (out == 15).all()  # (1 + w) * cond - w * uncond still peaks at the last token, sharpened by the scale
