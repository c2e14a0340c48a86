"""Run `python -m bench ...` and SIGKILL it at a named event, the way an out-of-memory killer or a
cluster pre-emption stops a job: no handler, no `finally`, no flush.

    python -m tests.bench.kill_at_event EVENT N -- run model=... --results-dir ...

EVENT is one of
    shard     right after the N-th sample shard (1-based) is on disk;
    features  inside the feature extraction of the N-th sample shard, before its features exist;
    record    while the run record is written: its temporary file holds a torn prefix.
The process exits by the signal (returncode -9) or, if the event never came, with code 3.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import bench.generate
import bench.run
from bench.cli import main


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(event: str, count: int) -> None:
    seen = 0

    def reached() -> bool:
        nonlocal seen
        seen += 1
        return seen == count

    if event == "shard":
        save = bench.generate.atomic_save_npz

        def save_then_die(path: Path, **arrays):
            save(path, **arrays)
            if path.name.startswith("shard-") and reached():
                _die()

        bench.generate.atomic_save_npz = save_then_die
    elif event == "features":
        extract = bench.run.extract

        def extract_or_die(net, batches, total=None, device="cpu", progress=True, description="", extractor=None):
            if description == "sample features" and reached():
                next(iter(batches))  # mid-way: the shard is being read
                _die()
            return extract(net, batches, total, device, progress, description, extractor)

        bench.run.extract = extract_or_die
    elif event == "record":
        write = bench.run.atomic_write_json

        def write_torn_then_die(path: Path, data):
            if path.parent.name == "records" and reached():
                text = json.dumps(data)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.with_name(f".{path.name}.{os.getpid()}.tmp").write_text(text[: len(text) // 2])
                _die()
            write(path, data)

        bench.run.atomic_write_json = write_torn_then_die
    else:
        raise SystemExit(f"unknown event {event!r}: choose shard, features or record")


if __name__ == "__main__":
    event, count, separator, *bench_args = sys.argv[1:]
    if separator != "--":
        raise SystemExit(__doc__)
    _arm(event, int(count))
    main(bench_args)
    raise SystemExit(3)  # the event never came
