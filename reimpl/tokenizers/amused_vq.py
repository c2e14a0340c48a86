"""The aMUSEd VQ tokenizer (open-muse `vqgan-f16-8192-laion`), used through diffusers'
`VQModel` rather than rewritten. Pixels in [0, 1] as diffusers' aMUSEd pipelines feed it
(`VaeImageProcessor(do_normalize=False)`); maskgit-pytorch feeds [-1, 1] instead, which the
card notes beside its published numbers."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch
from torch import nn

from reimpl.tokenizers import TOKENIZERS

# diffusers `amused/amused-256` vqvae/config.json (../shared/spec/maskgit.md §5)
AMUSED_VQ_256 = dict(
    in_channels=3, out_channels=3, latent_channels=64, num_vq_embeddings=8192,
    block_out_channels=(128, 256, 256, 512, 768), layers_per_block=2, norm_num_groups=32, act_fn="silu",
    down_block_types=("DownEncoderBlock2D",) * 5, up_block_types=("UpDecoderBlock2D",) * 5,
    mid_block_add_attention=False, lookup_from_codebook=True, force_upcast=True, scaling_factor=0.18215,
)
AMUSED_VQ_CONFIGS = {
    "amused-vq-256": AMUSED_VQ_256,
    "toy-amused-vq": {**AMUSED_VQ_256, "block_out_channels": (32, 32), "down_block_types": ("DownEncoderBlock2D",) * 2,
                      "up_block_types": ("UpDecoderBlock2D",) * 2, "latent_channels": 8, "num_vq_embeddings": 64,
                      "norm_num_groups": 8, "layers_per_block": 1},
}


@dataclasses.dataclass(frozen=True)
class AmusedVQConfig:
    diffusers_config: Mapping[str, Any]

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.diffusers_config["block_out_channels"]) - 1)


class AmusedVQTokenizer(nn.Module):
    """images in [0, 1] (B, 3, H, W) <-> token ids (B, h, w) through diffusers' VQModel."""

    pixel_range = (0.0, 1.0)

    def __init__(self, config: AmusedVQConfig):
        super().__init__()
        from diffusers import VQModel  # optional dependency: pip install -e ".[hf]"

        self.config = config
        self.vq = VQModel(**dict(config.diffusers_config))

    @property
    def codebook_size(self) -> int:
        return self.vq.config.num_vq_embeddings

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        latents = self.vq.encode(images).latents  # (B, C, h, w)
        _, _, (_, _, indices) = self.vq.quantize(latents)
        return indices.view(latents.shape[0], latents.shape[2], latents.shape[3])

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        batch, h, w = ids.shape
        shape = (batch, h, w, self.vq.config.latent_channels)
        images = self.vq.decode(ids.flatten(1), force_not_quantize=True, shape=shape).sample
        return (images.clamp(0, 1) * 255).round().to(torch.uint8)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Accepts diffusers' own vqvae/diffusion_pytorch_model.safetensors keys (no `vq.` prefix)."""
        if not any(key.startswith("vq.") for key in state_dict):
            state_dict = {f"vq.{key}": value for key, value in state_dict.items()}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def build_amused_vq(architecture: Mapping[str, Any]) -> AmusedVQTokenizer:
    fields = dict(architecture)
    preset = fields.pop("preset", "amused-vq-256")
    return AmusedVQTokenizer(AmusedVQConfig({**AMUSED_VQ_CONFIGS[preset], **fields}))


TOKENIZERS.add("amused-vq", build_amused_vq)
