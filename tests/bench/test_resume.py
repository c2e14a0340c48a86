"""An interrupted run continues where it stopped: finished shards are neither redone nor
rewritten, and the result equals that of an uninterrupted run."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from bench.generate import generate_shards, sample_seed
from tests.conftest import REPO


class _Interrupt(Exception):
    pass


def _model(calls: list):
    def generate(labels, seeds):
        calls.extend(seeds)
        # Pixels depend only on the sample's seed, like a real sampler with per-sample generators.
        return torch.stack([torch.full((3, 4, 4), s % 251, dtype=torch.uint8) for s in seeds])

    return generate


def test_generation_resumes_after_an_interrupt(tmp_path):
    calls: list[int] = []

    def stop_after_two(shard):
        if shard == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        generate_shards(_model(calls), tmp_path, 100, 10, seed=3, shard_size=20, batch_size=7,
                        progress=False, on_shard_written=stop_after_two)
    assert len(calls) == 40
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("shard-*.npz")}
    assert sorted(stamps) == ["shard-00000.npz", "shard-00001.npz"]
    (tmp_path / "shard-00002.npz").write_bytes(b"half-written")  # a torn file is redone

    calls.clear()
    shards = generate_shards(_model(calls), tmp_path, 100, 10, seed=3, shard_size=20, batch_size=13, progress=False)
    assert sorted(calls) == sorted(sample_seed(3, i) for i in range(40, 100))
    assert {p.name: p.stat().st_mtime_ns for p in shards[:2]} == stamps

    fresh = generate_shards(_model([]), tmp_path / "fresh", 100, 10, seed=3, shard_size=20, batch_size=100, progress=False)
    for resumed, clean in zip(shards, fresh):
        with np.load(resumed) as a, np.load(clean) as b:
            assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["labels"], b["labels"])


def test_killed_run_finishes_without_redoing_shards(tmp_path):
    results = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "run", "num_samples=3000", "shard_size=100", "batch_size=50",
            "eval.reference_images=200", "--results-dir", str(results), "--quiet"]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    samples = results / "samples"
    while time.time() < deadline and len(list(samples.glob("*/shard-*.npz"))) < 3:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {p: p.stat().st_mtime_ns for p in samples.glob("*/shard-*.npz")}
    assert 3 <= len(before) < 30, "the run must be killed mid-sampling"
    assert not list((results / "records").glob("*.json")) if (results / "records").exists() else True

    done = subprocess.run(args[:-1], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(before)}/30 shards" in done.stderr
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in before.items())
    record = json.loads(next((results / "records").glob("*.json")).read_text())
    assert record["metrics"]["fid"]["num_samples"] == 3000
