"""`accelerate launch` with 2 CPU processes (gloo) writes the same record as one process:
bit-identical images, identical metrics. (`--multi_gpu` selects accelerate's torchrun-style
launcher; with no GPU the harness joins the processes over gloo. `--cpu` alone would start
a single process.)"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.conftest import REPO, SMALL_RUN, run_cli

RUN = (*SMALL_RUN, "model=toy-maskgit", "sampler.steps=4", "metrics=[fid,is,accuracy]", "eval.is_splits=2")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _shards(results):
    [samples] = (results / "samples").iterdir()
    return sorted(samples.glob("shard-*.npz"))


def test_two_processes_write_the_record_one_process_writes(tmp_path):
    single, double = tmp_path / "one", tmp_path / "two"
    # Same thread count in both, so that BLAS sums in the same order and metrics match exactly.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    one = run_cli("run", *RUN, "--results-dir", str(single), "--quiet", env={"OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, one.stderr
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "--main_process_port", str(_free_port()),
         "-m", "bench", "run", *RUN, "--results-dir", str(double), "--quiet"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    [record_one] = (single / "records").glob("*.json")
    [record_two] = (double / "records").glob("*.json")
    first, second = json.loads(record_one.read_text()), json.loads(record_two.read_text())
    assert record_one.name == record_two.name  # same resolved config
    assert second["env"]["world_size"] == 2 and first["env"]["world_size"] == 1
    assert first["metrics"] == second["metrics"]
    shards_one, shards_two = _shards(single), _shards(double)
    assert [p.name for p in shards_one] == [p.name for p in shards_two] and len(shards_one) == 3
    for a, b in zip(shards_one, shards_two):
        with np.load(a) as x, np.load(b) as y:
            assert np.array_equal(x["images"], y["images"]) and np.array_equal(x["labels"], y["labels"])
