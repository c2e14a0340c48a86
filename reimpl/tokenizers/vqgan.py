"""The MaskGIT VQGAN tokenizer (google-research/maskgit `maskgit/nets/vqgan_tokenizer.py`,
`configs/vqgan_config.py`), reproduced detail for detail, plus a tiny config of the same code
for the toy benchmark.

Faithful details (each checked against the official files, see ../shared/spec/maskgit.md §1):
- no attention anywhere, no quant_conv / post_quant_conv: the codebook is looked up on the
  encoder's 1x1 conv output;
- bias-free 3x3 convs inside ResBlocks and in the encoder stem; GroupNorm(32, eps 1e-6); swish;
- downsampling by 2x2 average pooling, upsampling by nearest x2 then a 3x3 conv;
- the ResBlock shortcut quirk: when the width changes, the 1x1 shortcut is applied to the
  *residual branch's output*, not to the block input (`ResBlock.__call__`), so the input is
  dropped; `shortcut_on_input=True` gives the textbook block instead;
- pixels in [0, 1] in and out.

State-dict keys follow the PyTorch port used by open-muse and 1d-tokenizer
(`encoder.down.{level}.block.{j}.conv1`, `quantize.embedding.weight`, ...), so that port's
checkpoint loads with no renaming.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class VQGANConfig:
    base_filters: int = 128
    channel_multipliers: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    embedding_dim: int = 256
    codebook_size: int = 1024
    norm_groups: int = 32
    norm_eps: float = 1e-6
    shortcut_on_input: bool = False  # False = the official quirk (see module docstring)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_multipliers) - 1)

    def widths(self) -> list[int]:
        return [self.base_filters * m for m in self.channel_multipliers]


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, config: VQGANConfig):
        super().__init__()
        self.norm1 = nn.GroupNorm(config.norm_groups, c_in, eps=config.norm_eps)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(config.norm_groups, c_out, eps=config.norm_eps)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut_on_input = config.shortcut_on_input
        if c_in != c_out:
            # Official: kernel (1, 1, out, out), applied to the branch output.
            shortcut_in = c_in if config.shortcut_on_input else c_out
            self.nin_shortcut = nn.Conv2d(shortcut_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if not hasattr(self, "nin_shortcut"):
            return x + h
        return h + self.nin_shortcut(x if self.shortcut_on_input else h)


class DownLevel(nn.Module):
    def __init__(self, c_in: int, c_out: int, config: VQGANConfig, downsample: bool):
        super().__init__()
        self.block = nn.ModuleList(
            [ResBlock(c_in if j == 0 else c_out, c_out, config) for j in range(config.num_res_blocks)]
        )
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        return F.avg_pool2d(x, 2) if self.downsample else x  # (B, C, H/2, W/2)


class UpLevel(nn.Module):
    def __init__(self, c_in: int, c_out: int, config: VQGANConfig, upsample: bool):
        super().__init__()
        self.block = nn.ModuleList(
            [ResBlock(c_in if j == 0 else c_out, c_out, config) for j in range(config.num_res_blocks)]
        )
        if upsample:
            self.upsample_conv = nn.Conv2d(c_out, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        if hasattr(self, "upsample_conv"):
            x = self.upsample_conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))  # (B, C, 2H, 2W)
        return x


class Encoder(nn.Module):
    def __init__(self, config: VQGANConfig):
        super().__init__()
        widths = config.widths()
        self.conv_in = nn.Conv2d(3, config.base_filters, 3, padding=1, bias=False)
        c_in = config.base_filters
        self.down = nn.ModuleList()
        for level, c_out in enumerate(widths):
            self.down.append(DownLevel(c_in, c_out, config, downsample=level < len(widths) - 1))
            c_in = c_out
        self.mid = nn.ModuleList([ResBlock(c_in, c_in, config) for _ in range(config.num_res_blocks)])
        self.norm_out = nn.GroupNorm(config.norm_groups, c_in, eps=config.norm_eps)
        self.conv_out = nn.Conv2d(c_in, config.embedding_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for level in self.down:
            x = level(x)
        for block in self.mid:
            x = block(x)
        return self.conv_out(F.silu(self.norm_out(x)))  # (B, embedding_dim, h, w)


class Decoder(nn.Module):
    def __init__(self, config: VQGANConfig):
        super().__init__()
        widths = config.widths()
        top = widths[-1]
        self.conv_in = nn.Conv2d(config.embedding_dim, top, 3, padding=1)
        self.mid = nn.ModuleList([ResBlock(top, top, config) for _ in range(config.num_res_blocks)])
        # up[level] is stored by level (up[0] is the finest) and run from the coarsest down.
        self.up = nn.ModuleList(
            UpLevel(widths[min(level + 1, len(widths) - 1)], widths[level], config, upsample=level > 0)
            for level in range(len(widths))
        )
        self.norm_out = nn.GroupNorm(config.norm_groups, widths[0], eps=config.norm_eps)
        self.conv_out = nn.Conv2d(widths[0], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(z)
        for block in self.mid:
            x = block(x)
        for level in reversed(self.up):
            x = level(x)
        return self.conv_out(F.silu(self.norm_out(x)))  # (B, 3, H, W)


class VectorQuantizer(nn.Module):
    """Nearest codebook entry by squared Euclidean distance (`losses.squared_euclidean_distance`),
    no normalisation; straight-through gradients in training."""

    def __init__(self, codebook_size: int, embedding_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, embedding_dim)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D, h, w) -> ids (B, h, w)."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])  # (B*h*w, D)
        codes = self.embedding.weight
        distance = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codes.T + codes.pow(2).sum(1)[None, :]
        return distance.argmin(dim=1).view(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, h, w) -> z_q (B, D, h, w)."""
        return self.embedding(ids).permute(0, 3, 1, 2)


class VQGANTokenizer(nn.Module):
    """images in [0, 1] (B, 3, H, W) <-> token ids (B, h, w)."""

    pixel_range = (0.0, 1.0)

    def __init__(self, config: VQGANConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantize = VectorQuantizer(config.codebook_size, config.embedding_dim)

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction, z_e, z_q, ids); the decoder sees z_q with
        straight-through gradients to z_e."""
        z_e = self.encoder(images)
        ids = self.quantize.nearest(z_e)
        z_q = self.quantize.lookup(ids)
        reconstruction = self.decoder(z_e + (z_q - z_e).detach())
        return reconstruction, z_e, z_q, ids

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) or float in [0, 1] -> ids (B, h, w)."""
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        return self.quantize.nearest(self.encoder(images))

    @torch.no_grad()
    def decode_float(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, h, w) -> float images (B, 3, H, W), nominally in [0, 1] (not clipped). One image
        per decoder call: batched convolutions round differently for different batch sizes, which
        moved pixels by one level, and an image must not depend on the batch it was drawn in."""
        return torch.cat([self.decoder(self.quantize.lookup(ids[i : i + 1])) for i in range(len(ids))])

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, h, w) -> uint8 images (B, 3, H, W): clip to [0, 1], scale, round."""
        return (self.decode_float(ids).clamp(0, 1) * 255).round().to(torch.uint8)


# ----------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------

VQGAN_CONFIGS = {
    # google-research/maskgit configs/vqgan_config.py (256 and 512 px share it)
    "maskgit-f16-1024": VQGANConfig(),
    # Toy benchmark: 32 px -> 8x8 tokens; same code, 3 levels (f4), 32 groups would exceed widths.
    "toy-f4-256": VQGANConfig(
        base_filters=32, channel_multipliers=(1, 2, 2), num_res_blocks=1, embedding_dim=32, codebook_size=256,
        norm_groups=8,
    ),
}


def build_vqgan(architecture: dict) -> VQGANTokenizer:
    """A card's `architecture`: a `preset` name and/or explicit VQGANConfig fields."""
    fields = dict(architecture)
    preset = fields.pop("preset", None)
    base = VQGAN_CONFIGS[preset] if preset else VQGANConfig()
    if "channel_multipliers" in fields:
        fields["channel_multipliers"] = tuple(fields["channel_multipliers"])
    return VQGANTokenizer(dataclasses.replace(base, **fields))


from reimpl.tokenizers import TOKENIZERS  # noqa: E402  (registry lives in the package)

TOKENIZERS.add("vqgan", build_vqgan)
