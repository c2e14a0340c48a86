"""The load helper used to run the suite on a busy machine: it really keeps cores busy, and it
stops its workers however the block ends."""

import os
import time

import pytest

from tests.cpu_load import CpuLoad, main


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (Linux)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads CPU times from /proc")
def test_workers_burn_cpu_inside_the_block_and_are_gone_after_it():
    with CpuLoad(2) as load:
        assert len(load._processes) == 2 and all(p.is_alive() for p in load._processes)
        # wait for the event "each worker has used 0.3 s of CPU"; the deadline only stops a hang
        deadline = time.monotonic() + 300
        while min(_cpu_seconds(p.pid) for p in load._processes) < 0.3:
            assert time.monotonic() < deadline, "the load workers are not using the CPU"
            time.sleep(0.05)
    assert not any(p.is_alive() for p in load._processes)


def test_workers_stop_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with CpuLoad(1) as load:
            raise RuntimeError("the command failed")
    assert not load._processes[0].is_alive()


def test_the_command_exit_status_is_passed_on():
    assert main(["--workers", "1", "--", "python", "-c", "raise SystemExit(7)"]) == 7
