"""What the speed benchmarks measure besides wall time: the seconds spent inside network
forwards, the matmul FLOPs of a call, and the machine's dense-matmul rate, so a sampler's speed
can be read as a share of its forwards and as a fraction of what the hardware can do."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class ForwardTimer:
    """Adds up the wall time spent inside the functions it wraps (the outermost call only, so a
    forward that calls another wrapped forward is counted once). On CUDA it synchronizes around
    each call, which costs a little speed but makes the share honest."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.seconds = 0.0
        self.calls = 0
        self._depth = 0

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def wrap(self, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            if self._depth:
                return function(*args, **kwargs)
            synchronize(self.device)
            start = time.perf_counter()
            self._depth += 1
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                synchronize(self.device)
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed

    def time_module(self, module: torch.nn.Module) -> torch.nn.Module:
        """Time every `module.forward` (callers that use module(...) and module.forward(...) alike)."""
        module.forward = self.wrap(module.forward)
        return module


def count_flops(run: Callable[[], Any]) -> int:
    """Matmul-class FLOPs (mm, bmm, addmm, convolutions, attention) of one call of `run`."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def matmul_rate(device: torch.device | str = "cpu", size: int = 1024, repeats: int = 5,
                dtype: torch.dtype = torch.float32) -> float:
    """The machine's dense-matmul rate in GFLOP/s: the median of `repeats` size^3 products."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device, dtype)
    b = torch.randn(size, size, generator=generator).to(device, dtype)
    (a @ b).sum()  # warm-up: kernel selection, page faults
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9
