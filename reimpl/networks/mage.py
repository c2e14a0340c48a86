"""The MAGE masked generative encoder (Li et al., CVPR 2023; LTH14/mage `models_mage.py`).

Layout, as in the official code (../shared/spec/mage_emigm.md §1.1):
- sequence = [fake class token, h*w image tokens]; the vocabulary is codebook | class slots |
  mask, and every sequence starts with the same fake class id (1100 in the released weights:
  codebook 1024 + slot 76; the slots exist only to load the JAX checkpoint);
- `token_emb`: BERT embeddings (word + learned positions, LayerNorm eps 1e-6, dropout 0.1), no
  second positional embedding;
- encoder: pre-LN ViT blocks (timm `Block` layout: fused qkv with bias, GELU MLP, dropout 0.1 on
  attention and projections) over the tokens that were *not dropped*; in training half of the
  positions are dropped, the rest of the masked ones enter as [MASK] ids;
- decoder: Linear(enc -> dec), then every dropped or masked position is filled with the
  decoder-projected output of the fake class token (`pad_with_cls_token = True`; the checkpoint's
  `mask_token` is never used), + learned positions, pre-LN blocks, LayerNorm;
- `mlm_layer`: Linear -> GELU -> LayerNorm (eps 1e-5) -> logits against the *detached* word
  embeddings + a bias; only the first `codebook_size` logits are ever used.
The official module also holds parameters it never uses (patch_embed, cls_token, the fixed
sin-cos pos_embed / decoder_pos_embed, mask_token, decoder_pred); they are left out here and
listed in `UNUSED_OFFICIAL_PARAMETERS` so parameter counts can still be compared.
Initialisation: xavier-uniform Linear weights, zero biases, normal(0.02) embeddings and learned
decoder positions.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from reimpl.layers import AttentionBackend, attention


@dataclasses.dataclass(frozen=True)
class MageConfig:
    codebook_size: int = 1024
    class_slots: int = 1000  # vocabulary rows between the codebook and the mask id
    fake_class_slot: int = 76  # the released weights prepend id codebook_size + 76 = 1100 (issue #53)
    num_tokens: int = 256  # h*w image tokens
    width: int = 768
    depth: int = 12
    heads: int = 12
    decoder_width: int = 768
    decoder_depth: int = 8
    decoder_heads: int = 16
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    layer_norm_eps: float = 1e-6
    mlm_norm_eps: float = 1e-5  # the MlmLayer's nn.LayerNorm keeps torch's default eps
    drop_ratio: float = 0.5  # `mask_ratio_min`: the fraction of positions dropped from the encoder in training
    attention_backend: AttentionBackend = "sdpa"

    @property
    def vocab_size(self) -> int:
        return self.codebook_size + self.class_slots + 1

    @property
    def mask_token_id(self) -> int:
        return self.vocab_size - 1

    @property
    def fake_class_id(self) -> int:
        return self.codebook_size + self.fake_class_slot


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, backend: AttentionBackend):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.dropout = dropout
        self.backend = backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        # The official code max-subtracts fp32 logits before the softmax; SDPA is already stable.
        mixed = attention(qkv[0], qkv[1], qkv[2], self.backend, self.dropout if self.training else 0.0)
        return F.dropout(self.proj(mixed.transpose(1, 2).reshape(batch, length, width)), self.dropout, self.training)


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-LN: x = x + Attn(LN(x)); x = x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, config: MageConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.attn = Attention(width, heads, config.dropout, config.attention_backend)
        self.norm2 = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.mlp = Mlp(width, int(width * config.mlp_ratio), config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TokenEmbedding(nn.Module):
    """BERT embeddings: word + learned absolute position, LayerNorm, dropout."""

    def __init__(self, config: MageConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.width)
        self.position_embeddings = nn.Embedding(config.num_tokens + 1, config.width)
        self.LayerNorm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)  # noqa: N815 -- official key name
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(sequence.shape[1], device=sequence.device)
        return self.dropout(self.LayerNorm(self.word_embeddings(sequence) + self.position_embeddings(positions)[None]))


class MlmLayer(nn.Module):
    def __init__(self, config: MageConfig):
        super().__init__()
        self.fc = nn.Linear(config.decoder_width, config.width)
        self.ln = nn.LayerNorm(config.width, eps=config.mlm_norm_eps)
        self.bias = nn.Parameter(torch.zeros(1, 1, config.vocab_size))

    def forward(self, x: torch.Tensor, word_embeddings: torch.Tensor, rows: int | None = None) -> torch.Tensor:
        hidden = self.ln(F.gelu(self.fc(x)))
        return hidden @ word_embeddings[:rows].T + self.bias[..., :rows]


class MageNetwork(nn.Module):
    """MAGE's encoder, decoder and MlmLayer (the frozen VQGAN lives in the model, not here).

    `forward(tokens, cond)` is the sampler's logits function: image tokens (B, L) with mask ids,
    no dropping (as in `gen_img_uncond.py`) -> codebook logits (B, L, codebook_size); `cond` is
    ignored, MAGE is unconditional.
    """

    def __init__(self, config: MageConfig):
        super().__init__()
        self.config = config
        self.token_emb = TokenEmbedding(config)
        self.blocks = nn.ModuleList(Block(config.width, config.heads, config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.decoder_embed = nn.Linear(config.width, config.decoder_width)
        self.decoder_pos_embed_learned = nn.Parameter(torch.zeros(1, config.num_tokens + 1, config.decoder_width))
        self.decoder_blocks = nn.ModuleList(
            Block(config.decoder_width, config.decoder_heads, config) for _ in range(config.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(config.decoder_width, eps=config.layer_norm_eps)
        self.mlm_layer = MlmLayer(config)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.token_emb.word_embeddings.weight, std=0.02)
        nn.init.normal_(self.token_emb.position_embeddings.weight, std=0.02)
        nn.init.normal_(self.decoder_pos_embed_learned, std=0.02)
        nn.init.zeros_(self.mlm_layer.bias)

    @property
    def mask_token_id(self) -> int:
        return self.config.mask_token_id

    def with_class_token(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) image tokens -> (B, 1 + L) with the fake class id in front."""
        fake = torch.full((tokens.shape[0], 1), self.config.fake_class_id, dtype=tokens.dtype, device=tokens.device)
        return torch.cat([fake, tokens], dim=1)

    def encode(self, sequence: torch.Tensor, dropped: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1 + L) ids -> encoder output (B, K, D) over the K positions not dropped (K = 1 + L
        without dropping; `dropped` drops the same number of positions in every row)."""
        x = self.token_emb(sequence)  # (B, 1+L, D)
        if dropped is not None:
            x = x.gather(1, kept_positions(dropped)[..., None].expand(-1, -1, x.shape[-1]))  # (B, K, D)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def decode(self, encoded: torch.Tensor, masked: torch.Tensor, dropped: torch.Tensor | None = None,
               rows: int | None = None) -> torch.Tensor:
        """Encoder output (B, K, D) -> logits (B, 1 + L, rows or vocab). `masked` and `dropped`
        are (B, 1 + L) bools; position 0 (the class token) is never masked or dropped."""
        x = self.decoder_embed(encoded)  # (B, K, d)
        filler = x[:, :1].expand(-1, masked.shape[1], -1)  # the class token's projection, everywhere
        if dropped is not None:
            index = kept_positions(dropped)[..., None].expand(-1, -1, x.shape[-1])
            x = filler.clone().scatter(1, index, x)  # (B, 1+L, d)
        x = torch.where(masked[..., None], filler, x) + self.decoder_pos_embed_learned
        for block in self.decoder_blocks:
            x = block(x)
        return self.mlm_layer(self.decoder_norm(x), self.token_emb.word_embeddings.weight.detach(), rows)

    def forward(self, tokens: torch.Tensor, cond: object = None) -> torch.Tensor:
        sequence = self.with_class_token(tokens)
        masked = sequence == self.config.mask_token_id
        logits = self.decode(self.encode(sequence), masked, rows=self.config.codebook_size)
        return logits[:, 1:]  # (B, L, codebook)

    @torch.no_grad()
    def pooled_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The linear-probe representation of `models_vit_mage.py` with `--global_pool` (the
        README's linear-probe command): encoder blocks over the unmasked sequence, *without* the
        final norm, mean over the image positions, then the fresh, frozen `fc_norm` LayerNorm
        (weight 1, bias 0). tokens (B, L) -> (B, D)."""
        x = self.token_emb(self.with_class_token(tokens))
        for block in self.blocks:
            x = block(x)
        return F.layer_norm(x[:, 1:].mean(dim=1), (x.shape[-1],), eps=self.config.layer_norm_eps)


def kept_positions(dropped: torch.Tensor) -> torch.Tensor:
    """(B, N) bool with the same count of True per row -> (B, K) indices of the False positions,
    in order (the official `x[keep.nonzero()].reshape(B, -1, D)`)."""
    kept = int((~dropped[0]).sum())
    return torch.argsort(dropped.to(torch.int8), dim=1, stable=True)[:, :kept]


def unused_official_parameters(config: MageConfig, patch_size: int = 16, channels: int = 3) -> dict[str, tuple]:
    """Shapes of the parameters `MaskedGenerativeEncoderViT` builds but never uses (left out of
    `MageNetwork`): what the official parameter count has on top of ours."""
    grid = config.num_tokens + 1
    return {
        "patch_embed.proj.weight": (config.width, channels, patch_size, patch_size),
        "patch_embed.proj.bias": (config.width,),
        "cls_token": (1, 1, config.width),
        "pos_embed": (1, grid, config.width),
        "mask_token": (1, 1, config.decoder_width),
        "decoder_pos_embed": (1, grid, config.decoder_width),
        "decoder_pred.weight": (patch_size**2 * channels, config.decoder_width),
        "decoder_pred.bias": (patch_size**2 * channels,),
    }


def official_parameter_count(config: MageConfig) -> int:
    """Parameters of the official module without its VQGAN: ours plus the unused ones."""
    with torch.device("meta"):
        ours = sum(p.numel() for p in MageNetwork(config).parameters())
    return ours + sum(math.prod(shape) for shape in unused_official_parameters(config).values())


# ----------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------

MAGE_CONFIGS = {
    "mage-vit-base": MageConfig(),  # mage_vit_base_patch16
    "mage-vit-large": MageConfig(width=1024, depth=24, heads=16, decoder_width=1024),  # mage_vit_large_patch16
    "toy-mage": MageConfig(
        codebook_size=256, class_slots=1, fake_class_slot=0, num_tokens=64, width=128, depth=4, heads=4,
        decoder_width=128, decoder_depth=2, decoder_heads=4,
        dropout=0.0,  # a tiny model trained for minutes on CPU underfits, never overfits
    ),
}
