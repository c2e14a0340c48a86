"""LTH14/mar and ML-GSAI/eMIGM checkpoints: keys written out from `models/mar.py`,
`models/emigm.py`, `models/diffloss.py` and `models/vae.py`, not from our modules."""

import pytest
import torch

from reimpl.convert.common import UnconsumedKeysError
from reimpl.convert.mar_torch import CheckpointLayoutError, convert_kl_vae, convert_mar_checkpoint, select_weights
from reimpl.networks.mar import MAR_CONFIGS, MarNetwork
from reimpl.tokenizers.kl_vae import KL_VAE_CONFIGS, KLVAETokenizer
from tests.converters.synthetic import StateDictBuilder


class MetaBuilder(StateDictBuilder):
    def put(self, name: str, *shape: int) -> None:
        self.state[name] = torch.empty(*shape, device="meta")


def official_backbone_layout(b: StateDictBuilder, width: int, depth: int, token_dim: int, head_width: int,
                             head_depth: int, classes: int, tokens: int, buffer: int, emigm: bool) -> None:
    """`MAR(...)` / `eMIGM(..., use_unsup_cfg=True)` state_dict(), MLP ratio 4, qkv bias."""

    b.put("class_emb.weight", classes, width)
    b.put("fake_latent", 1, width)
    b.linear("z_proj", token_dim, width)
    b.norm("z_proj_ln", width)
    b.put("encoder_pos_embed_learned", 1, tokens + buffer, width)
    for i in range(depth):
        b.vit_block(f"encoder_blocks.{i}", width)
    b.norm("encoder_norm", width)
    b.linear("decoder_embed", width, width)
    if emigm:
        b.state["mask_token"] = b.state["fake_latent"]  # the same Parameter under two names
    else:
        b.put("mask_token", 1, 1, width)
    b.put("decoder_pos_embed_learned", 1, tokens + buffer, width)
    for i in range(depth):
        b.vit_block(f"decoder_blocks.{i}", width)
    b.norm("decoder_norm", width)
    b.put("diffusion_pos_embed_learned", 1, tokens, width)
    net = "diffloss.net"
    b.linear(f"{net}.time_embed.mlp.0", 256, head_width)
    b.linear(f"{net}.time_embed.mlp.2", head_width, head_width)
    b.linear(f"{net}.cond_embed", width, head_width)
    b.linear(f"{net}.input_proj", token_dim, head_width)
    for j in range(head_depth):
        b.norm(f"{net}.res_blocks.{j}.in_ln", head_width)
        b.linear(f"{net}.res_blocks.{j}.mlp.0", head_width, head_width)
        b.linear(f"{net}.res_blocks.{j}.mlp.2", head_width, head_width)
        b.linear(f"{net}.res_blocks.{j}.adaLN_modulation.1", head_width, 3 * head_width)
    b.linear(f"{net}.final_layer.linear", head_width, 2 * token_dim)
    b.linear(f"{net}.final_layer.adaLN_modulation.1", head_width, 2 * head_width)


def _toy_layout(name: str, seed: int = 0) -> dict:
    config = MAR_CONFIGS[name]
    b = StateDictBuilder(seed)
    official_backbone_layout(b, config.width, config.depth, config.token_dim, config.head_width, config.head_depth,
                             config.num_classes, config.num_tokens, config.buffer_size, config.mask_is_fake_latent)
    return b.state


@pytest.mark.parametrize("name, keys", [("mar-b", 364), ("mar-l", 476), ("mar-h", 604), ("emigm-xs-256", 292),
                                        ("emigm-b-512", 380)])
def test_full_size_official_layouts_convert_with_every_key_used(name, keys):
    config = MAR_CONFIGS[name]
    b = MetaBuilder()
    official_backbone_layout(b, config.width, config.depth, config.token_dim, config.head_width, config.head_depth,
                             1000, 256, 64, config.mask_is_fake_latent)
    assert len(b.state) == keys
    checkpoint = {"model": b.state, "model_ema": b.state, "optimizer": {}, "epoch": 799, "args": None}
    converted = convert_mar_checkpoint(checkpoint, config)
    with torch.device("meta"):
        expected = MarNetwork(config).state_dict()
    assert set(converted) == set(expected)


@pytest.mark.parametrize("name", ["toy-mar", "toy-emigm"])
def test_values_land_in_the_right_tensors_and_ema_wins(name):
    ema, raw = _toy_layout(name, seed=1), _toy_layout(name, seed=2)
    network = MarNetwork(MAR_CONFIGS[name])
    network.load_state_dict(convert_mar_checkpoint({"model": raw, "model_ema": ema}, MAR_CONFIGS[name]), strict=True)
    torch.testing.assert_close(network.encoder_blocks[1].attn.qkv.weight, ema["encoder_blocks.1.attn.qkv.weight"])
    torch.testing.assert_close(network.diffloss.net.res_blocks[2].adaLN_modulation[1].bias,
                               ema["diffloss.net.res_blocks.2.adaLN_modulation.1.bias"])
    torch.testing.assert_close(network.mask_token.reshape(-1), ema["mask_token"].reshape(-1))
    only_model = convert_mar_checkpoint({"model": raw}, MAR_CONFIGS[name])  # a training file without EMA
    torch.testing.assert_close(only_model["z_proj.weight"], raw["z_proj.weight"])


def test_emigm_release_with_only_ema_weights():
    state = _toy_layout("toy-emigm")
    entry, _ = select_weights({"model_ema": state})
    assert entry == "model_ema"
    converted = convert_mar_checkpoint({"model_ema": state}, MAR_CONFIGS["toy-emigm"])
    torch.testing.assert_close(converted["mask_token"], converted["fake_latent"])


def test_wrong_family_or_truncated_files_fail_with_the_fix():
    with pytest.raises(CheckpointLayoutError, match="use a MAR card"):
        convert_mar_checkpoint({"model": _toy_layout("toy-mar")}, MAR_CONFIGS["toy-emigm"])
    with pytest.raises(CheckpointLayoutError, match="use an eMIGM card"):
        convert_mar_checkpoint({"model": _toy_layout("toy-emigm")}, MAR_CONFIGS["toy-mar"])
    broken = _toy_layout("toy-mar")
    del broken["decoder_norm.bias"]
    with pytest.raises(KeyError, match="decoder_norm.bias"):
        convert_mar_checkpoint({"model": broken}, MAR_CONFIGS["toy-mar"])
    extra = {**_toy_layout("toy-mar"), "diffloss.net.extra.weight": torch.zeros(1)}
    with pytest.raises(UnconsumedKeysError):
        convert_mar_checkpoint({"model": extra}, MAR_CONFIGS["toy-mar"])


def official_kl_layout(b: StateDictBuilder, ch: int, ch_mult: tuple, blocks: int, embed: int,
                       encoder_attn_levels: set, loss_keys: bool) -> None:
    """LDM `AutoencoderKL` as MAR's models/vae.py builds it (decoder attention only in the middle)."""
    b.conv("encoder.conv_in", 3, ch, 3)
    c_in = ch
    for i, mult in enumerate(ch_mult):
        c_out = ch * mult
        for j in range(blocks):
            b.resnet(f"encoder.down.{i}.block.{j}", c_in if j == 0 else c_out, c_out)
            if i in encoder_attn_levels:
                b.attention(f"encoder.down.{i}.attn.{j}", c_out)
        if i != len(ch_mult) - 1:
            b.conv(f"encoder.down.{i}.downsample.conv", c_out, c_out, 3)
        c_in = c_out
    for part in ("encoder", "decoder"):
        b.resnet(f"{part}.mid.block_1", c_in, c_in)
        b.attention(f"{part}.mid.attn_1", c_in)
        b.resnet(f"{part}.mid.block_2", c_in, c_in)
    b.norm("encoder.norm_out", c_in)
    b.conv("encoder.conv_out", c_in, 2 * embed, 3)
    b.conv("decoder.conv_in", embed, c_in, 3)
    for i in reversed(range(len(ch_mult))):
        c_out = ch * ch_mult[i]
        for j in range(blocks + 1):
            b.resnet(f"decoder.up.{i}.block.{j}", c_in if j == 0 else c_out, c_out)
        if i != 0:
            b.conv(f"decoder.up.{i}.upsample.conv", c_out, c_out, 3)
        c_in = c_out
    b.norm("decoder.norm_out", c_in)
    b.conv("decoder.conv_out", c_in, 3, 3)
    b.conv("quant_conv", 2 * embed, 2 * embed, 1)
    b.conv("post_quant_conv", embed, embed, 1)
    if loss_keys:
        b.put("loss.logvar", 1)
        b.conv("loss.discriminator.main.0", 3, 64, 4)


def test_kl16_layout_converts_and_round_trips():
    b = MetaBuilder()
    official_kl_layout(b, 128, (1, 1, 2, 2, 4), 2, 16, {4}, loss_keys=True)
    converted = convert_kl_vae({"model": b.state}, KL_VAE_CONFIGS["kl16"])
    assert len(converted) == len(b.state) - 3
    toy = KL_VAE_CONFIGS["toy-kl"]
    small = StateDictBuilder(3)
    official_kl_layout(small, toy.ch, toy.ch_mult, toy.num_res_blocks, toy.embed_dim, {2}, loss_keys=False)
    tokenizer = KLVAETokenizer(toy)
    tokenizer.load_state_dict(convert_kl_vae({"model": small.state}, toy), strict=True)
    torch.testing.assert_close(tokenizer.encoder.down[2].attn[0].q.weight, small.state["encoder.down.2.attn.0.q.weight"])
    torch.testing.assert_close(tokenizer.decoder.up[1].upsample.conv.bias, small.state["decoder.up.1.upsample.conv.bias"])
