"""The taming-transformers VQGAN (Esser et al., CVPR 2021; CompVis/taming-transformers
`taming/modules/diffusionmodules/model.py` Encoder/Decoder, `taming/models/vqgan.py` VQModel),
the stage-1 tokenizer maskgit-pytorch evaluates as `taming/vqgan_imagenet_f16_16384`.

Differences from the MaskGIT VQGAN, all as in the official code: biased convs; the 1x1
shortcut takes the block *input*; strided 3x3 conv downsampling with (0, 1, 0, 1) padding;
self-attention blocks (1x1-conv q/k/v/proj) at `attn_resolutions` and in the middle; decoder
levels have num_res_blocks + 1 blocks; 1x1 quant_conv / post_quant_conv around the codebook;
pixels in [-1, 1]. State-dict keys are taming's, so its Lightning checkpoints load after the
`loss.*` (discriminator, LPIPS) entries are set aside.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from reimpl.tokenizers import TOKENIZERS
from reimpl.tokenizers.vqgan import VectorQuantizer  # the embedding table; lookups live here


@dataclasses.dataclass(frozen=True)
class TamingVQGANConfig:
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    resolution: int = 256
    z_channels: int = 256
    embed_dim: int = 256
    n_embed: int = 16384
    norm_groups: int = 32
    l2_normalized_codebook: bool = False  # LlamaGen: codes and encoder outputs on the unit sphere

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


def _norm(channels: int, config: TamingVQGANConfig) -> nn.GroupNorm:
    return nn.GroupNorm(config.norm_groups, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, config: TamingVQGANConfig):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in, config), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out, config), nn.Conv2d(c_out, c_out, 3, padding=1)
        if c_in != c_out:
            self.nin_shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    def __init__(self, channels: int, config: TamingVQGANConfig):
        super().__init__()
        self.norm = _norm(channels, config)
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (proj(y).reshape(b, 1, c, h * w).transpose(2, 3) for proj in (self.q, self.k, self.v))  # (B, 1, hw, C)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C)) v, one head
        return x + self.proj_out(out.transpose(2, 3).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric padding, as taming does by hand


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _level(blocks: list[nn.Module], attns: list[nn.Module]) -> nn.Module:
    level = nn.Module()
    level.block, level.attn = nn.ModuleList(blocks), nn.ModuleList(attns)
    return level


def _middle(channels: int, config: TamingVQGANConfig) -> nn.Module:
    mid = nn.Module()
    mid.block_1, mid.attn_1 = ResnetBlock(channels, channels, config), AttnBlock(channels, config)
    mid.block_2 = ResnetBlock(channels, channels, config)
    return mid


class Encoder(nn.Module):
    def __init__(self, config: TamingVQGANConfig):
        super().__init__()
        self.conv_in = nn.Conv2d(3, config.ch, 3, padding=1)
        self.down = nn.ModuleList()
        c_in, res = config.ch, config.resolution
        for i, mult in enumerate(config.ch_mult):
            c_out = config.ch * mult
            blocks = [ResnetBlock(c_in if j == 0 else c_out, c_out, config) for j in range(config.num_res_blocks)]
            attns = [AttnBlock(c_out, config) for _ in blocks] if res in config.attn_resolutions else []
            level = _level(blocks, attns)
            if i != len(config.ch_mult) - 1:
                level.downsample = Downsample(c_out)
                res //= 2
            self.down.append(level)
            c_in = c_out
        self.mid = _middle(c_in, config)
        self.norm_out = _norm(c_in, config)
        self.conv_out = nn.Conv2d(c_in, config.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)  # (B, C, H/2, W/2)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, z, h, w)


class Decoder(nn.Module):
    def __init__(self, config: TamingVQGANConfig):
        super().__init__()
        levels = len(config.ch_mult)
        c_in = config.ch * config.ch_mult[-1]
        res = config.resolution // config.downsample_factor
        self.conv_in = nn.Conv2d(config.z_channels, c_in, 3, padding=1)
        self.mid = _middle(c_in, config)
        up: list[nn.Module] = []
        for i in reversed(range(levels)):
            c_out = config.ch * config.ch_mult[i]
            blocks = [ResnetBlock(c_in if j == 0 else c_out, c_out, config) for j in range(config.num_res_blocks + 1)]
            attns = [AttnBlock(c_out, config) for _ in blocks] if res in config.attn_resolutions else []
            level = _level(blocks, attns)
            if i != 0:
                level.upsample = Upsample(c_out)
                res *= 2
            up.insert(0, level)  # stored by level, finest first
            c_in = c_out
        self.up = nn.ModuleList(up)
        self.norm_out = _norm(c_in, config)
        self.conv_out = nn.Conv2d(c_in, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for level in reversed(self.up):
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)  # (B, C, 2H, 2W)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 3, H, W) in [-1, 1]


class TamingVQGANTokenizer(nn.Module):
    """images in [0, 1] (converted to taming's [-1, 1] inside) <-> token ids (B, h, w)."""

    pixel_range = (-1.0, 1.0)

    def __init__(self, config: TamingVQGANConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)
        self.quantize = VectorQuantizer(config.n_embed, config.embed_dim)

    @property
    def codebook_size(self) -> int:
        return self.config.n_embed

    def _codes(self) -> torch.Tensor:
        codes = self.quantize.embedding.weight
        return F.normalize(codes, dim=-1) if self.config.l2_normalized_codebook else codes

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        z = self.quant_conv(self.encoder(images * 2 - 1))  # (B, embed_dim, h, w)
        if self.config.l2_normalized_codebook:  # nearest on the sphere (LlamaGen VectorQuantizer)
            z = F.normalize(z, dim=1)
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codes = self._codes()
        distance = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codes.T + codes.pow(2).sum(1)[None, :]
        return distance.argmin(dim=1).view(z.shape[0], z.shape[2], z.shape[3])

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        z_q = self._codes()[ids].permute(0, 3, 1, 2)  # (B, embed_dim, h, w)
        pixels = self.decoder(self.post_quant_conv(z_q))
        return ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


TAMING_CONFIGS = {
    # CompVis vqgan_imagenet_f16_16384 (the yaml from heibox; only n_embed differs from
    # configs/imagenet_vqgan.yaml's 1024 model -- UNVERIFIED beyond n_embed)
    "taming-f16-16384": TamingVQGANConfig(),
    "taming-f16-1024": TamingVQGANConfig(n_embed=1024),
    # FoundationVision/LlamaGen tokenizer/tokenizer_image/vq_model.py VQ_16 (vq_ds16_c2i): the same
    # blocks, attention only at the coarsest level (16 px at 256 input), 16384 unit-norm codes of dim 8.
    "llamagen-vq-ds16": TamingVQGANConfig(embed_dim=8, n_embed=16384, l2_normalized_codebook=True),
}


def build_taming_vqgan(architecture: dict) -> TamingVQGANTokenizer:
    fields = dict(architecture)
    preset = fields.pop("preset", None)
    base = TAMING_CONFIGS[preset] if preset else TamingVQGANConfig()
    for key in ("ch_mult", "attn_resolutions"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return TamingVQGANTokenizer(dataclasses.replace(base, **fields))


TOKENIZERS.add("taming-vqgan", build_taming_vqgan)
