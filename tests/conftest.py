"""Shared fixtures. Tests never write into the repository's results/: each gets its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Set before torch loads OpenMP, and inherited by every `python -m bench` the tests start: idle
# OpenMP threads sleep instead of spinning. On a machine whose cores are busy with other work a
# spinning thread burns the time slice its partner needs (measured: a CLI test 67 s -> 45 s with
# both cores loaded, 21.6 s -> 23.5 s idle). An explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "results"
    monkeypatch.setenv("MGM_RESULTS_DIR", str(path))
    return path


@pytest.fixture(params=[1, 2], ids=lambda n: f"{n}-threads")
def threads(request):
    """Run a test at 1 and at 2 intra-op threads: BLAS and OpenMP split work by thread count,
    and an image must be the same in any batch at each count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m bench ...` in a fresh interpreter, as a user would run it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=full_env, cwd=cwd or REPO,
        timeout=timeout,
    )


# A run small enough for CI that still exercises every stage.
SMALL_RUN = ("num_samples=120", "eval.reference_images=300", "shard_size=40", "batch_size=20", "eval.batch_size=60")


def pytest_collection_modifyitems(config, items):
    """`gpu` tests (selected with `-m gpu`) report as skipped, with the reason, where no CUDA device is
    visible, rather than failing on the missing device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
