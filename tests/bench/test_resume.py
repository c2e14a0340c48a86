"""An interrupted run continues where it stopped: finished shards are neither redone nor
rewritten, and the result equals that of an uninterrupted run."""

import json
import signal
import subprocess
import sys

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


RUN = ["run", "num_samples=400", "shard_size=50", "batch_size=25", "eval.reference_images=200"]
SHARDS = 8


def _bench(results, *, kill_at: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    """`python -m bench run ...` into `results`, or the same run SIGKILLed at an event."""
    args = [*RUN, "--results-dir", str(results)]
    if kill_at is not None:
        args = ["-m", "tests.bench.kill_at_event", kill_at[0], str(kill_at[1]), "--", *args]
    else:
        args = ["-m", "bench", *args]
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=1800)


def _stamps(results, pattern: str) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in (results / "samples").glob(f"*/{pattern}")}


def _records(results) -> list[dict]:
    return [json.loads(p.read_text()) for p in (results / "records").glob("*.json")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    results = tmp_path_factory.mktemp("uninterrupted")
    done = _bench(results)
    assert done.returncode == 0, done.stderr
    return results


def _resume_and_compare(results, uninterrupted, shards_before: dict, features_before: dict) -> str:
    """Rerun after the kill: it must finish, leave every finished shard and feature file as it
    was, and reach the uninterrupted run's images and metrics."""
    done = _bench(results)
    assert done.returncode == 0, done.stderr
    assert {name: stamp for name, stamp in _stamps(results, "shard-*.npz").items() if name in shards_before} == shards_before
    assert {name: stamp for name, stamp in _stamps(results, "features-*.npz").items()
            if name in features_before} == features_before
    assert len(_stamps(results, "shard-*.npz")) == len(_stamps(results, "features-*.npz")) == SHARDS
    for name in _stamps(uninterrupted, "shard-*.npz"):
        [resumed] = (results / "samples").glob(f"*/{name}")
        [clean] = (uninterrupted / "samples").glob(f"*/{name}")
        with np.load(resumed) as a, np.load(clean) as b:
            assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["labels"], b["labels"])
    [record], [reference] = _records(results), _records(uninterrupted)
    assert record["config_hash"] == reference["config_hash"]
    assert record["metrics"] == reference["metrics"]
    return done.stderr


def test_killed_after_a_shard_is_written_resumes_from_the_next_shard(tmp_path, uninterrupted):
    killed = _bench(tmp_path, kill_at=("shard", 3))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    shards = _stamps(tmp_path, "shard-*.npz")
    assert sorted(shards) == [f"shard-{k:05d}.npz" for k in range(3)]
    assert not _stamps(tmp_path, "features-*.npz") and not (tmp_path / "records").exists()
    log = _resume_and_compare(tmp_path, uninterrupted, shards, {})
    assert f"resuming: 3/{SHARDS} shards" in log


def test_killed_while_featurising_keeps_the_shards_and_the_features_already_made(tmp_path, uninterrupted):
    killed = _bench(tmp_path, kill_at=("features", 4))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    shards, features = _stamps(tmp_path, "shard-*.npz"), _stamps(tmp_path, "features-*.npz")
    assert len(shards) == SHARDS and len(features) == 3
    log = _resume_and_compare(tmp_path, uninterrupted, shards, features)
    assert f"resuming: {SHARDS}/{SHARDS} shards" in log


def test_killed_while_writing_the_record_leaves_no_torn_record(tmp_path, uninterrupted):
    killed = _bench(tmp_path, kill_at=("record", 1))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    shards, features = _stamps(tmp_path, "shard-*.npz"), _stamps(tmp_path, "features-*.npz")
    assert len(shards) == len(features) == SHARDS
    assert _records(tmp_path) == [] and list((tmp_path / "records").glob(".*.tmp"))
    _resume_and_compare(tmp_path, uninterrupted, shards, features)
