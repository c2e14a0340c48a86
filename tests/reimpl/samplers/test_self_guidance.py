import pytest
import torch

from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import TokenProblem
from reimpl.samplers.maskgit import MaskGitSampler, MaskGitSamplerConfig
from reimpl.samplers.schedules import choice_temperature
from reimpl.samplers.self_guidance import SelfGuidanceSampler, SelfGuidanceSamplerConfig
from reimpl.samplers.noise import CounterNoise


def logits_pair(tokens, labels):
    g = torch.Generator().manual_seed(int(tokens.sum()) % 997)
    return torch.randn(*tokens.shape, 12, generator=g) * 2, torch.randn(*tokens.shape, 12, generator=g)


def test_compounding_temperature_matches_the_official_schedule():
    # unlockmgm_eval.md §1.4 (tau0 = 25, T = 18): steps 1, 2, 10 -> 23.61, 20.99, 0.494
    values = [choice_temperature(25.0, k, 18, "compounding") for k in range(18)]
    assert values[0] == pytest.approx(23.61, abs=5e-3)
    assert values[1] == pytest.approx(20.99, abs=5e-3)
    assert values[9] == pytest.approx(0.494, abs=5e-4)
    assert values[-1] == 0.0
    assert choice_temperature(25.0, 1, 18, "linear") == pytest.approx(22.22, abs=5e-3)


def test_guided_decoding_is_maskgit_decoding_of_the_combined_logits():
    assert SAMPLERS.get("self-guidance") is SelfGuidanceSampler
    problem = TokenProblem(9, 99, None, guidance_pair=logits_pair)
    labels = torch.zeros(3, dtype=torch.long)
    config = SelfGuidanceSamplerConfig(steps=5, choice_temperature=3.0, guidance_scale=1.5)
    ours = SelfGuidanceSampler(config).sample(lambda t, c: None, labels, problem,
                                              CounterNoise.from_seeds(range(3)))

    def combined(tokens, labels):
        base, aux = logits_pair(tokens, labels)
        return aux + 2.5 * (base - aux)

    reference = MaskGitSampler(MaskGitSamplerConfig(
        steps=5, choice_temperature=3.0, choice_temperature_annealing="compounding", guidance_scale=0.0,
    )).sample(combined, labels, TokenProblem(9, 99, None), CounterNoise.from_seeds(range(3)))
    assert torch.equal(ours, reference)


def test_scale_zero_is_the_base_model_and_needs_no_auxiliary_pass():
    labels = torch.zeros(2, dtype=torch.long)
    base_only = lambda t, c: logits_pair(t, c)[0]  # noqa: E731
    sampler = SelfGuidanceSampler(SelfGuidanceSamplerConfig(steps=4, guidance_scale=0.0))
    assert sampler.forwards_per_step({"guidance_scale": 0.0}) == 1
    assert sampler.forwards_per_step({"guidance_scale": 1.0}) == 2
    out = sampler.sample(base_only, labels, TokenProblem(9, 99, None), CounterNoise.from_seeds(range(2)))
    assert (out < 12).all()
    with pytest.raises(ValueError, match="auxiliary"):
        SelfGuidanceSampler(SelfGuidanceSamplerConfig(steps=4)).sample(
            base_only, labels, TokenProblem(9, 99, None), CounterNoise.from_seeds([0, 0]))
