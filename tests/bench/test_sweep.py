"""`python -m bench sweep`: grid planning, validation before sampling, and resuming."""

import json

import pytest

from bench.errors import BadOverrideError
from bench.sweep import PRESETS, plan, split_sweep_overrides
from tests.conftest import SMALL_RUN, run_cli


def test_plan_is_the_cartesian_product_with_short_axis_names(results_dir):
    points = plan({"model": "toy-maskgit", "sweep.steps": "[4,8,12]", "sweep.guidance": "[0,1,3]", "num_samples": "500"})
    assert len(points) == 9
    grid = {(p.run.sampler_config["steps"], p.run.sampler_config["guidance_scale"]) for p in points}
    assert grid == {(s, g) for s in (4, 8, 12) for g in (0.0, 1.0, 3.0)}
    assert len({p.run.config_hash for p in points}) == 9
    assert all(p.run.config.num_samples == 500 for p in points)
    # the card's other sampler settings stay as the card declares them
    assert {p.run.sampler_config["choice_temperature"] for p in points} == {4.5}


def test_full_run_keys_and_presets_are_axes(results_dir):
    points = plan({"model": "toy-maskgit", "sweep.sampler.choice_temperature": "[1.0,2.0]", "sweep.seed": "[0,1]"})
    assert sorted((p.run.sampler_config["choice_temperature"], p.run.config.seed) for p in points) == [
        (1.0, 0), (1.0, 1), (2.0, 0), (2.0, 1)]
    preset = plan({"model": "toy-maskgit", "sweep.preset": "maskgit-standard"})
    assert len(preset) == len(PRESETS["maskgit-standard"]["steps"]) * len(PRESETS["maskgit-standard"]["guidance"])


def test_emigm_interval_preset_sweeps_iterations_and_the_cfg_interval(results_dir):
    from bench.report import network_evaluations

    points = plan({"model": "toy-emigm", "sweep.preset": "emigm-interval"})
    grid = sorted((p.run.sampler_config["steps"], p.run.sampler_config["cfg_t_max"]) for p in points)
    assert grid == [(s, t) for s in (8, 16) for t in (0.3, 0.6, 1.0)]
    assert {p.run.sampler_config["cfg_t_min"] for p in points} == {0.1}
    nfe = {(p.run.sampler_config["steps"], p.run.sampler_config["cfg_t_max"]):
           network_evaluations(p.run.sampler_config, "emigm") for p in points}
    assert nfe[(16, 0.3)] == 19 and nfe[(16, 1.0)] > nfe[(16, 0.6)] > nfe[(16, 0.3)]


def test_sampler_name_swaps_the_decoder_and_its_axes(results_dir):
    points = plan({"model": "toy-maskgit", "sampler.name": "halton", "sweep.preset": "sampler-steps",
                   "sweep.guidance": "[0,2]"})
    assert {p.run.sampler_name for p in points} == {"halton"}
    assert sorted((p.run.sampler_config["steps"], p.run.sampler_config["guidance_scale"]) for p in points) == [
        (s, g) for s in (4, 8, 12, 16) for g in (0.0, 2.0)]
    assert {p.run.sampler_config["softmax_scale_max"] for p in points} == {1.2}  # halton's defaults, not maskgit's
    same = plan({"model": "toy-maskgit", "sampler.name": "maskgit", "sweep.steps": "[8]"})
    assert same[0].run.sampler_config["choice_temperature"] == 4.5  # naming the card's own sampler keeps its settings
    with pytest.raises(Exception, match="did you mean 'halton'"):
        plan({"model": "toy-maskgit", "sampler.name": "haltn", "sweep.steps": "[8]"})


@pytest.mark.parametrize("overrides, message", [
    ({"model": "toy-maskgit", "sweep.stepz": "[4]"}, "unknown sweep axis 'stepz'"),
    ({"model": "toy-maskgit", "sweep.sampler.stepz": "[4]"}, "stepz"),
    ({"model": "toy-maskgit", "sweep.steps": "[4,0]"}, "steps=0"),
    ({"model": "toy-maskgit"}, "at least one axis"),
    ({"model": "toy-maskgit", "sweep.preset": "nope"}, "unknown sweep preset"),
    ({"model": "toy-maskgit", "sweep.steps": "[4]", "sampler.steps": "8"}, "both fixed and swept"),
    ({"model": "toy-real", "sweep.steps": "[4]"}, "unknown sweep axis"),
])
def test_bad_sweeps_fail_while_planning(overrides, message, results_dir):
    with pytest.raises(BadOverrideError, match=message):
        plan(overrides)


def test_axis_values_parse_as_yaml_lists():
    axes, fixed = split_sweep_overrides({"sweep.steps": "[4, 8]", "sweep.guidance": "2.5", "seed": "3"})
    assert axes == {"steps": [4, 8], "guidance": [2.5]} and fixed == {"seed": "3"}


def test_unknown_axis_writes_nothing(tmp_path):
    results = tmp_path / "results"
    done = run_cli("sweep", "model=toy-maskgit", "sweep.steps=[1,2]", "sweep.gudiance=[0,1]", "--results-dir", str(results))
    assert done.returncode == 2 and "gudiance" in done.stderr and "guidance" in done.stderr
    assert not results.exists()


def test_sweep_skips_points_already_in_results(tmp_path):
    results = tmp_path / "results"
    small = (*SMALL_RUN, "metrics=[fid,accuracy]", "model=toy-maskgit")
    first = run_cli("sweep", *small, "sweep.steps=[1]", "--results-dir", str(results))
    assert first.returncode == 0, first.stderr
    [record] = (results / "records").glob("*.json")
    stamp = record.stat().st_mtime_ns
    second = run_cli("sweep", *small, "sweep.steps=[1,2]", "--results-dir", str(results))
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("reusing") == 1 and record.stat().st_mtime_ns == stamp
    records = [json.loads(p.read_text()) for p in (results / "records").glob("*.json")]
    assert sorted(r["config"]["run"]["sampler"]["steps"] for r in records) == [1, 2]
    table = second.stdout.splitlines()
    assert table[0].split()[:2] == ["steps", "fid"] and len(table) == 4  # header, rule, two points
