"""MAR / eMIGM and KL-VAE recipes: the masking rules' statistics, the loss, the EMA and the optimiser
groups, on tiny random data."""

import math

import pytest
import torch

from reimpl.networks.mar import MAR_CONFIGS, MarNetwork
from reimpl.recipes.kl_vae import KLTrainConfig, gaussian_kl, latent_std, train_kl_vae
from reimpl.recipes.loop import OptimConfig, warmup_cosine
from reimpl.recipes.mar import MarTrainConfig, bernoulli_mask, draw_mask, tokens_from_moments, train_mar
from reimpl.tokenizers.kl_vae import KL_VAE_CONFIGS, KLVAETokenizer


def test_emigm_mask_has_one_count_per_batch_and_follows_the_clamped_exp_schedule():
    config = MarTrainConfig(masking="bernoulli")
    generator = torch.Generator().manual_seed(0)
    fractions = []
    for _ in range(400):
        mask = bernoulli_mask(4, 256, config, generator)
        counts = mask.sum(dim=1)
        assert bool((counts == counts[0]).all()) and int(counts[0]) >= 2
        if int(counts[0]) < 250:
            assert not torch.equal(mask[0], mask[1])  # placed independently per sample
        fractions.append(float(counts[0]) / 256)
    # spec §2.3: gamma >= 1 - e^{-5 * 0.2} = 0.632 (clamp), E[gamma] = 0.855
    assert min(fractions) > 0.55
    assert sum(fractions) / len(fractions) == pytest.approx(0.855, abs=0.02)


def test_mar_mask_ratio_is_a_truncated_gaussian_on_0_7_to_1():
    config = MarTrainConfig(masking="truncnorm")
    generator = torch.Generator().manual_seed(1)
    fractions = [float(draw_mask(2, 256, config, generator)[0].sum()) / 256 for _ in range(600)]
    assert min(fractions) >= math.ceil(0.7 * 256) / 256 - 1e-9 and max(fractions) <= 1.0
    assert sum(fractions) / len(fractions) == pytest.approx(0.867, abs=0.015)  # spec §3.2: mean 0.867
    with pytest.raises(ValueError, match="truncnorm"):
        draw_mask(2, 16, MarTrainConfig(masking="random"), generator)


def test_tokens_are_scaled_posterior_draws_in_raster_order():
    moments = torch.zeros(1, 8, 2, 2)
    moments[:, :4] = torch.arange(16.0).view(1, 4, 2, 2)
    moments[:, 4:] = -30.0  # variance ~ 0
    tokens = tokens_from_moments(moments, 0.5, torch.Generator().manual_seed(0))
    assert tokens.shape == (1, 4, 4)
    torch.testing.assert_close(tokens[0, 1], 0.5 * torch.tensor([1.0, 5.0, 9.0, 13.0]), atol=1e-5, rtol=0)


def test_constant_schedule_after_warmup():
    config = OptimConfig(steps=100, batch_size=1, learning_rate=1.0, warmup_steps=10, schedule="constant")
    assert warmup_cosine(4, config) == pytest.approx(0.5) and warmup_cosine(99, config) == 1.0


def _batches(channels, side, classes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    while True:
        labels = torch.randint(classes, (8,), generator=generator)
        mean = labels.float().view(-1, 1, 1, 1).expand(8, channels, side, side) / classes
        yield torch.cat([mean, torch.full_like(mean, -6.0)], dim=1), labels


@pytest.mark.parametrize("masking, preset", [("bernoulli", "toy-emigm"), ("truncnorm", "toy-mar")])
def test_training_lowers_the_loss_and_keeps_the_ema(masking, preset):
    torch.manual_seed(0)
    network = MarNetwork(MAR_CONFIGS[preset])
    config = MarTrainConfig(masking=masking, ema_decay=0.5, optim=OptimConfig(
        steps=30, batch_size=8, learning_rate=3e-3, betas=(0.9, 0.95), weight_decay=0.02, warmup_steps=2,
        no_decay_on_1d=True, no_decay_prefixes=("diffloss.",), schedule="constant"))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    logged = train_mar(network, _batches(4, 8, 12), config, scale_factor=1.0, progress=False)
    assert math.isfinite(logged["loss"])
    changed = [k for k, v in network.state_dict().items() if not torch.equal(v, before[k])]
    assert "diffloss.net.final_layer.linear.weight" in changed and "class_emb.weight" in changed
    if preset == "toy-emigm":
        torch.testing.assert_close(network.state_dict()["mask_token"], network.state_dict()["fake_latent"])


def test_kl_vae_recipe_reconstructs_better_and_measures_its_scale():
    torch.manual_seed(0)
    tokenizer = KLVAETokenizer(KL_VAE_CONFIGS["toy-kl"])
    images = torch.zeros(64, 3, 32, 32)
    images[:, 0, 8:24, 8:24] = 1.0
    images[32:, 2] = 0.5

    def batches():
        generator = torch.Generator().manual_seed(0)
        while True:
            yield images[torch.randint(64, (8,), generator=generator)]

    with torch.no_grad():
        start = (tokenizer.decode_float(tokenizer.encode(images)) - (images * 2 - 1)).abs().mean()
    config = KLTrainConfig(optim=OptimConfig(steps=40, batch_size=8, learning_rate=2e-3, betas=(0.5, 0.9)))
    train_kl_vae(tokenizer, batches(), config, progress=False)
    with torch.no_grad():
        end = (tokenizer.decode_float(tokenizer.encode(images)) - (images * 2 - 1)).abs().mean()
    assert end < 0.5 * start
    assert latent_std(tokenizer, (images * 255).to(torch.uint8)) > 0
    moments = torch.zeros(2, 8, 4, 4)
    assert torch.equal(gaussian_kl(moments), torch.full((2,), 0.0))  # N(0, 1) against itself
