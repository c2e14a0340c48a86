import math

import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import TokenProblem
from reimpl.samplers.mage import MageSampler, MageSamplerConfig
from reimpl.samplers.maskgit import MaskGitSampler, MaskGitSamplerConfig
from reimpl.samplers.noise import CounterNoise


def random_logits(tokens: torch.Tensor, labels) -> torch.Tensor:
    generator = torch.Generator().manual_seed(int(tokens.sum()) % 1000)
    return torch.randn(*tokens.shape, 32, generator=generator) * 3


def test_registered_with_the_published_setting_as_default():
    assert SAMPLERS.get("mage") is MageSampler
    assert MageSamplerConfig().steps == 20 and MageSamplerConfig().choice_temperature == 6.0


def test_masks_follow_gen_img_uncond_schedule():
    steps, length = 20, 256
    problem = TokenProblem(length, 99, None)
    record = []
    MageSampler(MageSamplerConfig(steps=steps)).sample(
        lambda t, c: torch.randn(*t.shape, 32), torch.zeros(2, dtype=torch.long), problem,
        CounterNoise.from_seeds(range(2)), record,
    )
    unknown, expected = length, []
    for step in range(steps - 1):
        mask_len = math.floor(length * math.cos(math.pi / 2 * (step + 1) / steps))
        unknown = max(1, min(unknown - 1, mask_len))
        expected.append([unknown, unknown])
    assert record == expected


def test_equals_maskgit_decoding_at_token_temperature_one_without_guidance():
    problem = TokenProblem(16, 99, None)
    labels = torch.zeros(3, dtype=torch.long)
    ours = MageSampler(MageSamplerConfig(steps=6, choice_temperature=4.0)).sample(
        random_logits, labels, problem, CounterNoise.from_seeds(range(3)))
    maskgit = MaskGitSampler(MaskGitSamplerConfig(steps=6, choice_temperature=4.0, guidance_scale=0.0)).sample(
        random_logits, labels, problem, CounterNoise.from_seeds(range(3)))
    assert torch.equal(ours, maskgit)
    assert (ours != 99).all() and ours.max() < 32
