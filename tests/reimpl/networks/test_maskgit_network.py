import pytest
import torch

from reimpl.networks.maskgit import MASKGIT_CONFIGS, MaskGitNetwork

# Official parameter counts (../shared/spec/maskgit.md §2, computed from the config and equal
# to the paper's 227M once the 54,515,587-parameter tokenizer is added).
OFFICIAL = {"maskgit-imagenet256": 172_457_193, "maskgit-imagenet512": 173_047_017}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_real_configs_match_official_parameter_counts(name):
    with torch.device("meta"):
        network = MaskGitNetwork(MASKGIT_CONFIGS[name])
    assert sum(p.numel() for p in network.parameters()) == OFFICIAL[name]
    assert network.config.vocab_size == 2025 and network.mask_token_id == 2024


def test_forward_shapes_and_tied_head():
    network = MaskGitNetwork(MASKGIT_CONFIGS["toy-maskgit"]).eval()
    tokens = torch.randint(0, 256, (3, 64))
    logits = network(tokens, torch.tensor([0, 5, 12]))  # 12 = the null class
    assert logits.shape == (3, 64, 256)
    full = network.forward_sequence(torch.cat([network.class_tokens(torch.tensor([0, 5, 12]))[:, None], tokens], 1))
    assert torch.allclose(full[:, 1:, :256], logits)
    assert full.shape[-1] == network.config.vocab_size == 256 + 12 + 1 + 1
    with torch.no_grad():  # the output projection is the word embedding (tied)
        network.word_embeddings.weight[3] += 1.0
    assert not torch.allclose(network(tokens, torch.tensor([0, 5, 12]))[..., 3], logits[..., 3])
