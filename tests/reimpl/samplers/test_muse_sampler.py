"""The `muse` sampler: lucidrains' re-masking counts, cond_scale semantics, Token-Critic
re-masking, self-conditioning and per-sample reproducibility, on fake networks."""

import math

import pytest
import torch

from reimpl.samplers.base import TokenProblem, guided_logits, restrict_to_plausible
from reimpl.samplers.muse import MuseSampler, MuseSamplerConfig
from reimpl.samplers.noise import CounterNoise

L, V, MASK = 16, 10, 10


def _drop(conditions):
    return {**conditions, "valid": torch.zeros_like(conditions["valid"])}


PROBLEM = TokenProblem(L, MASK, None, null_condition=_drop)


class FakeNetwork:
    """Logits favour token (position % V) when the prompt is visible, token 0 when dropped."""

    self_conditioning = False

    def __init__(self, strength=4.0):
        self.calls, self.strength = [], strength

    def __call__(self, tokens, conditions, self_cond=None, return_embed=False):
        self.calls.append((tokens.clone(), conditions["valid"].any(-1).clone(), self_cond))
        batch = len(tokens)
        logits = torch.zeros(batch, L, V)
        favourite = torch.arange(L) % V
        text = conditions["valid"].any(-1)  # (B,)
        logits[text] = self.strength * torch.nn.functional.one_hot(favourite, V).float()
        logits[~text, :, 0] = self.strength
        embed = torch.randn(batch, L, 3, generator=torch.Generator().manual_seed(len(self.calls)))
        return (logits, embed) if return_embed else logits


def _conditions(batch):
    return {"states": torch.zeros(batch, 2, 4), "valid": torch.ones(batch, 2, dtype=torch.bool)}


def _generators(batch, offset=0):
    return CounterNoise.from_seeds(range(offset, offset + batch))


def test_remask_counts_follow_lucidrains_schedule():
    network = FakeNetwork()
    steps = 6
    MuseSampler(MuseSamplerConfig(steps=steps, guidance_scale=1.0)).sample(network, _conditions(2), PROBLEM, _generators(2))
    masked_inputs = [int((tokens[0] == MASK).sum()) for tokens, _, _ in network.calls]
    expected = [max(int(math.cos(t * math.pi / 2) * L), 1) for t in torch.linspace(0, 1, steps).tolist()]
    assert masked_inputs == expected  # 16, 15, 13, 9, 4 (approximately), then one re-predicted token
    assert expected[0] == L and expected[-1] == 1


def test_guidance_scale_semantics():
    for scale, expect_rows in ((1.0, 1), (0.0, 2), (3.0, 2)):
        network = FakeNetwork()
        tokens = MuseSampler(MuseSamplerConfig(steps=4, guidance_scale=scale, temperature=0.0)).sample(
            network, _conditions(1), PROBLEM, _generators(1))
        assert len(network.calls[0][0]) == expect_rows  # s = 1 skips the null forward; else one batched forward
        if scale == 0.0:  # purely unconditional: the null prompt's favourite everywhere
            assert (tokens == 0).all()
        else:
            assert torch.equal(tokens[0], torch.arange(L) % V)


def test_negative_prompt_replaces_the_null_prompt():
    network = FakeNetwork()
    conditions = {**_conditions(1), "negative": {"states": torch.ones(1, 2, 4), "valid": torch.ones(1, 2, dtype=torch.bool)}}
    MuseSampler(MuseSamplerConfig(steps=3, guidance_scale=3.0)).sample(network, conditions, PROBLEM, _generators(1))
    _, text_visible, _ = network.calls[0]
    assert text_visible.all()  # both rows carry text: the prompt and the negative prompt


def test_token_critic_may_remask_known_tokens():
    """With a critic that always blames position 0, position 0 is re-masked at every step."""
    class Critic:
        def __call__(self, tokens, conditions, self_cond=None, return_embed=False):
            scores = torch.zeros(len(tokens), L, 1)
            scores[:, 0] = 100.0
            return scores, None

    network = FakeNetwork()
    problem = TokenProblem(L, MASK, None, null_condition=_drop, critic=Critic())
    MuseSampler(MuseSamplerConfig(steps=5, guidance_scale=1.0)).sample(network, _conditions(1), problem, _generators(1))
    assert all(tokens[0, 0] == MASK for tokens, _, _ in network.calls)
    network_no_critic = FakeNetwork()
    MuseSampler(MuseSamplerConfig(steps=5, guidance_scale=1.0, use_token_critic=False)).sample(
        network_no_critic, _conditions(1), problem, _generators(1))
    assert not all(tokens[0, 0] == MASK for tokens, _, _ in network_no_critic.calls)


def test_self_conditioning_feeds_back_the_previous_embedding():
    network = FakeNetwork()
    network.self_conditioning = True
    MuseSampler(MuseSamplerConfig(steps=3, guidance_scale=1.0)).sample(network, _conditions(1), PROBLEM, _generators(1))
    assert network.calls[0][2] is None and network.calls[1][2] is not None and network.calls[1][2].shape == (1, L, 3)


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_images_do_not_depend_on_the_batch(scale):
    sampler = MuseSampler(MuseSamplerConfig(steps=5, guidance_scale=scale, temperature=3.0, topk_filter_thres=0.0))
    together = sampler.sample(FakeNetwork(0.5), _conditions(3), PROBLEM, _generators(3))
    alone = sampler.sample(FakeNetwork(0.5), _conditions(1), PROBLEM, CounterNoise.from_seeds([2]))
    assert torch.equal(together[2], alone[0])
    assert not torch.equal(together[0], together[1])  # weak logits at temperature 3 leave room for chance


def test_linear_guidance_grows_with_the_fraction_of_known_tokens():
    linear = MuseSampler(MuseSamplerConfig(steps=6, guidance_scale=5.0, guidance_schedule="linear"))
    scales = [linear.scale_at(step, 256) for step in range(6)]
    known = [1 - max(int(math.cos((s + 1) / 5 * math.pi / 2) * 256), 1) / 256 for s in range(5)] + [1.0]
    assert scales == pytest.approx([1 + 4 * k for k in known])
    assert scales[0] < 1.5 and scales[-1] == 5.0 and scales == sorted(scales)
    constant = MuseSampler(MuseSamplerConfig(steps=6, guidance_scale=5.0))
    assert {constant.scale_at(step, 256) for step in range(6)} == {5.0}
    unconditional = MuseSampler(MuseSamplerConfig(steps=6, guidance_scale=0.0, guidance_schedule="linear"))
    assert {unconditional.scale_at(step, 256) for step in range(6)} == {0.0}


def test_linear_from_zero_is_open_muse_linspace_at_every_scale():
    for scale in (1.0, 5.0):
        sampler = MuseSampler(MuseSamplerConfig(steps=5, guidance_scale=scale, guidance_schedule="linear-from-zero"))
        assert [sampler.scale_at(step, 256) for step in range(5)] == pytest.approx(
            torch.linspace(0, scale, 5).tolist())
    assert MuseSampler.forwards_per_step({"guidance_scale": 1.0, "guidance_schedule": "linear-from-zero"}) == 2
    assert MuseSampler.forwards_per_step({"guidance_scale": 1.0, "guidance_schedule": "linear"}) == 1


class ContrastNetwork:
    """With the text id 1 is likely and id 2 unlikely; the null prompt favours id 3 and finds
    id 2 even less likely, so cond - null is largest exactly where neither model would draw."""

    self_conditioning = False

    def __call__(self, tokens, conditions, self_cond=None, return_embed=False):
        text = conditions["valid"].any(-1)  # (B,)
        logits = torch.zeros(len(tokens), L, V)
        logits[:, :, 1] = 4.0
        logits[:, :, 2] = torch.where(text, -2.0, -6.0)[:, None]
        logits[:, :, 3] = torch.where(text, 0.0, 8.0)[:, None]
        return (logits, torch.zeros(len(tokens), L, 3)) if return_embed else logits


@pytest.mark.parametrize("alpha, prior, scale, expected", [
    (0.0, 0.0, 5.0, 2),  # plain guidance: 5 * (-2 - -6) lifts id 2 (p_cond ~ 0.002) above id 1
    (0.1, 0.0, 5.0, 1),  # the constraint leaves ids with p_cond >= 0.1 max p_cond: only id 1 here
    (0.0, 0.3, 5.0, 1),  # the bounded classifier: id 2 gains at most 4 log(1 / 0.3) nats over p_cond
    (0.1, 0.3, 1.0, 1),  # the conditional model alone
    (0.1, 0.3, 0.0, 3),  # scale <= 1 interpolates: neither applies, so 0 stays the null model (p_cond(3) < 0.1 max)
])
def test_guidance_extensions_apply_only_when_guidance_extrapolates(alpha, prior, scale, expected):
    config = MuseSamplerConfig(steps=3, guidance_scale=scale, temperature=0.0, topk_filter_thres=0.0,
                               plausibility_alpha=alpha, classifier_prior=prior)
    tokens = MuseSampler(config).sample(ContrastNetwork(), _conditions(2), PROBLEM, _generators(2))
    assert (tokens == expected).all()


def test_restrict_to_plausible_keeps_ids_above_alpha_times_the_best():
    cond = torch.tensor([0.5, 0.3, 0.04, 0.16]).log()
    guided = torch.tensor([0.0, 1.0, 9.0, 2.0])
    kept = restrict_to_plausible(guided, cond, alpha=0.1)  # floor: 0.05
    assert torch.equal(kept.isfinite(), torch.tensor([True, True, False, True]))
    assert torch.equal(kept[kept.isfinite()], guided[[0, 1, 3]])
    assert torch.equal(restrict_to_plausible(guided, cond, alpha=0.0), guided)
    with pytest.raises(ValueError, match="plausibility_alpha"):
        MuseSampler(MuseSamplerConfig(plausibility_alpha=1.0))


def test_classifier_prior_bounds_what_guidance_adds_to_the_conditional_log_prob():
    cond = torch.tensor([[2.0, 1.0, -3.0, 0.0]])
    uncond = torch.tensor([[2.0, 3.0, -12.0, 0.0]])  # the null model rules id 2 out
    scale, prior = 5.0, 0.25
    log_cond = cond.log_softmax(-1)
    plain_gain = (scale - 1) * (log_cond - uncond.log_softmax(-1))  # (s - 1) log r before renormalising
    bounded = guided_logits(cond, uncond, scale, prior)
    gain = bounded - log_cond  # (s - 1) log(p_cond / p_null) <= (s - 1) log(1 / prior)
    cap = (scale - 1) * math.log(1 / prior)
    assert plain_gain[0, 2] > 30
    assert gain.max() <= cap + 1e-5
    assert gain[0, 2] == pytest.approx(cap, abs=0.05)  # at the cap where p_uncond ~ 0
    assert guided_logits(cond, uncond, scale).argmax() == 2
    assert bounded.argmax() == 0
    assert torch.equal(guided_logits(cond, uncond, 1.0, prior), cond)  # s <= 1: plain interpolation
    assert torch.equal(guided_logits(cond, uncond, scale, 0.0), uncond + (cond - uncond) * scale)
    with pytest.raises(ValueError, match="classifier_prior"):
        MuseSampler(MuseSamplerConfig(classifier_prior=1.0))
