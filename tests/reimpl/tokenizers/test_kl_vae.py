"""Continuous tokenizers: the KL-VAE's scaling contract and DC-AE through diffusers."""

import torch

from reimpl.tokenizers.kl_vae import DC_AE_CONFIGS, KL_VAE_CONFIGS, KLVAETokenizer, build_dc_ae, build_kl_vae

TINY_DC_AE = {"autoencoder": dict(
    latent_channels=4, encoder_block_types=("ResBlock", "EfficientViTBlock"),
    decoder_block_types=("ResBlock", "EfficientViTBlock"), encoder_block_out_channels=(16, 32),
    decoder_block_out_channels=(16, 32), encoder_layers_per_block=(1, 1), decoder_layers_per_block=(1, 1),
    encoder_qkv_multiscales=((), ()), decoder_qkv_multiscales=((), ()), decoder_norm_types=("batch_norm", "rms_norm"),
    decoder_act_fns=("relu", "silu"), attention_head_dim=8)}


def test_kl_vae_scales_latents_and_decodes_them_back():
    torch.manual_seed(0)
    unscaled = KLVAETokenizer(KL_VAE_CONFIGS["toy-kl"]).eval()
    scaled = build_kl_vae({"preset": "toy-kl", "scale_factor": 0.5}).eval()
    scaled.load_state_dict(unscaled.state_dict())
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        moments = unscaled.moments(images)
    assert moments.shape == (2, 8, 8, 8) and float(moments[:, 4:].max()) <= 20.0
    torch.testing.assert_close(scaled.encode(images), 0.5 * unscaled.encode(images))
    torch.testing.assert_close(scaled.decode(scaled.encode(images)), unscaled.decode(unscaled.encode(images)))
    assert scaled.decode(scaled.encode(images)).dtype == torch.uint8


def test_mar_kl16_has_no_decoder_attention_outside_the_middle():
    with torch.device("meta"):
        keys = KLVAETokenizer(KL_VAE_CONFIGS["kl16"]).state_dict()
    decoder_attention = {k.split(".attn")[0] for k in keys if k.startswith("decoder") and ".attn" in k}
    assert decoder_attention == {"decoder.mid"}
    assert any(k.startswith("encoder.down.4.attn.1.") for k in keys)  # 16 px level, 2 blocks
    assert tuple(keys["quant_conv.weight"].shape) == (32, 32, 1, 1)


def test_dc_ae_goes_through_diffusers_and_loads_its_own_key_names():
    torch.manual_seed(0)
    tokenizer = build_dc_ae(TINY_DC_AE).eval()
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    latents = tokenizer.encode(images)
    assert latents.shape == (2, 4, 16, 16)
    assert tokenizer.decode(latents).shape == (2, 3, 32, 32)
    diffusers_file = {k: v.clone() for k, v in tokenizer.autoencoder.state_dict().items()}  # no prefix
    fresh = build_dc_ae(TINY_DC_AE)
    fresh.load_state_dict(diffusers_file, strict=True)
    torch.testing.assert_close(fresh.eval().encode(images), latents)
    assert DC_AE_CONFIGS["f32c32-in"]["latent_channels"] == 32
