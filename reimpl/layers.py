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
    dropout: float = 0.0, mask: torch.Tensor | None = None, scale: float | None = None,
) -> torch.Tensor:
    """Softmax attention over (B, heads, L, head_dim) tensors; returns the same shape.
    `mask` (bool, broadcastable to (B, heads, L, S); True = attend) and `scale` (default
    head_dim ** -0.5) as in torch's scaled_dot_product_attention."""
    if backend == "sdpa":
        if query.device.type == "cpu" and query.dtype == torch.bfloat16:
            # bf16 (mixed-precision training on CPU): torch's CPU flash-attention backward is
            # about 4x slower in bf16 than in fp32 (toy MaskGIT step, torch 2.14), so attend in fp32.
            with torch.autocast("cpu", enabled=False):  # autocast would cast the inputs back to bf16
                out = F.scaled_dot_product_attention(
                    query.float(), key.float(), value.float(), attn_mask=mask, dropout_p=dropout, scale=scale
                )
            return out.to(query.dtype)
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, scale=scale)
    if backend == "xformers":
        if mask is not None:
            raise ValueError("the xformers attention backend takes no mask here; use attention_backend='sdpa'")
        if not query.is_cuda:
            raise RuntimeError("the xformers attention backend runs on CUDA tensors only; use attention_backend='sdpa'")
        import xformers.ops as xops

        # xformers wants (B, L, heads, head_dim)
        out = xops.memory_efficient_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), p=dropout, scale=scale
        )
        return out.transpose(1, 2)
    raise ValueError(f"unknown attention backend {backend!r}")


def truncated_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """Truncated normal in [-2 std, 2 std], the initialiser of BERT/Flax `truncated_normal`."""
    return torch.nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)
