"""Key bookkeeping shared by the converters."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch


class UnconsumedKeysError(ValueError):
    pass


class KeyConsumer:
    """Pops source tensors by key; `finish()` fails if any key was neither used nor ignored."""

    def __init__(self, source: Mapping[str, Any], ignored: Mapping[str, str] | None = None):
        self.remaining = dict(source)
        self.ignored = dict(ignored or {})
        self.used: list[str] = []

    def pop(self, key: str) -> Any:
        if key not in self.remaining:
            raise KeyError(f"expected key {key!r} is missing from the checkpoint")
        self.used.append(key)
        return self.remaining.pop(key)

    def has(self, key: str) -> bool:
        return key in self.remaining

    def finish(self) -> dict[str, str]:
        """Return {ignored key: reason}; raise on keys nobody accounted for."""
        reasons = {}
        for key in list(self.remaining):
            reason = next((why for prefix, why in self.ignored.items() if key.startswith(prefix)), None)
            if reason is None:
                continue
            reasons[key] = reason
            del self.remaining[key]
        if self.remaining:
            sample = ", ".join(sorted(self.remaining)[:8])
            raise UnconsumedKeysError(f"{len(self.remaining)} checkpoint keys were not converted: {sample}")
        return reasons


def flatten(tree: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts -> {'a.b.c': leaf}."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, path, sep))
        else:
            flat[path] = value
    return flat


def to_tensor(array: Any) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array.detach().clone().contiguous()
    return torch.from_numpy(np.array(array, copy=True, order="C"))


def conv_kernel(kernel: Any) -> torch.Tensor:
    """Flax conv kernel (kh, kw, in, out) -> torch weight (out, in, kh, kw)."""
    return to_tensor(np.transpose(np.asarray(kernel), (3, 2, 0, 1)))


def dense_kernel(kernel: Any) -> torch.Tensor:
    """Flax Dense kernel (in, out) -> torch Linear weight (out, in)."""
    return to_tensor(np.asarray(kernel).T)


def take_expected(keys: KeyConsumer, expected: Mapping[str, torch.Tensor]) -> dict:
    """Pop every key of `expected` (a target state dict, e.g. built on the meta device) from
    the source, check its shape, and return float32 copies; `keys.finish()` still follows."""
    out = {}
    for name, reference in expected.items():
        value = keys.pop(name)
        if tuple(value.shape) != tuple(reference.shape):
            raise ValueError(f"{name}: shape {tuple(value.shape)} != expected {tuple(reference.shape)}")
        out[name] = to_tensor(value).float()
    return out


def copy_matching(source: Mapping[str, Any], build: Callable[[], torch.nn.Module],
                  ignored: Mapping[str, str] | None = None) -> dict:
    """For layouts that already use our key names: every tensor of `build()`'s state dict (built
    on the meta device) taken from `source` with its shape checked; every other source key must
    match an `ignored` prefix."""
    with torch.device("meta"):
        expected = build().state_dict()
    keys = KeyConsumer(source, ignored)
    out = take_expected(keys, expected)
    keys.finish()
    return out
