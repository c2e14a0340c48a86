"""Blocks shared by several networks; the only module the networks import from each other.

Attention runs through torch's scaled_dot_product_attention by default. xformers'
memory_efficient_attention is an optional backend for CUDA tensors only (it has no CPU
kernels); asking for it elsewhere is an error, never a silent fallback.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

AttentionBackend = Literal["sdpa", "xformers"]


def attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, backend: AttentionBackend = "sdpa",
    dropout: float = 0.0,
) -> torch.Tensor:
    """Softmax attention over (B, heads, L, head_dim) tensors; returns the same shape."""
    if backend == "sdpa":
        return F.scaled_dot_product_attention(query, key, value, dropout_p=dropout)
    if backend == "xformers":
        if not query.is_cuda:
            raise RuntimeError("the xformers attention backend runs on CUDA tensors only; use attention_backend='sdpa'")
        import xformers.ops as xops

        # xformers wants (B, L, heads, head_dim)
        out = xops.memory_efficient_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), p=dropout
        )
        return out.transpose(1, 2)
    raise ValueError(f"unknown attention backend {backend!r}")


def truncated_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """Truncated normal in [-2 std, 2 std], the initialiser of BERT/Flax `truncated_normal`."""
    return torch.nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)
