"""The MaskGIT bidirectional transformer (google-research/maskgit
`maskgit/nets/maskgit_transformer.py`, `configs/maskgit_class_cond_config.py`).

Layout, as in the official code (../shared/spec/maskgit.md §2):
- sequence = [class token, h*w image tokens]; class token id = codebook_size + label;
- vocabulary = codebook | classes | (null class, only when trained with class dropout) | mask;
  the mask token is the last row (the JAX config writes -1, which `jnp.take` wraps to it);
- word + learned absolute position embeddings -> LayerNorm -> dropout, no projection;
- post-LN BERT blocks (residual add, then LayerNorm, eps 1e-12), q/k/v/out with biases,
  GELU in its tanh form (`jax.nn.gelu` default), dropout 0.1 in four places;
- MlmLayer head: dense -> GELU -> LayerNorm -> logits against the *tied* word embeddings
  (all rows) plus a learned bias; logits are then sliced to the codebook.
Initialisation: truncated normal (std 0.02) for kernels and embeddings, zero biases.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from reimpl.layers import AttentionBackend, attention, truncated_normal_


@dataclasses.dataclass(frozen=True)
class MaskGitConfig:
    codebook_size: int = 1024
    num_classes: int = 1000
    num_tokens: int = 256  # h*w image tokens
    width: int = 768
    depth: int = 24
    heads: int = 16  # the released checkpoint has 16 heads of 48; the paper text says 8
    mlp_width: int = 3072
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    null_class: bool = False  # an extra class id for classifier-free guidance (not in the official model)
    gelu: str = "tanh"  # jax.nn.gelu's default; open-muse's PyTorch port (UnlockMGM) uses the exact form, "none"
    attention_backend: AttentionBackend = "sdpa"

    @property
    def vocab_size(self) -> int:
        return self.codebook_size + self.num_classes + int(self.null_class) + 1

    @property
    def mask_token_id(self) -> int:
        return self.vocab_size - 1

    @property
    def null_class_id(self) -> int | None:
        """The label that selects the unconditional class token (None without one)."""
        return self.num_classes if self.null_class else None


class SelfAttention(nn.Module):
    def __init__(self, config: MaskGitConfig):
        super().__init__()
        self.heads = config.heads
        self.query = nn.Linear(config.width, config.width)
        self.key = nn.Linear(config.width, config.width)
        self.value = nn.Linear(config.width, config.width)
        self.out = nn.Linear(config.width, config.width)
        self.dropout = config.dropout
        self.backend = config.attention_backend

    def forward(self, x: torch.Tensor, top_down: torch.Tensor | None = None) -> torch.Tensor:
        """`top_down` (B, L, D): UnlockMGM's TOAST signal, added to the values as V(x) + V(top_down)
        (`modeling_transformer_toast.py Attention`, so the value bias enters twice)."""
        batch, length, width = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, width // self.heads).transpose(1, 2)  # (B, heads, L, hd)

        # One (D -> 3D) matmul instead of three: same parameters, better GEMM efficiency.
        weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])  # (3D, D)
        bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])
        query, key, value = F.linear(x, weight, bias).chunk(3, dim=-1)  # 3 x (B, L, D)
        if top_down is not None:
            value = value + self.value(top_down)
        mixed = attention(split(query), split(key), split(value), self.backend, self.dropout if self.training else 0.0)
        return self.out(mixed.transpose(1, 2).reshape(batch, length, width))  # (B, L, D)


class TransformerLayer(nn.Module):
    """Post-LN: x = LN(x + Dropout(Attn(x))); x = LN(x + Dropout(MLP(x)))."""

    def __init__(self, config: MaskGitConfig):
        super().__init__()
        self.attention = SelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.width, config.mlp_width)
        self.output = nn.Linear(config.mlp_width, config.width)
        self.mlp_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.gelu = config.gelu

    def forward(self, x: torch.Tensor, top_down: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention_norm(x + self.dropout(self.attention(x, top_down)))
        hidden = self.output(F.gelu(self.intermediate(x), approximate=self.gelu))
        return self.mlp_norm(x + self.dropout(hidden))


class MaskGitNetwork(nn.Module):
    """tokens (B, L) with mask ids + labels (B,) -> codebook logits (B, L, codebook_size)."""

    def __init__(self, config: MaskGitConfig):
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.width)
        self.position_embeddings = nn.Embedding(config.num_tokens + 1, config.width)
        self.embedding_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.depth))
        self.head_dense = nn.Linear(config.width, config.width)
        self.head_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.head_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                truncated_normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.head_bias)

    @property
    def mask_token_id(self) -> int:
        return self.config.mask_token_id

    def class_tokens(self, labels: torch.Tensor) -> torch.Tensor:
        """labels (B,) in [0, num_classes] (num_classes = null when trained with one) -> token ids (B,)."""
        return labels + self.config.codebook_size

    def hidden_states(self, sequence: torch.Tensor, top_down: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Token ids (B, 1 + L) -> final hidden states (B, 1 + L, D), before the MlmLayer head;
        `top_down` gives each layer a TOAST signal (UnlockMGM's second pass)."""
        positions = torch.arange(sequence.shape[1], device=sequence.device)
        x = self.word_embeddings(sequence) + self.position_embeddings(positions)[None]  # (B, 1+L, D)
        x = self.dropout(self.embedding_norm(x))
        for depth, layer in enumerate(self.layers):
            x = layer(x, None if top_down is None else top_down[depth])
        return x

    def head(self, x: torch.Tensor, rows: int | None = None) -> torch.Tensor:
        """MlmLayer: logits against the tied word embeddings (the first `rows` of them)."""
        x = self.head_norm(F.gelu(self.head_dense(x), approximate=self.config.gelu))
        return F.linear(x, self.word_embeddings.weight[:rows], self.head_bias[:rows])

    def forward_sequence(self, sequence: torch.Tensor) -> torch.Tensor:
        """The official network: full sequence (B, 1 + L) -> logits over the whole vocabulary (B, 1 + L, V)."""
        return self.head(self.hidden_states(sequence))

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        sequence = torch.cat([self.class_tokens(labels)[:, None], tokens], dim=1)  # (B, 1+L)
        # The class position's output and the non-codebook rows are never used: skip them.
        return self.head(self.hidden_states(sequence)[:, 1:], rows=self.config.codebook_size)  # (B, L, codebook)


# ----------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------

MASKGIT_CONFIGS = {
    "maskgit-imagenet256": MaskGitConfig(num_tokens=256),  # 172,457,193 parameters
    "maskgit-imagenet512": MaskGitConfig(num_tokens=1024),  # 173,047,017 parameters
    "toy-maskgit": MaskGitConfig(
        codebook_size=256, num_classes=12, num_tokens=64, width=128, depth=4, heads=4, mlp_width=512,
        dropout=0.0, null_class=True,  # no dropout: a tiny model on CPU for minutes underfits, never overfits
    ),
}
