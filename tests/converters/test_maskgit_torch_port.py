"""The open-muse / 1d-tokenizer PyTorch port of the MaskGIT VQGAN: key names written out from
that port's module structure (muse/modeling_maskgit_vqgan.py), not from our module."""

import pytest
import torch

from reimpl.convert.common import UnconsumedKeysError
from reimpl.convert.maskgit_torch_port import convert_maskgit_torch_port
from reimpl.tokenizers.vqgan import VQGAN_CONFIGS, VQGANTokenizer
from tests.converters.synthetic import StateDictBuilder


def port_state_dict(widths=(128, 128, 256, 256, 512), blocks=2, z=256, codes=1024) -> dict:
    b = StateDictBuilder()

    def resnet(prefix, c_in, c_out):  # bias-free convs, out->out shortcut (the official quirk)
        b.resnet(prefix, c_in, c_out, bias=False, shortcut_in=c_out)

    b.conv("encoder.conv_in", 3, widths[0], 3, bias=False)
    c_in = widths[0]
    for i, width in enumerate(widths):  # DownsamplingBlock(block_idx=i)
        for j in range(blocks):
            resnet(f"encoder.down.{i}.block.{j}", c_in, width)
            c_in = width
    for j in range(blocks):
        resnet(f"encoder.mid.{j}", widths[-1], widths[-1])
    b.norm("encoder.norm_out", widths[-1])
    b.conv("encoder.conv_out", widths[-1], z, 1)
    b.conv("decoder.conv_in", z, widths[-1], 3)
    for j in range(blocks):
        resnet(f"decoder.mid.{j}", widths[-1], widths[-1])
    for i, width in enumerate(widths):  # UpsamplingBlock(block_idx=i), stored in level order
        c_in = widths[min(i + 1, len(widths) - 1)]
        for j in range(blocks):
            resnet(f"decoder.up.{i}.block.{j}", c_in, width)
            c_in = width
        if i != 0:
            b.conv(f"decoder.up.{i}.upsample_conv", width, width, 3)
    b.norm("decoder.norm_out", widths[0])
    b.conv("decoder.conv_out", widths[0], 3, 3)
    b.put("quantize.embedding.weight", codes, z)
    return b.state


def test_port_checkpoint_loads_strictly():
    state = port_state_dict()
    assert len(state) == 168
    converted = convert_maskgit_torch_port(state)
    tokenizer = VQGANTokenizer(VQGAN_CONFIGS["maskgit-f16-1024"])
    tokenizer.load_state_dict(converted, strict=True)
    assert torch.equal(tokenizer.decoder.up[3].upsample_conv.bias, state["decoder.up.3.upsample_conv.bias"])


def test_port_checkpoint_with_extra_or_misshapen_keys_fails():
    state = port_state_dict()
    state["loss.discriminator.weight"] = torch.zeros(1)
    with pytest.raises(UnconsumedKeysError):
        convert_maskgit_torch_port(state)
    state = port_state_dict()
    state["quantize.embedding.weight"] = torch.zeros(512, 256)
    with pytest.raises(ValueError, match="shape"):
        convert_maskgit_torch_port(state)
