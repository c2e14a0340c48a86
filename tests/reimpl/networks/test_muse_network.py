import pytest
import torch

from reimpl.networks.muse import MuseConfig, MuseNetwork

SMALL = dict(codebook_size=32, num_tokens=16, width=32, depth=1, heads=4, head_dim=8, text_width=8)


def test_superres_stage_cross_attends_to_lowres_tokens_at_their_positions():
    torch.manual_seed(0)
    network = MuseNetwork(MuseConfig(**SMALL, cond_codebook_size=20, cond_num_tokens=4)).eval()
    tokens, text = torch.randint(0, 33, (2, 16)), torch.randn(2, 3, 8)
    valid = torch.ones(2, 3, dtype=torch.bool)
    lowres = torch.randint(0, 20, (2, 4))
    with torch.no_grad():
        base = network(tokens, text, valid, lowres)
        other = network(tokens, text, valid, lowres.flip(-1))  # same tokens, other places
    assert base.shape == (2, 16, 32)
    assert (base - other).abs().max() > 1e-4
    with pytest.raises(ValueError, match="low-resolution tokens"):
        network(tokens, text, valid)


def test_dropped_text_is_ignored_whatever_it_holds():
    torch.manual_seed(0)
    network = MuseNetwork(MuseConfig(**SMALL)).eval()
    tokens = torch.randint(0, 33, (2, 16))
    dropped = torch.zeros(2, 3, dtype=torch.bool)
    with torch.no_grad():
        first = network(tokens, torch.randn(2, 3, 8), dropped)
        second = network(tokens, torch.randn(2, 3, 8), dropped)
        visible = network(tokens, torch.randn(2, 3, 8), ~dropped)
    torch.testing.assert_close(first, second)
    assert (first - visible).abs().max() > 1e-4


def test_critic_head_and_token_count_check():
    network = MuseNetwork(MuseConfig(**SMALL, out_dim=1))
    assert network(torch.zeros(1, 16, dtype=torch.long), torch.zeros(1, 2, 8), torch.ones(1, 2, dtype=torch.bool)).shape == (1, 16, 1)
    with pytest.raises(ValueError, match="16 tokens"):
        network(torch.zeros(1, 9, dtype=torch.long), torch.zeros(1, 2, 8), torch.ones(1, 2, dtype=torch.bool))
