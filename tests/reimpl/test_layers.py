"""The shared attention helper: the SDPA default, its bf16 CPU path, and the xformers guard."""

import pytest
import torch

from reimpl.layers import attention


def _qkv(dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(2, 4, 65, 32, generator=generator).to(dtype) for _ in range(3)]


def test_sdpa_matches_explicit_softmax_attention():
    query, key, value = _qkv()
    weights = torch.softmax(query @ key.transpose(-1, -2) / 32**0.5, dim=-1)
    torch.testing.assert_close(attention(query, key, value), weights @ value, rtol=1e-5, atol=1e-5)


def test_bf16_attention_under_cpu_autocast_keeps_dtype_and_matches_fp32():
    query, key, value = _qkv()
    reference = attention(query, key, value)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attention(*(t.bfloat16() for t in (query, key, value)))
    assert out.dtype == torch.bfloat16
    # only the inputs' and output's bf16 rounding separate the two
    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.05)


def test_bf16_attention_backpropagates_in_bf16():
    query, key, value = (t.bfloat16().requires_grad_() for t in _qkv())
    attention(query, key, value).sum().backward()
    assert query.grad.dtype == torch.bfloat16 and torch.isfinite(query.grad.float()).all()


def test_xformers_backend_refuses_cpu_tensors():
    with pytest.raises(RuntimeError, match="CUDA tensors only"):
        attention(*_qkv(), backend="xformers")


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="unknown attention backend"):
        attention(*_qkv(), backend="flash")
