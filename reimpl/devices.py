"""Host-to-device copies that never make the host wait.

A plain `tensor.to("cuda")` of pageable memory is a synchronous copy: the Python thread stalls
until the GPU has drained its queue. Inside a sampling loop that stall, once per step, sets the
speed of a GPU run. `to_device` stages through pinned memory and queues the copy instead, and
`DeviceCache` keeps one copy of a constant per device so that the loop copies nothing at all
after its first call.
"""

from __future__ import annotations

from typing import Callable

import torch


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`tensor` on `device`; a CPU -> CUDA copy is queued (pinned, non_blocking), not waited for."""
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class DeviceCache:
    """Per-device copies of host-built constants: cache.get(key, device, build) calls `build()`
    (a CPU tensor) once per (key, device) and returns the device copy thereafter."""

    def __init__(self):
        self._copies: dict[tuple, torch.Tensor] = {}

    def get(self, key, device: torch.device | str, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        slot = (key, str(device))
        if slot not in self._copies:
            self._copies[slot] = to_device(build(), device)
        return self._copies[slot]
