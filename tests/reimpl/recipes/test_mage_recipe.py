import math

import torch

from reimpl.networks.mage import MageConfig, MageNetwork
from reimpl.recipes.loop import OptimConfig
from reimpl.recipes.mage import MageTrainConfig, mask_and_drop, train_mage, truncated_normal_ratio


def test_mask_ratio_is_the_published_truncated_gaussian():
    config = MageTrainConfig()
    generator = torch.Generator().manual_seed(0)
    draws = torch.tensor([truncated_normal_ratio(config, generator) for _ in range(20_000)])
    assert draws.min() >= 0.5 and draws.max() <= 1.0
    # scipy.stats.truncnorm(-0.2, 1.8, loc=0.55, scale=0.25): mean 0.6936, median 0.6757 (spec §1.3)
    assert abs(draws.mean().item() - 0.6936) < 0.003
    assert abs(draws.median().item() - 0.6757) < 0.005


def test_dropped_positions_are_a_fixed_size_subset_of_the_masked_ones():
    generator = torch.Generator().manual_seed(1)
    masked, dropped = mask_and_drop(64, 256, 0.7, 0.5, generator)
    assert (masked.sum(-1) == math.ceil(256 * 0.7)).all()
    assert (dropped.sum(-1) == 128).all()
    assert not (dropped & ~masked).any()
    assert not torch.equal(masked[0], masked[1])  # one ordering per row


def test_a_short_run_learns_a_fixed_token_grid():
    torch.manual_seed(0)
    config = MageConfig(codebook_size=16, class_slots=1, fake_class_slot=0, num_tokens=16, width=32, depth=1, heads=2,
                        decoder_width=32, decoder_depth=1, decoder_heads=2, dropout=0.0)
    network = MageNetwork(config)
    grid = torch.arange(16) % 16

    def batches():
        while True:
            yield grid.expand(8, 16).clone()

    train_config = MageTrainConfig(optim=OptimConfig(steps=120, batch_size=8, learning_rate=3e-3, betas=(0.9, 0.95),
                                                     weight_decay=0.05, warmup_steps=10, grad_clip=3.0,
                                                     no_decay_on_1d=True))
    logged = train_mage(network, batches(), train_config, progress=False)
    assert logged["acc"] > 0.9  # every position's token is learnable from its position alone
    tokens = torch.full((1, 16), config.mask_token_id)
    assert (network(tokens).argmax(-1)[0] == grid).float().mean() >= 0.9  # even from an all-[MASK] start
