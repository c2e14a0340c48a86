"""The MAR / eMIGM model family: latents -> images, and image i the same in any batch."""

import torch

from reimpl.models.mar import LatentMaskedModel
from reimpl.networks.mar import MAR_CONFIGS, MarNetwork
from reimpl.samplers.emigm import EmigmSampler, EmigmSamplerConfig
from reimpl.tokenizers.kl_vae import KL_VAE_CONFIGS, KLVAETokenizer


def test_generation_is_batch_independent_across_group_boundaries(threads):
    torch.manual_seed(0)
    network = MarNetwork(MAR_CONFIGS["toy-emigm"])
    for parameter in network.diffloss.parameters():
        torch.nn.init.normal_(parameter, std=0.02)
    model = LatentMaskedModel(None, network, KLVAETokenizer(KL_VAE_CONFIGS["toy-kl"]), 32, "emigm")
    model.group_size = 3  # so that 5 images span two groups, the second one padded
    sampler = EmigmSampler(EmigmSamplerConfig(steps=8, cfg=2.0, cfg_t_min=0.0, cfg_t_max=0.5, solver_steps=3))
    labels, seeds = torch.tensor([0, 1, 2, 3, 4]), [5, 6, 7, 8, 9]
    images = model.generate(labels, seeds, sampler)
    assert images.dtype == torch.uint8 and images.shape == (5, 3, 32, 32)
    latents = model.sample_latents(labels, seeds, sampler)
    assert latents.shape == (5, 4, 8, 8)
    for i in (0, 3, 4):
        alone = model.sample_latents(labels[i : i + 1], seeds[i : i + 1], sampler)
        assert torch.equal(alone[0], latents[i])
    assert torch.equal(model.generate(labels[4:], seeds[4:], sampler)[0], images[4])
