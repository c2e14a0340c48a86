"""The MAR / eMIGM backbone: an MAE-style encoder-decoder over continuous tokens with a class
buffer, feeding a per-token diffusion MLP (LTH14/mar `models/mar.py`, ML-GSAI/eMIGM
`models/emigm.py`; ../shared/spec/mage_emigm.md §2.1, §2.3, §3.1).

Layout, as in both official modules (`use_mae=True`, the published setting):
- tokens (B, L, C) -> `z_proj` Linear(C, D); 64 "buffer" slots in front, all filled with the
  class embedding (`class_emb(label)`, or `fake_latent` for the unconditional branch);
  + learned positions (L + 64), then `z_proj_ln`;
- encoder: timm-layout pre-LN ViT blocks (qkv bias, LayerNorm eps 1e-6, dropout 0.1 on
  attention and projections) over the buffer and the *unmasked* tokens only (masked ones are
  dropped, so every row of a batch must hide the same number), `encoder_norm`;
- decoder: `decoder_embed` Linear(D, D'), masked positions padded with `mask_token`, + learned
  positions, blocks, `decoder_norm`; the buffer is cut off and `diffusion_pos_embed_learned`
  added: z (B, L, D') conditions the diffusion head at every position;
- `diffloss.net`: the SimpleMLPAdaLN head (reimpl/networks/diffusion_mlp.py).

The one switch between the two papers: eMIGM's "CFG with mask" (`use_unsup_cfg`) makes
`mask_token` *the same parameter* as `fake_latent`, shape (1, D); MAR keeps its own mask token
of shape (1, 1, D'). The state dicts therefore differ only in that tensor's shape.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from reimpl.layers import AttentionBackend
from reimpl.networks.diffusion_mlp import DiffusionHead
from reimpl.networks.mage import Block, kept_positions


@dataclasses.dataclass(frozen=True)
class MarConfig:
    token_dim: int = 16  # KL-16 latent channels at 256 px (DC-AE f32c32: 32 at 512 px)
    num_tokens: int = 256  # 16 x 16
    buffer_size: int = 64
    num_classes: int = 1000
    width: int = 1024
    depth: int = 16
    heads: int = 16
    decoder_width: int = 1024
    decoder_depth: int = 16
    decoder_heads: int = 16
    mlp_ratio: float = 4.0
    dropout: float = 0.1  # attn_dropout = proj_dropout
    layer_norm_eps: float = 1e-6
    head_width: int = 1024  # diffloss_w
    head_depth: int = 3  # diffloss_d
    mask_is_fake_latent: bool = False  # eMIGM's use_unsup_cfg
    attention_backend: AttentionBackend = "sdpa"

    @property
    def null_label(self) -> int:
        """The label id that selects `fake_latent` (the unconditional class)."""
        return self.num_classes


class MarNetwork(nn.Module):
    def __init__(self, config: MarConfig):
        super().__init__()
        if config.mask_is_fake_latent and config.width != config.decoder_width:
            raise ValueError("eMIGM's mask token is fake_latent: encoder and decoder widths must match")
        self.config = config
        positions = config.num_tokens + config.buffer_size
        self.class_emb = nn.Embedding(config.num_classes, config.width)
        self.fake_latent = nn.Parameter(torch.zeros(1, config.width))
        self.z_proj = nn.Linear(config.token_dim, config.width)
        self.z_proj_ln = nn.LayerNorm(config.width, eps=1e-6)
        self.encoder_pos_embed_learned = nn.Parameter(torch.zeros(1, positions, config.width))
        self.encoder_blocks = nn.ModuleList(Block(config.width, config.heads, config) for _ in range(config.depth))
        self.encoder_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.decoder_embed = nn.Linear(config.width, config.decoder_width)
        # Tied: one Parameter under two names, so both keys appear in the state dict (as officially).
        self.mask_token = self.fake_latent if config.mask_is_fake_latent else nn.Parameter(
            torch.zeros(1, 1, config.decoder_width))
        self.decoder_pos_embed_learned = nn.Parameter(torch.zeros(1, positions, config.decoder_width))
        self.decoder_blocks = nn.ModuleList(
            Block(config.decoder_width, config.decoder_heads, config) for _ in range(config.decoder_depth))
        self.decoder_norm = nn.LayerNorm(config.decoder_width, eps=config.layer_norm_eps)
        self.diffusion_pos_embed_learned = nn.Parameter(torch.zeros(1, config.num_tokens, config.decoder_width))
        self._initialise()
        # Built after the backbone's init, as officially: the head keeps its own (zeroed) init.
        self.diffloss = DiffusionHead(config.token_dim, config.head_width, config.head_depth, config.decoder_width)

    def _initialise(self) -> None:
        for parameter in (self.class_emb.weight, self.fake_latent, self.encoder_pos_embed_learned,
                          self.decoder_pos_embed_learned, self.diffusion_pos_embed_learned):
            nn.init.normal_(parameter, std=0.02)
        if not self.config.mask_is_fake_latent:
            nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm) and module.weight is not None:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def head(self) -> nn.Module:
        return self.diffloss.net

    def class_embedding(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) labels -> (B, D); `null_label` selects fake_latent (unconditional / CFG branch)."""
        null = labels == self.config.null_label
        embedded = self.class_emb(torch.where(null, 0, labels))
        return torch.where(null[:, None], self.fake_latent.to(embedded.dtype), embedded)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, class_embedding: torch.Tensor) -> torch.Tensor:
        """tokens (B, L, C), mask (B, L) bool (True = unknown, the same count in every row),
        class_embedding (B, D) -> diffusion conditions z (B, L, D')."""
        return self.decode(self.encode(tokens, mask, class_embedding), mask)

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor, class_embedding: torch.Tensor) -> torch.Tensor:
        batch, buffer = tokens.shape[0], self.config.buffer_size
        x = self.z_proj(tokens)
        x = torch.cat([class_embedding[:, None].to(x.dtype).expand(batch, buffer, -1), x], dim=1)
        x = self.z_proj_ln(x + self.encoder_pos_embed_learned)
        dropped = torch.cat([mask.new_zeros(batch, buffer), mask], dim=1)
        kept = kept_positions(dropped)
        x = torch.gather(x, 1, kept[..., None].expand(-1, -1, x.shape[-1]))
        for block in self.encoder_blocks:
            x = block(x)
        return self.encoder_norm(x)

    def decode(self, encoded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, buffer = mask.shape[0], self.config.buffer_size
        x = self.decoder_embed(encoded)
        dropped = torch.cat([mask.new_zeros(batch, buffer), mask], dim=1)
        padded = self.mask_token.reshape(1, 1, -1).to(x.dtype).expand(batch, dropped.shape[1], -1).clone()
        kept = kept_positions(dropped)
        padded.scatter_(1, kept[..., None].expand(-1, -1, x.shape[-1]), x)
        x = padded + self.decoder_pos_embed_learned
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_norm(x)[:, buffer:] + self.diffusion_pos_embed_learned


def parameter_count(config: MarConfig) -> int:
    """Distinct parameters (eMIGM's tied mask token counted once), built on the meta device."""
    with torch.device("meta"):
        return sum(p.numel() for p in MarNetwork(config).parameters())


# ----------------------------------------------------------------------------------------
# Presets: the official size functions (mar_base/large/huge, emigm_xsmall ... huge) with the
# diffusion-MLP sizes of their evaluation scripts (bash/evaluate/*.sh, MAR README).
# ----------------------------------------------------------------------------------------

def _size(width: int, depth: int, heads: int, head_depth: int, head_width: int, **fields) -> MarConfig:
    return MarConfig(width=width, depth=depth, heads=heads, decoder_width=width, decoder_depth=depth,
                     decoder_heads=heads, head_depth=head_depth, head_width=head_width, **fields)


_MAR_SIZES = {"b": (768, 12, 12, 6, 1024), "l": (1024, 16, 16, 8, 1280), "h": (1280, 20, 16, 12, 1536)}
_EMIGM_SIZES_256 = {"xs": (448, 10, 8, 3, 1024), "s": (512, 12, 8, 3, 1024), "b": (768, 12, 12, 6, 1024),
                    "l": (1024, 16, 16, 8, 1280), "h": (1280, 20, 16, 12, 1536)}
_EMIGM_SIZES_512 = {"xs": (448, 10, 8, 6, 1280), "s": (512, 12, 8, 6, 1280), "b": (768, 12, 12, 8, 1280),
                    "l": (1024, 16, 16, 8, 1280)}

MAR_CONFIGS: dict[str, MarConfig] = {
    **{f"mar-{size}": _size(*dims) for size, dims in _MAR_SIZES.items()},
    **{f"emigm-{size}-256": _size(*dims, mask_is_fake_latent=True) for size, dims in _EMIGM_SIZES_256.items()},
    # 512 px: DC-AE f32c32 latents, so 16 x 16 tokens of 32 channels
    **{f"emigm-{size}-512": _size(*dims, token_dim=32, mask_is_fake_latent=True)
       for size, dims in _EMIGM_SIZES_512.items()},
    # toy: 8 x 8 latents of 4 channels (toy-kl), a 12-class buffer of 4 slots
    "toy-emigm": MarConfig(token_dim=4, num_tokens=64, buffer_size=4, num_classes=12, width=128, depth=3, heads=4,
                           decoder_width=128, decoder_depth=3, decoder_heads=4, dropout=0.0, head_width=128,
                           head_depth=3, mask_is_fake_latent=True),
}
MAR_CONFIGS["toy-mar"] = dataclasses.replace(MAR_CONFIGS["toy-emigm"], mask_is_fake_latent=False)
