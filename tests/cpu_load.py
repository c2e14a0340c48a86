"""Run a command while other processes keep every core busy, as on a shared machine or a
cluster node, and report how long it took.

    python -m tests.cpu_load                      # the default test command, loaded
    python -m tests.cpu_load --workers 2 -- python -m pytest tests/reimpl

Each worker is a separate process spinning at 100% of one core (plain integer arithmetic, so the
load competes for cores rather than for memory bandwidth). The workers start before the command
and are stopped when it ends, however it ends (Ctrl-C included). The exit status is the command's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time


def spin(stop) -> None:
    value = 0
    while not stop.is_set():
        for _ in range(100_000):
            value = (value * 1103515245 + 12345) & 0x7FFFFFFF


class CpuLoad:
    """`with CpuLoad(workers):` keeps `workers` cores busy inside the block."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._stop = multiprocessing.Event()
        self._processes: list[multiprocessing.Process] = []

    def __enter__(self) -> "CpuLoad":
        for _ in range(self.workers):
            process = multiprocessing.Process(target=spin, args=(self._stop,), daemon=True)
            process.start()
            self._processes.append(process)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="busy processes (default: one per core)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command (default: python -m pytest)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    command = command or [sys.executable, "-m", "pytest"]
    with CpuLoad(args.workers) as load:
        print(f"cpu_load: {load.workers} busy workers; running {' '.join(command)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            returncode = subprocess.call(command)
        except KeyboardInterrupt:
            returncode = 130
    minutes = (time.perf_counter() - started) / 60
    print(f"cpu_load: exit status {returncode} after {minutes:.1f} min under load", file=sys.stderr)
    return returncode


if __name__ == "__main__":
    raise SystemExit(main())
