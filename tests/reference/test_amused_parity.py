"""Our `amused` sampler against diffusers' AmusedPipeline + AmusedScheduler (pinned 0.42.1),
on tiny random components: identical token ids after every step for the same generator."""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from reimpl.models.amused import AmusedModel  # noqa: E402
from reimpl.samplers.amused import AmusedSampler, AmusedSamplerConfig  # noqa: E402
from reimpl.tokenizers.amused_vq import build_amused_vq  # noqa: E402
from reimpl.samplers.noise import CounterNoise, GeneratorNoise  # noqa: E402

TINY_UVIT = dict(
    hidden_size=16, use_bias=False, cond_embed_dim=16, micro_cond_encode_dim=2, micro_cond_embed_dim=10,
    encoder_hidden_size=16, vocab_size=65, codebook_size=64, in_channels=16, block_out_channels=16,
    num_res_blocks=1, block_num_heads=2, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
    sample_size=4,
)


def _components(seed=0):
    torch.manual_seed(seed)
    transformer = diffusers.UVit2DModel(**TINY_UVIT).eval()
    # Random weights give near-uniform logits; sharpen them so confidences differ step to step.
    with torch.no_grad():
        transformer.mlm_layer.conv2.weight.mul_(40)
    vq = build_amused_vq({"preset": "toy-amused-vq"})  # f2: 8x8 px <-> 4x4 tokens
    return transformer, vq


def _pipeline(transformer, vq):
    scheduler = diffusers.AmusedScheduler(mask_token_id=TINY_UVIT["vocab_size"] - 1)
    return diffusers.AmusedPipeline(vqvae=vq.vq, tokenizer=None, text_encoder=None, transformer=transformer,
                                    scheduler=scheduler)


def _ours(transformer, vq):
    model = AmusedModel(None, transformer, text_encoder=torch.nn.Identity(), text_tokenizer=None, vq=vq, image_size=8)
    return model


def _diffusers_steps(pipe, states, pooled, neg_states, neg_pooled, generator, **kwargs):
    steps = []
    pipe(prompt_embeds=pooled, encoder_hidden_states=states, negative_prompt_embeds=neg_pooled,
         negative_encoder_hidden_states=neg_states, generator=generator, output_type="latent",
         callback=lambda i, t, latents: steps.append(latents.flatten(1).clone()), **kwargs)
    return steps


@pytest.mark.parametrize("guidance_scale, steps, temperature", [(10.0, 12, (2.0, 0.0)), (1.0, 6, (3.0, 0.01)), (4.0, 8, (1.0, 0.0))])
@pytest.mark.parametrize("batch", [1, 3])
def test_tokens_match_diffusers_at_every_step(guidance_scale, steps, temperature, batch):
    transformer, vq = _components()
    pipe, model = _pipeline(transformer, vq), _ours(transformer, vq)
    generator = torch.Generator().manual_seed(1234)
    states, pooled = torch.randn(batch, 5, 16, generator=generator), torch.randn(batch, 16, generator=generator)
    neg_states, neg_pooled = torch.randn(1, 5, 16, generator=generator), torch.randn(1, 16, generator=generator)
    expected = _diffusers_steps(
        pipe, states, pooled, neg_states.expand(batch, -1, -1), neg_pooled.expand(batch, -1),
        torch.Generator().manual_seed(7), num_inference_steps=steps, guidance_scale=guidance_scale,
        temperature=temperature, height=8, width=8,
    )

    null = model.conditions(neg_states, neg_pooled)
    model.problem = model.problem.__class__(
        16, TINY_UVIT["vocab_size"] - 1, None,
        null_condition=lambda c: {k: v.expand(len(c["states"]), *v.shape[1:]) for k, v in null.items()},
    )
    sampler = AmusedSampler(AmusedSamplerConfig(steps=steps, temperature=temperature[0],
                                                temperature_end=temperature[1], guidance_scale=guidance_scale))
    shared = torch.Generator().manual_seed(7)
    record: list = []
    final = sampler.sample(model.logits, model.conditions(states, pooled), model.problem,
                           GeneratorNoise(shared, batch), record_steps=record)

    assert len(record) == len(expected) == steps
    for step, (ours, theirs) in enumerate(zip(record, expected)):
        assert torch.equal(ours, theirs), f"step {step}: {ours} vs {theirs}"
    assert torch.equal(final, expected[-1])
    assert (final != TINY_UVIT["vocab_size"] - 1).all()
    # The sampler really reveals tokens gradually (a test of a degenerate path would prove little).
    masked_counts = [int((s == TINY_UVIT["vocab_size"] - 1).sum()) for s in expected]
    assert masked_counts[0] > masked_counts[steps // 2] > masked_counts[-1] == 0


def test_counter_noise_makes_images_batch_invariant():
    transformer, vq = _components()
    model = _ours(transformer, vq)
    generator = torch.Generator().manual_seed(3)
    states, pooled = torch.randn(4, 5, 16, generator=generator), torch.randn(4, 16, generator=generator)
    model.problem = model.problem.__class__(16, 64, None, null_condition=lambda c: {k: torch.zeros_like(v) for k, v in c.items()})
    sampler = AmusedSampler(AmusedSamplerConfig(steps=6, guidance_scale=3.0))
    together = sampler.sample(model.logits, model.conditions(states, pooled), model.problem,
                              CounterNoise.from_seeds(range(4)))
    alone = sampler.sample(model.logits, model.conditions(states[2:3], pooled[2:3]), model.problem,
                           CounterNoise.from_seeds([2]))
    assert torch.equal(together[2:3], alone)
    assert not torch.equal(together[0], together[1])
