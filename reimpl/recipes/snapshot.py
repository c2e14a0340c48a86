"""Resumable training: what `train` keeps on disk so that an interrupted run, started again with
the same command, carries on from its last finished step and ends with the same weights as a run
that was never interrupted.

A snapshot holds the step, the model, optimizer and lr-schedule states, torch's global RNG (dropout,
codebook restarts) and whatever stateful objects the recipe names (`state`): its own generators,
an EMA, running statistics. The batch iterator is not saved; `train` replays it up to the step
instead, which is exact because the recipes' iterators draw from their own seeded generators.

`train` writes one every `every_seconds` and when the process gets SIGINT (Ctrl-C) or SIGTERM,
then only between steps, so a snapshot never holds half an update. The file carries a fingerprint
of the run's settings; a later run with other settings refuses to resume from it.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import threading
from pathlib import Path
from typing import Any, Mapping

import torch

from reimpl.errors import UserFacingError


class SnapshotMismatchError(UserFacingError):
    """A resume snapshot on disk was written by a run with other settings."""


@dataclasses.dataclass(frozen=True)
class Snapshot:
    path: Path
    fingerprint: str = ""  # the run's settings (e.g. card and recipe as JSON); must match to resume
    every_seconds: float = 300.0


def _state_of(thing: Any) -> Any:
    if isinstance(thing, random.Random):
        return thing.getstate()
    if isinstance(thing, torch.Generator):
        return thing.get_state()
    if isinstance(thing, torch.Tensor):
        return thing.detach().clone()
    return thing.state_dict()


@torch.no_grad()
def _restore(thing: Any, value: Any) -> None:
    if isinstance(thing, random.Random):
        thing.setstate(value)
    elif isinstance(thing, torch.Generator):
        thing.set_state(value)
    elif isinstance(thing, torch.Tensor):
        thing.copy_(value)
    else:
        thing.load_state_dict(value)


def save_snapshot(snapshot: Snapshot, step: int, parts: Mapping[str, Any], state: Mapping[str, Any],
                  extra: Mapping[str, Any]) -> None:
    """parts: model / optimizer / schedule (anything with state_dict); written atomically."""
    payload = {
        "fingerprint": snapshot.fingerprint,
        "step": step,
        "torch_rng": torch.get_rng_state(),
        "parts": {name: part.state_dict() for name, part in parts.items()},
        "state": {name: _state_of(thing) for name, thing in state.items()},
        "extra": dict(extra),
    }
    path = Path(snapshot.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def load_snapshot(snapshot: Snapshot, parts: Mapping[str, Any], state: Mapping[str, Any]) -> tuple[int, dict]:
    """Restore everything but the global RNG (the caller sets it after replaying the batches);
    returns (finished steps, {"torch_rng": ..., **extra}), or (0, {}) when there is no snapshot."""
    path = Path(snapshot.path)
    if not path.is_file():
        return 0, {}
    payload = torch.load(path, map_location="cpu", weights_only=True)  # loads replace tensors in place, on their devices
    if payload["fingerprint"] != snapshot.fingerprint:
        raise SnapshotMismatchError(
            f"{path} holds a resume snapshot of a training run with other settings",
            hint=f"rerun with the settings that wrote it to resume, or delete {path} to start over")
    for name, part in parts.items():
        part.load_state_dict(payload["parts"][name])
    for name, thing in state.items():
        _restore(thing, payload["state"][name])
    return payload["step"], {"torch_rng": payload["torch_rng"], **payload["extra"]}


class StopRequests:
    """While active, a first SIGINT or SIGTERM only sets `requested` (the loop stops after the step
    in flight), a second one interrupts at once; signal handlers can only be installed from the
    main thread, elsewhere this is inert."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._note)
        return self

    def _note(self, number: int, frame: Any) -> None:
        if self.requested is not None:  # asked twice: stop now, without waiting for the step
            raise KeyboardInterrupt
        self.requested = number

    def __exit__(self, *exc: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
