"""LTH14/mage checkpoints: keys written out from `models_mage.py` and its taming VQGAN
(`taming/modules/diffusionmodules/model.py`), not from our modules."""

import pytest
import torch

from reimpl.convert.common import UnconsumedKeysError
from reimpl.convert.mage_torch import convert_mage_checkpoint, convert_mage_vqgan
from reimpl.networks.mage import MAGE_CONFIGS, MageConfig, MageNetwork
from reimpl.tokenizers.vqgan import VQGANConfig, VQGANTokenizer
from tests.converters.synthetic import StateDictBuilder


class MetaBuilder(StateDictBuilder):
    """Shapes only (for the full-size layouts)."""

    def put(self, name: str, *shape: int) -> None:
        self.state[name] = torch.empty(*shape, device="meta")


def official_mage_layout(b: StateDictBuilder, width: int, depth: int, dec_width: int, dec_depth: int,
                         vocab: int = 2025, tokens: int = 256, patch: int = 16) -> None:
    """MaskedGenerativeEncoderViT.state_dict() without the VQGAN."""

    b.put("cls_token", 1, 1, width)
    b.put("pos_embed", 1, tokens + 1, width)
    b.put("mask_token", 1, 1, dec_width)
    b.put("decoder_pos_embed", 1, tokens + 1, dec_width)
    b.put("decoder_pos_embed_learned", 1, tokens + 1, dec_width)
    b.put("token_emb.word_embeddings.weight", vocab, width)
    b.put("token_emb.position_embeddings.weight", tokens + 1, width)
    b.norm("token_emb.LayerNorm", width)
    b.state["token_emb.position_ids"] = torch.arange(tokens + 1)[None]
    b.conv("patch_embed.proj", 3, width, patch)
    for i in range(depth):
        b.vit_block(f"blocks.{i}", width)
    b.norm("norm", width)
    b.put("decoder_embed.weight", dec_width, width)
    b.put("decoder_embed.bias", dec_width)
    for i in range(dec_depth):
        b.vit_block(f"decoder_blocks.{i}", dec_width)
    b.norm("decoder_norm", dec_width)
    b.put("decoder_pred.weight", patch * patch * 3, dec_width)
    b.put("decoder_pred.bias", patch * patch * 3)
    b.put("mlm_layer.fc.weight", width, dec_width)
    b.put("mlm_layer.fc.bias", width)
    b.norm("mlm_layer.ln", width)
    b.put("mlm_layer.bias", 1, 1, vocab)


def official_taming_vqgan_layout(b: StateDictBuilder, prefix: str = "", ch: int = 128, ch_mult=(1, 1, 2, 2, 4),
                                 blocks: int = 2, z: int = 256, codes: int = 1024) -> None:
    """taming Encoder/Decoder as MAGE configures them (no attention, no quant convs, bias-free
    ResBlock convs whose 1x1 shortcut maps out->out)."""

    def resnet(name, c_in, c_out):
        b.resnet(prefix + name, c_in, c_out, bias=False, shortcut_in=c_out)

    widths = [ch * m for m in ch_mult]
    b.conv(prefix + "encoder.conv_in", 3, ch, 3, bias=False)
    block_in = ch
    for i, width in enumerate(widths):
        for j in range(blocks):
            resnet(f"encoder.down.{i}.block.{j}", block_in, width)
            block_in = width
    for k in (1, 2):
        resnet(f"encoder.mid.block_{k}", block_in, block_in)
    b.norm(prefix + "encoder.norm_out", block_in)
    b.conv(prefix + "encoder.conv_out", block_in, z, 1)
    b.conv(prefix + "decoder.conv_in", z, widths[-1], 3)
    for k in (1, 2):
        resnet(f"decoder.mid.block_{k}", widths[-1], widths[-1])
    block_in = widths[-1]
    for i in reversed(range(len(widths))):
        for j in range(blocks):
            resnet(f"decoder.up.{i}.block.{j}", block_in, widths[i])
            block_in = widths[i]
        if i != 0:
            b.conv(prefix + f"decoder.up.{i}.upsample.conv", block_in, block_in, 3)
    b.norm(prefix + "decoder.norm_out", block_in)
    b.conv(prefix + "decoder.conv_out", block_in, 3, 3)
    b.put(prefix + "quantize.embedding.weight", codes, z)


@pytest.mark.parametrize("preset, width, depth, official_keys", [
    ("mage-vit-base", 768, 12, 433), ("mage-vit-large", 1024, 24, 577),
])
def test_full_size_checkpoint_layout_is_fully_accounted_for(preset, width, depth, official_keys):
    b = MetaBuilder()
    official_mage_layout(b, width, depth, width, 8)
    official_taming_vqgan_layout(b, prefix="vqgan.")
    assert len(b.state) == official_keys  # ../shared/spec/mage_emigm.md §1.1
    converted = convert_mage_checkpoint({"model": b.state}, MAGE_CONFIGS[preset])
    assert len(converted.network) + len(converted.tokenizer) + len(converted.ignored) == official_keys
    assert len(converted.tokenizer) == 168
    assert sorted(converted.ignored) == sorted([
        "cls_token", "pos_embed", "mask_token", "decoder_pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
        "decoder_pred.weight", "decoder_pred.bias", "token_emb.position_ids",
    ])
    assert all(reason for reason in converted.ignored.values())


TINY = MageConfig(codebook_size=32, class_slots=10, fake_class_slot=3, num_tokens=16, width=32, depth=2, heads=4,
                  decoder_width=24, decoder_depth=1, decoder_heads=4, dropout=0.0)
TINY_VQ = VQGANConfig(base_filters=8, channel_multipliers=(1, 2, 2), num_res_blocks=2, embedding_dim=4,
                      codebook_size=32, norm_groups=4)


def tiny_checkpoint() -> dict:
    b = StateDictBuilder(seed=3)
    official_mage_layout(b, TINY.width, TINY.depth, TINY.decoder_width, TINY.decoder_depth, vocab=TINY.vocab_size,
                         tokens=TINY.num_tokens, patch=4)
    official_taming_vqgan_layout(b, "vqgan.", ch=8, ch_mult=(1, 2, 2), blocks=2, z=4, codes=32)
    return b.state


def test_tiny_checkpoint_loads_strictly_with_every_tensor_in_place():
    state = tiny_checkpoint()
    converted = convert_mage_checkpoint({"model": state, "epoch": 1599}, TINY, TINY_VQ)
    network = MageNetwork(TINY)
    network.load_state_dict(converted.network, strict=True)
    tokenizer = VQGANTokenizer(TINY_VQ)
    tokenizer.load_state_dict(converted.tokenizer, strict=True)
    assert torch.equal(network.blocks[1].attn.qkv.weight, state["blocks.1.attn.qkv.weight"])
    assert torch.equal(network.mlm_layer.bias, state["mlm_layer.bias"])
    assert torch.equal(tokenizer.encoder.mid[1].conv2.weight, state["vqgan.encoder.mid.block_2.conv2.weight"])
    assert torch.equal(tokenizer.decoder.mid[0].norm1.bias, state["vqgan.decoder.mid.block_1.norm1.bias"])
    assert torch.equal(tokenizer.decoder.up[2].upsample_conv.weight, state["vqgan.decoder.up.2.upsample.conv.weight"])
    assert torch.equal(tokenizer.decoder.up[0].block[0].nin_shortcut.weight,
                       state["vqgan.decoder.up.0.block.0.nin_shortcut.weight"])


def test_standalone_vqgan_file_converts_with_or_without_state_dict_wrapper():
    b = StateDictBuilder(seed=4)
    official_taming_vqgan_layout(b, "", ch=8, ch_mult=(1, 2, 2), blocks=2, z=4, codes=32)
    plain = convert_mage_vqgan(b.state, TINY_VQ)
    wrapped = convert_mage_vqgan({"state_dict": b.state}, TINY_VQ)
    assert plain.keys() == wrapped.keys() == VQGANTokenizer(TINY_VQ).state_dict().keys()


def test_unknown_missing_and_misshapen_keys_fail():
    state = tiny_checkpoint()
    with pytest.raises(UnconsumedKeysError, match="mage_c_head"):
        convert_mage_checkpoint({**state, "mage_c_head.weight": torch.zeros(2)}, TINY, TINY_VQ)
    missing = dict(state)
    del missing["blocks.0.norm1.weight"]
    with pytest.raises(KeyError, match="blocks.0.norm1.weight"):
        convert_mage_checkpoint(missing, TINY, TINY_VQ)
    with pytest.raises(ValueError, match="shape"):
        convert_mage_checkpoint(state, MageConfig(**{**TINY.__dict__, "width": 48}), TINY_VQ)
