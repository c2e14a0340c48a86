"""A synthetic taming-transformers Lightning checkpoint, its keys enumerated from taming's
Encoder/Decoder/VQModel structure (model.py, vqgan.py), converted and loaded strictly."""

import pytest
import torch

from reimpl.convert.common import UnconsumedKeysError
from reimpl.convert.taming import convert_taming_lightning
from reimpl.tokenizers.taming_vqgan import TamingVQGANConfig, TamingVQGANTokenizer
from tests.converters.synthetic import StateDictBuilder

CONFIG = TamingVQGANConfig(ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(8,), resolution=32,
                           z_channels=8, embed_dim=4, n_embed=32, norm_groups=4)


def taming_state_dict(c: TamingVQGANConfig) -> dict:
    b = StateDictBuilder()
    b.conv("encoder.conv_in", 3, c.ch, 3)
    block_in, res = c.ch, c.resolution
    for i, mult in enumerate(c.ch_mult):
        for j in range(c.num_res_blocks):
            b.resnet(f"encoder.down.{i}.block.{j}", block_in, c.ch * mult)
            block_in = c.ch * mult
            if res in c.attn_resolutions:
                b.attention(f"encoder.down.{i}.attn.{j}", block_in)
        if i != len(c.ch_mult) - 1:
            b.conv(f"encoder.down.{i}.downsample.conv", block_in, block_in, 3)
            res //= 2
    for name in ("encoder.mid", "decoder.mid"):
        b.resnet(f"{name}.block_1", block_in, block_in)
        b.attention(f"{name}.attn_1", block_in)
        b.resnet(f"{name}.block_2", block_in, block_in)
    b.norm("encoder.norm_out", block_in)
    b.conv("encoder.conv_out", block_in, c.z_channels, 3)
    b.conv("decoder.conv_in", c.z_channels, block_in, 3)
    for i in reversed(range(len(c.ch_mult))):
        for j in range(c.num_res_blocks + 1):
            b.resnet(f"decoder.up.{i}.block.{j}", block_in, c.ch * c.ch_mult[i])
            block_in = c.ch * c.ch_mult[i]
            if res in c.attn_resolutions:
                b.attention(f"decoder.up.{i}.attn.{j}", block_in)
        if i != 0:
            b.conv(f"decoder.up.{i}.upsample.conv", block_in, block_in, 3)
            res *= 2
    b.norm("decoder.norm_out", block_in)
    b.conv("decoder.conv_out", block_in, 3, 3)
    b.conv("quant_conv", c.z_channels, c.embed_dim, 1)
    b.conv("post_quant_conv", c.embed_dim, c.z_channels, 1)
    b.put("quantize.embedding.weight", c.n_embed, c.embed_dim)
    b.put("loss.discriminator.main.0.weight", 8, 3, 4, 4)
    b.put("loss.perceptual_loss.lin0.model.1.weight", 1, 64, 1, 1)
    return b.state


def test_lightning_checkpoint_loads_strictly_and_sets_aside_loss_weights():
    state = taming_state_dict(CONFIG)
    converted = convert_taming_lightning({"state_dict": state, "epoch": 3}, CONFIG)
    assert not any(key.startswith("loss.") for key in converted)
    tokenizer = TamingVQGANTokenizer(CONFIG)
    tokenizer.load_state_dict(converted, strict=True)
    assert torch.equal(tokenizer.decoder.up[2].attn[1].q.weight, state["decoder.up.2.attn.1.q.weight"])
    ids = tokenizer.encode(torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8))
    assert ids.shape == (1, 8, 8)


def test_unexplained_keys_fail():
    state = taming_state_dict(CONFIG)
    state["encoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(UnconsumedKeysError, match="encoder.extra.weight"):
        convert_taming_lightning(state, CONFIG)
