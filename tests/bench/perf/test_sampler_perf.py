"""The speed benchmark runs and reports ratios (no timing is asserted: speed is reported,
never tested against a clock)."""

import importlib.util

from bench.perf.sampler import SamplerPerfConfig, format_result, run_sampler_benchmark


def test_sampler_benchmark_reports_ratios_for_every_installed_peer():
    config = SamplerPerfConfig(width=32, depth=1, heads=2, tokens=16, codebook_size=64, steps=2, batch_size=2, repeats=1)
    result = run_sampler_benchmark(config, log=lambda message: None)
    expected = {"ours"}
    if importlib.util.find_spec("muse_maskgit_pytorch"):
        expected.add("muse-maskgit-pytorch")
    if importlib.util.find_spec("diffusers"):
        expected.add("diffusers-amused")
    assert set(result["images_per_s"]) == expected
    assert set(result["ratio_ours_over"]) == expected - {"ours"}
    assert all(v > 0 for v in result["images_per_s"].values())
    assert "ours" in format_result(result)
