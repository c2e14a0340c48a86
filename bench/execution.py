"""Where and how a run's networks execute: the device (`auto` takes CUDA when one is visible),
an autocast precision for the network forwards and an optional torch.compile. The last two are
GPU speed options, off by default; float32 eager execution is the reference."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> str:
    """`auto` -> cuda when a CUDA device is visible, else cpu."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda but no CUDA device is visible; use device=cpu or device=auto")
    return name


@contextlib.contextmanager
def autocast(device: torch.device | str, precision: str) -> Iterator[None]:
    """torch.autocast at `precision` (bfloat16 / float16), or nothing for float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: choose one of {sorted(PRECISIONS)}")
    if PRECISIONS[precision] is None:
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=PRECISIONS[precision]):
        yield
