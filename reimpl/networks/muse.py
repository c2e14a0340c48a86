"""The MUSE masked transformer as muse-maskgit-pytorch 0.3.5 builds it
(`muse_maskgit_pytorch.py`: `Transformer`, `TransformerBlocks`, `Attention`, `FeedForward`).

- pre-LN blocks of self-attention, cross-attention to the projected text states, and a
  GEGLU feed-forward with a LayerNorm inside (NormFormer); LayerNorms carry no bias;
- attention on l2-normalised queries and keys with learned per-dimension scales and a fixed
  softmax scale of 8 (cosine-sim attention), and a learned null key/value prepended to
  every attention, so a prompt with every text token dropped still attends somewhere;
- classifier-free guidance drops the text by masking all of it (the null key/value remains);
- the super-resolution stage appends the low-resolution token embeddings to the
  cross-attention context (MUSE's `cond_image_size` path). lucidrains embeds them with the
  image token table and no positions; `cond_positions=True` (our default) adds a learned
  position embedding, without which cross-attention cannot tell where a low-res token sits;
- optional self-conditioning adds FeedForward(previous step's final embedding) to the input;
- `out_dim=1` turns the same network into a Token-Critic (`TokenCritic`).

forward(tokens (B, L), text_states (B, S, Dt), text_valid (B, S) bool, ...) -> logits (B, L, V_out).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from reimpl.layers import attention


@dataclasses.dataclass(frozen=True)
class MuseConfig:
    codebook_size: int = 8192
    num_tokens: int = 256  # L = h * w image tokens
    width: int = 512
    depth: int = 8
    heads: int = 8
    head_dim: int = 64
    ff_mult: float = 4.0
    text_width: int = 768  # width of the frozen text encoder's states (T5-base)
    cond_codebook_size: int = 0  # super-res stage: codebook of the low-res tokens (0: a base stage)
    cond_num_tokens: int = 0
    cond_positions: bool = True
    self_conditioning: bool = False
    out_dim: int | None = None  # None: codebook_size logits; 1: a token critic
    attention_scale: float = 8.0  # SDPA only: the masked cross-attention has no xformers path here

    @property
    def mask_token_id(self) -> int:
        return self.codebook_size  # `add_mask_id=True`: one extra row after the codebook


class BiaslessLayerNorm(nn.Module):
    """LayerNorm with a learned gain and a fixed zero bias (lucidrains' `LayerNorm`)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.gamma, self.beta)


class GegluFeedForward(nn.Module):
    """LN -> Linear(D, 2 I) -> GEGLU -> LN -> Linear(I, D), I = int(D * mult * 2 / 3)."""

    def __init__(self, dim: int, mult: float):
        super().__init__()
        inner = int(dim * mult * 2 / 3)
        self.norm_in = BiaslessLayerNorm(dim)
        self.proj_in = nn.Linear(dim, inner * 2, bias=False)
        self.norm_inner = BiaslessLayerNorm(inner)
        self.proj_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj_in(self.norm_in(x)).chunk(2, dim=-1)
        return self.proj_out(self.norm_inner(gate * F.gelu(value)))


class CosineSimAttention(nn.Module):
    def __init__(self, config: MuseConfig):
        super().__init__()
        inner = config.heads * config.head_dim
        self.heads, self.scale = config.heads, config.attention_scale
        self.norm = BiaslessLayerNorm(config.width)
        self.null_kv = nn.Parameter(torch.randn(2, config.heads, 1, config.head_dim))
        self.to_q = nn.Linear(config.width, inner, bias=False)
        self.to_kv = nn.Linear(config.width, inner * 2, bias=False)
        self.q_scale = nn.Parameter(torch.ones(config.head_dim))
        self.k_scale = nn.Parameter(torch.ones(config.head_dim))
        self.to_out = nn.Linear(inner, config.width, bias=False)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                context_valid: torch.Tensor | None = None) -> torch.Tensor:
        batch, length, _ = x.shape
        x = self.norm(x)
        source = x if context is None else context

        def split(t):  # (B, n, heads*d) -> (B, heads, n, d)
            return t.view(batch, t.shape[1], self.heads, -1).transpose(1, 2)

        query = split(self.to_q(x))
        key, value = (split(t) for t in self.to_kv(source).chunk(2, dim=-1))
        null_key, null_value = (t.expand(batch, -1, -1, -1) for t in self.null_kv)
        key, value = torch.cat([null_key, key], dim=2), torch.cat([null_value, value], dim=2)  # (B, h, 1+n, d)
        query = F.normalize(query, dim=-1) * self.q_scale
        key = F.normalize(key, dim=-1) * self.k_scale
        mask = None
        if context_valid is not None:
            mask = F.pad(context_valid, (1, 0), value=True)[:, None, None, :]  # (B, 1, 1, 1+S): null always visible
        out = attention(query, key, value, mask=mask, scale=self.scale)
        return self.to_out(out.transpose(1, 2).reshape(batch, length, -1))


class MuseBlock(nn.Module):
    def __init__(self, config: MuseConfig):
        super().__init__()
        self.self_attention = CosineSimAttention(config)
        self.cross_attention = CosineSimAttention(config)
        self.feed_forward = GegluFeedForward(config.width, config.ff_mult)

    def forward(self, x, context, context_valid):
        x = x + self.self_attention(x)
        x = x + self.cross_attention(x, context, context_valid)
        return x + self.feed_forward(x)


class MuseNetwork(nn.Module):
    def __init__(self, config: MuseConfig):
        super().__init__()
        self.config = config
        width = config.width
        self.token_embeddings = nn.Embedding(config.codebook_size + 1, width)
        self.position_embeddings = nn.Embedding(config.num_tokens, width)
        self.text_projection = nn.Linear(config.text_width, width, bias=False)
        if config.cond_num_tokens:
            self.cond_token_embeddings = nn.Embedding(config.cond_codebook_size, width)
            if config.cond_positions:
                self.cond_position_embeddings = nn.Embedding(config.cond_num_tokens, width)
        if config.self_conditioning:
            self.self_cond_projection = GegluFeedForward(width, 4.0)
        self.blocks = nn.ModuleList(MuseBlock(config) for _ in range(config.depth))
        self.norm = BiaslessLayerNorm(width)  # `TransformerBlocks.norm`
        self.to_logits = nn.Linear(width, config.out_dim or config.codebook_size, bias=False)

    @property
    def mask_token_id(self) -> int:
        return self.config.mask_token_id

    def context(self, text_states: torch.Tensor, text_valid: torch.Tensor, cond_tokens: torch.Tensor | None):
        """Cross-attention keys: projected text states, then low-res token embeddings (always valid)."""
        context = self.text_projection(text_states)  # (B, S, D)
        if not self.config.cond_num_tokens:
            return context, text_valid
        if cond_tokens is None:
            raise ValueError("a super-resolution stage needs the low-resolution tokens (cond_tokens)")
        low = self.cond_token_embeddings(cond_tokens.flatten(1))  # (B, Lc, D)
        if self.config.cond_positions:
            low = low + self.cond_position_embeddings.weight
        valid = F.pad(text_valid, (0, low.shape[1]), value=True)
        return torch.cat([context, low], dim=1), valid

    def forward(self, tokens: torch.Tensor, text_states: torch.Tensor, text_valid: torch.Tensor,
                cond_tokens: torch.Tensor | None = None, self_cond: torch.Tensor | None = None,
                return_embed: bool = False):
        if tokens.shape[1] != self.config.num_tokens:
            raise ValueError(f"expected {self.config.num_tokens} tokens per image, got {tokens.shape[1]}")
        context, context_valid = self.context(text_states, text_valid, cond_tokens)
        x = self.token_embeddings(tokens) + self.position_embeddings.weight  # (B, L, D)
        if self.config.self_conditioning:
            x = x + self.self_cond_projection(self_cond if self_cond is not None else torch.zeros_like(x))
        for block in self.blocks:
            x = block(x, context, context_valid)
        embed = self.norm(x)
        logits = self.to_logits(embed)  # (B, L, V_out)
        return (logits, embed) if return_embed else logits


def count_parameters(config: MuseConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in MuseNetwork(config).parameters())
