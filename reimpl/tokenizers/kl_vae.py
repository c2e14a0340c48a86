"""Continuous-latent tokenizers for MAR and eMIGM (../shared/spec/mage_emigm.md §2.2, §3.5).

- `kl-vae`: MAR's KL-16 (LTH14/mar `models/vae.py` `AutoencoderKL(embed_dim=16, ch_mult=(1, 1, 2, 2, 4))`),
  which is LDM's KL autoencoder: the taming Encoder/Decoder blocks (reused from
  reimpl/tokenizers/taming_vqgan.py, same key names), the encoder emitting 2 x embed_dim channels
  (`double_z`) with attention at 16 px and in the middle, the decoder with attention only in the
  middle (`attn_resolutions=()`: MAR's KL-16 has no decoder attention, issue #3), 1x1
  `quant_conv` (2C -> 2C) and `post_quant_conv` (C -> C). Images in [-1, 1]. The generator works on
  latents x `scale_factor` (KL-16: 0.2325 = 1 / std over ImageNet train, no shift).
- `dc-ae`: DC-AE f32c32 (`mit-han-lab/dc-ae-f32c32-in-1.0`) through diffusers' AutoencoderDC,
  not rewritten (its config as diffusers' conversion script gives it); scale 0.3189 at 512 px.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import torch
from torch import nn

from reimpl.tokenizers import TOKENIZERS
from reimpl.tokenizers.taming_vqgan import Decoder, Encoder, TamingVQGANConfig


@dataclasses.dataclass(frozen=True)
class KLVAEConfig:
    embed_dim: int = 16
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    encoder_attn_resolutions: tuple[int, ...] = (16,)
    decoder_attn_resolutions: tuple[int, ...] = ()
    resolution: int = 256
    norm_groups: int = 32
    scale_factor: float = 0.2325

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    def blocks(self, z_channels: int, attn_resolutions: tuple[int, ...]) -> TamingVQGANConfig:
        return TamingVQGANConfig(ch=self.ch, ch_mult=self.ch_mult, num_res_blocks=self.num_res_blocks,
                                 attn_resolutions=attn_resolutions, resolution=self.resolution,
                                 z_channels=z_channels, norm_groups=self.norm_groups)


class KLVAETokenizer(nn.Module):
    """uint8 or [0, 1] images <-> latents (B, C, h, w) in the generator's scaled units."""

    pixel_range = (-1.0, 1.0)

    def __init__(self, config: KLVAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.blocks(2 * config.embed_dim, config.encoder_attn_resolutions))
        self.decoder = Decoder(config.blocks(config.embed_dim, config.decoder_attn_resolutions))
        self.quant_conv = nn.Conv2d(2 * config.embed_dim, 2 * config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.embed_dim, 1)

    @property
    def latent_channels(self) -> int:
        return self.config.embed_dim

    def moments(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 2C, h, w): the posterior's mean and log-variance (clamped to [-30, 20]), unscaled;
        what `main_cache.py` stores per image."""
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        mean, logvar = self.quant_conv(self.encoder(images * 2 - 1)).chunk(2, dim=1)
        return torch.cat([mean, logvar.clamp(-30.0, 20.0)], dim=1)

    def sample_latents(self, moments: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A posterior draw (`posterior.sample()`, as training does every step), scaled."""
        mean, logvar = moments.chunk(2, dim=1)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        return (mean + torch.exp(0.5 * logvar) * noise) * self.config.scale_factor

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The posterior mean, scaled (deterministic: used for reconstructions and probes)."""
        return self.moments(images)[:, : self.config.embed_dim] * self.config.scale_factor

    def decode_float(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> pixels in [-1, 1] (unclamped; differentiable for training)."""
        return self.decoder(self.post_quant_conv(latents / self.config.scale_factor))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """-> uint8, np.round(clip((x + 1) / 2 * 255)) as the eMIGM / MAR PNG writers do."""
        pixels = self.decode_float(latents)
        return ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


KL_VAE_CONFIGS = {
    "kl16": KLVAEConfig(),  # MAR's kl16.ckpt
    # toy: 32 px -> 8 x 8 latents of 4 channels; the scale is 1/std of its latents on the toy train split
    "toy-kl": KLVAEConfig(embed_dim=4, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, encoder_attn_resolutions=(8,),
                          resolution=32, norm_groups=8, scale_factor=1.0),
}


def build_kl_vae(architecture: Mapping) -> KLVAETokenizer:
    fields = dict(architecture)
    preset = fields.pop("preset", None)
    for key in ("ch_mult", "encoder_attn_resolutions", "decoder_attn_resolutions"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return KLVAETokenizer(dataclasses.replace(KL_VAE_CONFIGS[preset] if preset else KLVAEConfig(), **fields))


TOKENIZERS.add("kl-vae", build_kl_vae)


# diffusers' scripts/convert_dcae_to_diffusers.py `get_ae_config("dc-ae-f32c32-in-1.0")`
DC_AE_CONFIGS = {
    "f32c32-in": dict(
        latent_channels=32,
        encoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3,
        decoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3,
        encoder_block_out_channels=(128, 256, 512, 512, 1024, 1024),
        decoder_block_out_channels=(128, 256, 512, 512, 1024, 1024),
        encoder_layers_per_block=(0, 4, 8, 2, 2, 2),
        decoder_layers_per_block=(0, 5, 10, 2, 2, 2),
        encoder_qkv_multiscales=((),) * 6,
        decoder_qkv_multiscales=((),) * 6,
        decoder_norm_types=("batch_norm",) * 3 + ("rms_norm",) * 3,
        decoder_act_fns=("relu",) * 3 + ("silu",) * 3,
    ),
}


def _prefix_diffusers_keys(module, state_dict, prefix, *args) -> None:
    """Accept the diffusers file's own key names (no `autoencoder.` prefix)."""
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + "autoencoder.")]:
        state_dict[prefix + "autoencoder." + key[len(prefix):]] = state_dict.pop(key)


class DCAETokenizer(nn.Module):
    """DC-AE as diffusers' AutoencoderDC; the deterministic latent times `scale_factor`. Loads the
    diffusers repo's `diffusion_pytorch_model.safetensors` as it is."""

    pixel_range = (-1.0, 1.0)

    def __init__(self, autoencoder_config: Mapping, scale_factor: float = 0.3189):
        super().__init__()
        from diffusers import AutoencoderDC

        self.autoencoder = AutoencoderDC(**autoencoder_config)
        self.scale_factor = scale_factor
        self._register_load_state_dict_pre_hook(_prefix_diffusers_keys, with_module=True)

    @property
    def latent_channels(self) -> int:
        return int(self.autoencoder.config.latent_channels)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        return self.autoencoder.encode(images * 2 - 1).latent * self.scale_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        pixels = self.autoencoder.decode(latents / self.scale_factor).sample
        return ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def build_dc_ae(architecture: Mapping) -> DCAETokenizer:
    """`preset` names a DC_AE_CONFIGS entry; `autoencoder` overrides its AutoencoderDC arguments."""
    config = {**DC_AE_CONFIGS[architecture.get("preset", "f32c32-in")], **architecture.get("autoencoder", {})}
    return DCAETokenizer(config, float(architecture.get("scale_factor", 0.3189)))


TOKENIZERS.add("dc-ae", build_dc_ae)
