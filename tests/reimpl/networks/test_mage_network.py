import functools
import math

import pytest
import torch

from reimpl.networks.mage import (
    MAGE_CONFIGS, Block, MageConfig, MageNetwork, official_parameter_count, unused_official_parameters,
)

TINY = MageConfig(codebook_size=32, class_slots=10, fake_class_slot=3, num_tokens=16, width=32, depth=2, heads=4,
                  decoder_width=24, decoder_depth=2, decoder_heads=4, dropout=0.0)


@pytest.mark.parametrize("preset, official, unused, keys", [
    # ../shared/spec/mage_emigm.md §1.1: 146.47M (1.58M unused) and 409.89M (2.10M unused), VQGAN excluded
    ("mage-vit-base", 146_474_217, 1_577_472, 256),
    ("mage-vit-large", 409_891_561, 2_103_040, 400),
])
def test_presets_match_the_official_parameter_counts(preset, official, unused, keys):
    config = MAGE_CONFIGS[preset]
    assert official_parameter_count(config) == official
    assert round(official / 1e6, 2) == {"mage-vit-base": 146.47, "mage-vit-large": 409.89}[preset]
    assert sum(math.prod(s) for s in unused_official_parameters(config).values()) == unused
    with torch.device("meta"):
        network = MageNetwork(config)
    # 265 / 409 official MAGE keys minus 8 unused parameters and the position_ids buffer
    assert len(network.state_dict()) == keys
    assert config.vocab_size == 2025 and config.mask_token_id == 2024 and config.fake_class_id == 1100


def test_block_matches_timm_vision_transformer_block():
    timm_vit = pytest.importorskip("timm.models.vision_transformer")
    torch.manual_seed(0)
    ours = Block(32, 4, TINY).eval()
    for p in ours.parameters():
        torch.nn.init.normal_(p, std=0.3)
    reference = timm_vit.Block(32, 4, mlp_ratio=4.0, qkv_bias=True,
                               norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6)).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(3, 7, 32)
    torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)


def test_masked_and_dropped_positions_are_padded_with_the_class_token_projection():
    torch.manual_seed(0)
    network = MageNetwork(TINY).eval()
    tokens = torch.randint(0, 32, (2, 16))
    sequence = network.with_class_token(tokens)
    no = torch.zeros(2, 1, dtype=torch.bool)
    dropped = torch.cat([no, torch.arange(16).expand(2, 16) < 8], 1)
    masked = torch.cat([no, torch.arange(16).expand(2, 16) < 12], 1)
    inputs = torch.where(masked, TINY.mask_token_id, sequence)
    logits = network.decode(network.encode(inputs, dropped), masked, dropped)
    # Dropped positions never reach the encoder: their ids do not matter.
    other = inputs.clone()
    other[:, 1:5] = 7
    torch.testing.assert_close(network.decode(network.encode(other, dropped), masked, dropped), logits)
    # The decoder's input at every masked (dropped or not) position is the class token's projection.
    seen = []
    network.decoder_blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    network.decode(network.encode(inputs, dropped), masked, dropped)
    content = seen[0] - network.decoder_pos_embed_learned  # (2, 17, d)
    for row in range(2):
        torch.testing.assert_close(content[row, masked[row]], content[row, :1].expand(12, -1))
        assert not torch.allclose(content[row, 13], content[row, 0])  # a visible position keeps its own
    assert network(tokens).shape == (2, 16, TINY.codebook_size)


def test_inference_forward_is_the_training_path_without_dropping():
    torch.manual_seed(1)
    network = MageNetwork(TINY).eval()
    tokens = torch.randint(0, 32, (3, 16))
    tokens[:, ::3] = TINY.mask_token_id
    sequence = network.with_class_token(tokens)
    masked = sequence == TINY.mask_token_id
    nothing = torch.zeros_like(masked)
    training_path = network.decode(network.encode(sequence, nothing), masked, nothing, rows=TINY.codebook_size)
    torch.testing.assert_close(network(tokens), training_path[:, 1:])


def test_output_layer_sends_no_gradient_to_the_word_embeddings():
    torch.manual_seed(2)
    network = MageNetwork(TINY)
    tokens = torch.randint(0, 16, (2, 16))  # rows 16..31 of the codebook never enter as inputs
    network(tokens).logsumexp(-1).sum().backward()
    grad = network.token_emb.word_embeddings.weight.grad
    assert grad[16:32].abs().max() == 0  # used by the MlmLayer, yet detached there
    assert grad[:16].abs().max() > 0


def test_pooled_features_are_normalised_means_of_the_image_positions():
    torch.manual_seed(3)
    network = MageNetwork(TINY).eval()
    features = network.pooled_features(torch.randint(0, 32, (4, 16)))
    assert features.shape == (4, 32)
    torch.testing.assert_close(features.mean(-1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(features.var(-1, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
