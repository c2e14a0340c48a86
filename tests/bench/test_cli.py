"""The command line as a user meets it: the main job end to end, and bad input stopping with
one paragraph, exit status 2, no traceback and nothing written under results/."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file, save_file

from tests.conftest import REPO, SMALL_RUN, run_cli


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_run_prints_a_table_and_writes_one_record(tmp_path):
    results = tmp_path / "results"
    done = run_cli("run", *SMALL_RUN, "--quiet", "--results-dir", str(results))
    assert done.returncode == 0, done.stderr
    assert "fid" in done.stdout and "precision" in done.stdout and "images/s" in done.stdout
    records = list((results / "records").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["card"] == "toy-maskgit"  # the default main job samples the toy MaskGIT
    assert record["metrics"]["accuracy"]["value"] > 0.6  # mostly the asked-for class (0.81 when committed)
    assert record["metrics"]["fid"]["num_samples"] == 120
    assert record["config"]["run"]["num_samples"] == 120 and record["timing"]["images_per_s"] > 0
    assert {"git_sha", "version"} <= set(record["code"]) and record["env"]["torch"]


def test_list_shows_registered_entries():
    done = run_cli("list")
    assert done.returncode == 0
    for name in ("toy-real", "toy-baseline", "fid", "precision-recall", "toy-shapes", "toy-featnet", "inception-v3-compat"):
        assert name in done.stdout


def _bad_card_file(tmp_path: Path, weights: Path) -> Path:
    data = yaml.safe_load((REPO / "checkpoints.yaml").read_text())
    spec = data["feature_nets"]["toy-featnet"]["files"][0]
    spec["path"] = str(weights)
    path = tmp_path / "checkpoints.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _corrupt_weights(tmp_path: Path) -> dict:
    weights = tmp_path / "corrupt.safetensors"
    weights.write_bytes((REPO / "bench/assets/toy-featnet.safetensors").read_bytes()[:-100])
    return {"MGM_CHECKPOINTS_YAML": str(_bad_card_file(tmp_path, weights))}


def _nan_weights(tmp_path: Path) -> dict:
    state = load_file(str(REPO / "bench/assets/toy-featnet.safetensors"))
    state["feature.1.weight"] = state["feature.1.weight"] * float("nan")
    weights = tmp_path / "nan.safetensors"
    save_file(state, str(weights))
    card_file = _bad_card_file(tmp_path, weights)
    data = yaml.safe_load(card_file.read_text())
    data["feature_nets"]["toy-featnet"]["files"][0]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    card_file.write_text(yaml.safe_dump(data))
    return {"MGM_CHECKPOINTS_YAML": str(card_file)}


@pytest.mark.parametrize(
    "args, make_env, expected",
    [
        (("model=toy-rael",), None, "unknown model 'toy-rael'"),
        (("num_samples",), None, "malformed override"),
        (("seed=ten",), None, "is not an integer"),
        (("metrics=[fid,kid]",), None, "unknown metric 'kid'"),
        (("model=toy-real", "sampler.steps=8"), None, "has no sampler"),
        (("model=toy-maskgit", "sampler.steps=0"), None, "need at least 1"),
        (("model=toy-maskgit", "sampler.schedule=zigzag"), None, "unknown mask schedule 'zigzag'"),
        (("model=toy-maskgit", "sampler.temprature=2"), None, "did you mean 'token_temperature'"),
        ((), _corrupt_weights, "sha256"),
        ((), _nan_weights, "non-finite"),
    ],
    ids=["unknown-model", "malformed", "bad-type", "unknown-metric", "no-sampler", "zero-steps", "bad-schedule",
         "sampler-typo", "checksum", "nan-features"],
)
def test_bad_input_is_one_paragraph_and_writes_nothing(tmp_path, args, make_env, expected):
    results = tmp_path / "results"
    env = make_env(tmp_path) if make_env else None
    done = run_cli("run", *SMALL_RUN, *args, "--quiet", "--results-dir", str(results), env=env)
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and "fix:" in done.stderr
    assert _files(results) == []


def test_rerun_reuses_the_record_unless_forced(tmp_path):
    results = tmp_path / "results"
    first = run_cli("run", *SMALL_RUN, "--results-dir", str(results), "--quiet")
    assert first.returncode == 0, first.stderr
    record = next((results / "records").glob("*.json"))
    stamp = record.stat().st_mtime_ns
    again = run_cli("run", *SMALL_RUN, "--results-dir", str(results))
    assert again.returncode == 0 and "reusing" in again.stderr
    assert record.stat().st_mtime_ns == stamp and again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
    forced = run_cli("run", *SMALL_RUN, "--results-dir", str(results), "--quiet", "--force")
    assert forced.returncode == 0 and record.stat().st_mtime_ns != stamp


def test_new_metrics_reuse_existing_samples(tmp_path):
    results = tmp_path / "results"
    assert run_cli("run", *SMALL_RUN, "--results-dir", str(results), "--quiet").returncode == 0
    shards = {p: p.stat().st_mtime_ns for p in (results / "samples").glob("*/shard-*.npz")}
    done = run_cli("run", *SMALL_RUN, "metrics=[fid]", "eval.precision_recall_k=5", "--results-dir", str(results))
    assert done.returncode == 0 and "resuming: 3/3 shards" in done.stderr
    assert {p: p.stat().st_mtime_ns for p in (results / "samples").glob("*/shard-*.npz")} == shards
    assert len(list((results / "records").glob("*.json"))) == 2


def test_report_renders_records_and_names_broken_files(tmp_path):
    results, reports = tmp_path / "results", tmp_path / "reports"
    assert run_cli("run", *SMALL_RUN, "--results-dir", str(results), "--quiet").returncode == 0
    (results / "records" / "broken.json").write_text("{not json")
    done = run_cli("report", "--results-dir", str(results), "--out", str(reports))
    assert done.returncode == 0
    assert "broken.json" in done.stderr
    text = (reports / "leaderboard.md").read_text()
    assert "toy-maskgit" in text and "fid ↓" in text and "broken.json" in text
    assert "toy-class-mean" in text  # a card without a record is listed as not run
