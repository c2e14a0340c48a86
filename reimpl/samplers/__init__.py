"""Decoding algorithms, one per module, each registered in `SAMPLERS`. A sampler takes a
model's `logits(tokens, cond)` and a config dataclass; it never sees sweeps or files."""

from reimpl.registry import Registry

SAMPLERS: Registry = Registry("sampler")
