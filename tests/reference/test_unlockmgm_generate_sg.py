"""Self-guidance decoding against the official UnlockMGM `MaskGitTransformerTOAST.generate_sg`
(JiwanHur/UnlockMGM @ 33e139a, muse/modeling_transformer_toast.py, with muse/sampling.py's
`mask_by_random_topk` and `cosine_schedule`), transcribed below step for step in its own layout.

Both sides run the same reduced random ToastMaskGit and consume one torch stream in the same
order (per step: a multinomial over every row, then the Gumbel uniforms of every row), so the
input of every step must agree token for token. The card's defaults -- known tokens at
probability finfo.max, float32 mask counts, compounding temperature -- are what make it hold."""

import dataclasses
import math

import pytest
import torch

from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork
from reimpl.networks.toast import ToastMaskGit
from reimpl.samplers.base import TokenProblem
from reimpl.samplers.noise import GeneratorNoise
from reimpl.samplers.self_guidance import SelfGuidanceSampler, SelfGuidanceSamplerConfig

CONFIG = MaskGitConfig(codebook_size=64, num_classes=10, num_tokens=256, width=32, depth=2, heads=2, mlp_width=64,
                       dropout=0.0, gelu="none")


def official_generate_sg(guidance_pair, class_ids, temperature, timesteps, guidance_scale, seq_len, mask_token_id,
                         inputs_seen):
    """generate_sg's loop; `guidance_pair` stands for the base pass and `forward_with_hidden_toast`
    (class token prepended and removed inside it). Uses the global torch RNG, as the original."""
    input_ids = torch.ones((len(class_ids), seq_len), dtype=torch.long) * mask_token_id
    for step in range(timesteps):
        inputs_seen.append(input_ids.clone())
        logits, toast_logits = guidance_pair(input_ids, class_ids)
        if guidance_scale != 0:
            logits = toast_logits + (1 + guidance_scale) * (logits - toast_logits)
        sampled_ids = torch.stack([torch.multinomial(row.softmax(dim=-1), 1).squeeze(1) for row in logits])
        unknown_map = input_ids == mask_token_id
        sampled_ids = torch.where(unknown_map, sampled_ids, input_ids)
        ratio = 1.0 * (step + 1) / timesteps
        mask_ratio = torch.cos(torch.tensor(ratio) * math.pi * 0.5)
        probs = logits.softmax(dim=-1)
        selected_probs = torch.gather(probs, -1, sampled_ids.long()[..., None]).squeeze(-1)
        selected_probs = torch.where(unknown_map, selected_probs, torch.finfo(selected_probs.dtype).max)
        mask_len = (seq_len * mask_ratio).floor().unsqueeze(0)
        mask_len = torch.max(torch.tensor([1]), torch.min(unknown_map.sum(dim=-1, keepdim=True) - 1, mask_len))
        temperature = temperature * (1.0 - ratio)
        # mask_by_random_topk: log clamps at 1e-20; gumbel_noise = -log(-log(uniform_(0, 1)))
        uniform = torch.zeros_like(selected_probs).uniform_(0, 1)
        gumbel = -torch.log(torch.log(uniform.clamp(min=1e-20)).neg().clamp(min=1e-20))
        confidence = torch.log(selected_probs.clamp(min=1e-20)) + temperature * gumbel
        cut_off = torch.gather(torch.sort(confidence, dim=-1).values, 1, mask_len.long())
        input_ids = torch.where(confidence < cut_off, mask_token_id, sampled_ids)
    return sampled_ids


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    model = ToastMaskGit(MaskGitNetwork(CONFIG)).eval()
    with torch.no_grad():  # random weights give near-uniform logits: sharpen them so confidences differ
        for parameter in model.parameters():
            parameter.mul_(3)
    return model


def _ours(network, labels, config, seed, inputs_seen):
    def recording_pair(tokens, labels):
        inputs_seen.append(tokens.clone())
        return network.guidance_pair(tokens, labels)

    problem = TokenProblem(CONFIG.num_tokens, CONFIG.mask_token_id, None, guidance_pair=recording_pair)
    noise = GeneratorNoise(torch.Generator().manual_seed(seed), len(labels))
    with torch.no_grad():
        return SelfGuidanceSampler(config).sample(lambda t, c: None, labels, problem, noise)


def _official(network, labels, seed, inputs_seen, steps=18, temperature=25.0, scale=1.0):
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        return official_generate_sg(network.guidance_pair, labels.clone(), temperature, steps, scale,
                                    CONFIG.num_tokens, CONFIG.mask_token_id, inputs_seen)


@pytest.mark.parametrize("scale, temperature", [(1.0, 25.0), (0.5, 45.0)])
def test_trajectory_equals_the_official_generate_sg_token_for_token(network, scale, temperature):
    labels = torch.tensor([1, 4, 7])
    config = SelfGuidanceSamplerConfig(guidance_scale=scale, choice_temperature=temperature)  # the card's defaults
    ours_seen, official_seen = [], []
    ours = _ours(network, labels, config, 11, ours_seen)
    official = _official(network, labels, 11, official_seen, temperature=temperature, scale=scale)
    assert len(ours_seen) == len(official_seen) == 18
    for step, (mine, theirs) in enumerate(zip(ours_seen, official_seen)):
        assert torch.equal(mine, theirs), f"step {step}: {(mine != theirs).sum()} tokens differ"
    assert torch.equal(ours, official)
    masked = [int((seen == CONFIG.mask_token_id).sum()) for seen in official_seen]
    assert masked[0] == 3 * 256 and masked[-1] < masked[9] < masked[1]


def test_known_tokens_are_re_masked_officially_and_the_maskgit_choices_depart_from_it(network):
    """The test above can fail: +inf confidences or float64 counts give another trajectory."""
    labels = torch.tensor([1, 4, 7])
    official_seen = []
    official = _official(network, labels, 11, official_seen)
    # the official run re-masks tokens that were already known (what +inf forbids)
    re_masked = [int(((before != CONFIG.mask_token_id) & (after == CONFIG.mask_token_id)).sum())
                 for before, after in zip(official_seen, official_seen[1:])]
    assert sum(re_masked) > 0
    for change in ({"known_confidence": "inf"}, {"schedule_dtype": "float64"}):
        config = dataclasses.replace(SelfGuidanceSamplerConfig(), **change)
        seen = []
        ours = _ours(network, labels, config, 11, seen)
        differs = any(not torch.equal(a, b) for a, b in zip(seen, official_seen)) or not torch.equal(ours, official)
        assert differs, change
