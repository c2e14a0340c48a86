"""A synthetic LlamaGen VQ checkpoint with keys enumerated from LlamaGen's own module structure
(tokenizer_image/vq_model.py: conv_blocks / res / attn / mid.N, decoder levels coarsest first)."""

import pytest
import torch

from reimpl.convert.common import UnconsumedKeysError
from reimpl.convert.llamagen import convert_llamagen_vq, llamagen_to_taming_name
from reimpl.tokenizers.taming_vqgan import TAMING_CONFIGS, TamingVQGANConfig, TamingVQGANTokenizer
from tests.converters.synthetic import StateDictBuilder

CONFIG = TamingVQGANConfig(ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(8,), resolution=32,
                           z_channels=8, embed_dim=4, n_embed=32, norm_groups=4, l2_normalized_codebook=True)


def llamagen_state_dict(ch=16, ch_mult=(1, 2, 2), blocks=1, z=8, dim=4, codes=32) -> dict:
    b = StateDictBuilder()
    levels = len(ch_mult)
    b.conv("encoder.conv_in", 3, ch, 3)
    block_in = ch
    for i in range(levels):
        for j in range(blocks):
            b.resnet(f"encoder.conv_blocks.{i}.res.{j}", block_in, ch * ch_mult[i])
            block_in = ch * ch_mult[i]
            if i == levels - 1:
                b.attention(f"encoder.conv_blocks.{i}.attn.{j}", block_in)
        if i != levels - 1:
            b.conv(f"encoder.conv_blocks.{i}.downsample.conv", block_in, block_in, 3)
    for side in ("encoder", "decoder"):
        b.resnet(f"{side}.mid.0", block_in, block_in)
        b.attention(f"{side}.mid.1", block_in)
        b.resnet(f"{side}.mid.2", block_in, block_in)
    b.norm("encoder.norm_out", block_in)
    b.conv("encoder.conv_out", block_in, z, 3)
    b.conv("decoder.conv_in", z, block_in, 3)
    for k, i in enumerate(reversed(range(levels))):  # decoder conv_blocks: coarsest first
        for j in range(blocks + 1):
            b.resnet(f"decoder.conv_blocks.{k}.res.{j}", block_in, ch * ch_mult[i])
            block_in = ch * ch_mult[i]
            if i == levels - 1:
                b.attention(f"decoder.conv_blocks.{k}.attn.{j}", block_in)
        if i != 0:
            b.conv(f"decoder.conv_blocks.{k}.upsample.conv", block_in, block_in, 3)
    b.norm("decoder.norm_out", block_in)
    b.conv("decoder.conv_out", block_in, 3, 3)
    b.conv("quant_conv", z, dim, 1)
    b.conv("post_quant_conv", dim, z, 1)
    b.put("quantize.embedding.weight", codes, dim)
    b.state["quantize.codebook_used"] = torch.zeros(65536)
    return b.state


def test_llamagen_checkpoint_loads_strictly_in_taming_layout():
    state = llamagen_state_dict()
    converted = convert_llamagen_vq({"model": state}, CONFIG)
    tokenizer = TamingVQGANTokenizer(CONFIG)
    tokenizer.load_state_dict(converted, strict=True)
    # decoder conv_blocks.0 is the coarsest level: our up[2]
    assert torch.equal(tokenizer.decoder.up[2].block[0].conv1.weight, state["decoder.conv_blocks.0.res.0.conv1.weight"])
    assert torch.equal(tokenizer.decoder.up[1].upsample.conv.bias, state["decoder.conv_blocks.1.upsample.conv.bias"])
    assert llamagen_to_taming_name("encoder.mid.1.q.weight", 3) == "encoder.mid.attn_1.q.weight"


def test_unit_sphere_lookup_ignores_code_norms():
    tokenizer = TamingVQGANTokenizer(CONFIG).eval()
    images = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    ids = tokenizer.encode(images)
    with torch.no_grad():
        tokenizer.quantize.embedding.weight.mul_(torch.rand(32, 1) * 10 + 0.1)  # rescale each code
    assert torch.equal(tokenizer.encode(images), ids)


def test_real_config_size_and_unexplained_keys():
    with torch.device("meta"):
        real = TamingVQGANTokenizer(TAMING_CONFIGS["llamagen-vq-ds16"])
    assert round(sum(p.numel() for p in real.parameters()) / 1e6) == 72  # "72M" in LlamaGen's README
    state = llamagen_state_dict()
    state["encoder.conv_blocks.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(UnconsumedKeysError):
        convert_llamagen_vq(state, CONFIG)
