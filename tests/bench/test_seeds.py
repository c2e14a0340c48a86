"""Statistical honesty: seeds=N keeps every per-seed value and reports mean and std; the
FID bootstrap interval brackets the point estimate."""

import json
import statistics

import numpy as np

from bench.metrics.fid import bootstrap_fid_interval, fid_from_features, statistics as fid_statistics
from tests.conftest import SMALL_RUN, run_cli


def test_seeds_record_keeps_per_seed_values_and_their_mean(tmp_path):
    results = tmp_path / "results"
    done = run_cli("run", *SMALL_RUN, "metrics=[fid,accuracy]", "metrics.seeds=3", "eval.fid_bootstrap=20",
                   "--results-dir", str(results))
    assert done.returncode == 0, done.stderr
    records = {p.stem: json.loads(p.read_text()) for p in (results / "records").glob("*.json")}
    [combined] = [r for r in records.values() if "seed_records" in r]
    assert len(records) == 4 and set(combined["seed_records"]) <= set(records)
    fid = combined["metrics"]["fid"]
    singles = [records[h]["metrics"]["fid"]["value"] for h in combined["seed_records"]]
    assert fid["per_seed"] == singles and fid["seeds"] == [0, 1, 2]
    assert fid["value"] == statistics.fmean(singles) and fid["std"] == statistics.stdev(singles)
    assert len(set(singles)) == 3  # independent seeds draw different images
    assert fid["num_samples"] == 120 and "± " in done.stdout and "(3 seeds)" in done.stdout
    for h in combined["seed_records"]:
        single = records[h]["metrics"]
        assert single["fid_ci95_low"]["value"] <= single["fid"]["value"] <= single["fid_ci95_high"]["value"]


def test_bootstrap_interval_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(4000, 8))
    mu, sigma = fid_statistics(reference)
    widths = []
    for n in (200, 3200):
        generated = rng.normal(0.2, 1.0, size=(n, 8))
        low, high = bootstrap_fid_interval(generated, mu, sigma, resamples=200)
        assert low <= fid_from_features(generated, reference) + 0.05 and high > low
        widths.append(high - low)
    assert widths[1] < widths[0] / 2
