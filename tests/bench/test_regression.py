"""CI quality regression check: the toy MaskGIT points hold their committed baseline FID,
and a deliberately degraded sampler fails the same check."""

import pytest

from bench.regression import POINTS, check_record, load_baseline, run_checks, tolerance
from bench.run import execute, resolve


def test_tolerance_comes_from_the_seed_spread_with_a_floor():
    assert tolerance([10.0, 12.0, 14.0]) == pytest.approx(4.0 * 2.0)
    assert tolerance([10.0, 10.0, 10.0]) == pytest.approx(0.5)


def test_toy_points_hold_their_baseline(results_dir):
    baseline = load_baseline()
    assert set(baseline["points"]) == set(POINTS)
    verdicts = run_checks(results_dir, baseline, progress=False, log=lambda m: None)
    assert [v.point for v in verdicts] == list(POINTS)
    for verdict in verdicts:
        assert verdict.passed, verdict.describe()
        # deterministic on CPU: seed 0 reproduces the baseline's own seed-0 value
        assert verdict.fid == pytest.approx(baseline["points"][verdict.point]["fid_per_seed"][0], rel=1e-4)


def test_a_degraded_sampler_fails_the_check(results_dir):
    degradation = {"sampler.choice_temperature": "0.0"}  # deterministic re-masking: no Gumbel noise
    point = "toy-maskgit-steps8-guidance0.0"
    record = execute(resolve({**POINTS[point], "seed": "0", **degradation}), results_dir, progress=False,
                     log=lambda m: None)
    verdict = check_record(point, record, load_baseline())
    assert not verdict.passed and "REGRESSED" in verdict.describe()
