import torch

from reimpl.samplers.base import TokenProblem
from reimpl.samplers.maskgit import MaskGitSampler, MaskGitSamplerConfig
from reimpl.samplers.schedules import reveal_counts
from reimpl.samplers.noise import CounterNoise

PROBLEM = TokenProblem(num_tokens=64, mask_token_id=20, null_label=5)


def fake_logits(calls=None):
    """A deterministic 'network': logits depend on the tokens and labels seen."""
    weights = torch.randn(21, 16, generator=torch.Generator().manual_seed(0))

    def logits_fn(tokens, labels):
        if calls is not None:
            calls.append(tokens.shape[0])
        context = weights[tokens].mean(1, keepdim=True) + labels[:, None, None].float()  # (B, 1, 16)
        return context.expand(-1, tokens.shape[1], -1) + weights[tokens][..., :16] * 0.1  # (B, L, 16)

    return logits_fn


def generators(seeds):
    return CounterNoise.from_seeds(seeds)


def test_masked_counts_follow_the_official_schedule():
    sampler = MaskGitSampler(MaskGitSamplerConfig(steps=8))
    record = []
    tokens = sampler.sample(fake_logits(), torch.tensor([0, 1, 2]), PROBLEM, generators([1, 2, 3]), record)
    expected_masked, unknown = [], 64
    for revealed in reveal_counts("cosine", 8, 64)[:-1]:
        unknown -= revealed
        expected_masked.append(unknown)
    assert [row[0] for row in record] == expected_masked
    assert all(len(set(row)) == 1 for row in record)
    assert tokens.shape == (3, 64) and (tokens < 16).all()  # every position filled with a code


def test_sample_depends_only_on_its_own_seed():
    sampler = MaskGitSampler(MaskGitSamplerConfig(steps=6))
    labels, seeds = torch.tensor([0, 1, 2, 3]), [10, 11, 12, 13]
    batch = sampler.sample(fake_logits(), labels, PROBLEM, generators(seeds))
    single = sampler.sample(fake_logits(), labels[2:3], PROBLEM, generators(seeds[2:3]))
    assert torch.equal(batch[2], single[0])
    again = sampler.sample(fake_logits(), labels, PROBLEM, generators(seeds))
    assert torch.equal(batch, again)
    other = sampler.sample(fake_logits(), labels, PROBLEM, generators([99, 11, 12, 13]))
    assert not torch.equal(batch[0], other[0]) and torch.equal(batch[1:], other[1:])


def test_guidance_uses_one_batched_forward_per_step():
    calls = []
    sampler = MaskGitSampler(MaskGitSamplerConfig(steps=4, guidance_scale=2.0))
    sampler.sample(fake_logits(calls), torch.tensor([0, 1]), PROBLEM, generators([1, 2]))
    assert calls == [4, 4, 4, 4]
    calls.clear()
    MaskGitSampler(MaskGitSamplerConfig(steps=4)).sample(fake_logits(calls), torch.tensor([0, 1]), PROBLEM, generators([1, 2]))
    assert calls == [2, 2, 2, 2]


def test_zero_temperatures_are_greedy_and_deterministic():
    config = MaskGitSamplerConfig(steps=4, choice_temperature=0.0, token_temperature=0.0)
    first = MaskGitSampler(config).sample(fake_logits(), torch.tensor([0, 1]), PROBLEM, generators([1, 2]))
    second = MaskGitSampler(config).sample(fake_logits(), torch.tensor([0, 1]), PROBLEM, generators([7, 8]))
    assert torch.equal(first, second)
