"""Speed regression check: our sampler's speed as a ratio to a reference workload timed in
the same run (muse-maskgit-pytorch's MaskGit.generate at the toy MaskGIT's size), so the
machine's own speed cancels, against the ratio stored in bench/assets/perf-baseline.json.
A relative slowdown beyond MAX_SLOWDOWN fails. `python -m bench regress --update` remakes
the baseline as the median ratio of BASELINE_RUNS benchmark runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import statistics
from typing import Callable

from bench.checkpoints import REPO_ROOT
from bench.config import to_dict
from bench.perf.sampler import SamplerPerfConfig, run_sampler_benchmark

BASELINE_PATH = REPO_ROOT / "bench" / "assets" / "perf-baseline.json"
MAX_SLOWDOWN = 0.25  # relative: ours/peer falling from r to below r / 1.25
REFERENCE_PEER = "muse-maskgit-pytorch"  # the closest architecture: a plain transformer, like ours
# The toy MaskGIT's size: 4 layers of width 128, 64 tokens, 256 codes, 8 steps.
CONFIG = SamplerPerfConfig(width=128, depth=4, heads=4, tokens=64, codebook_size=256, steps=8, batch_size=32, repeats=5)
BASELINE_RUNS = 5


def make_baseline(log: Callable[[str], None] = print) -> dict:
    ratios = []
    for run in range(BASELINE_RUNS):
        result = run_sampler_benchmark(CONFIG, log=log, peers=(REFERENCE_PEER,))
        ratios.append(result["ratio_ours_over"][REFERENCE_PEER])
        log(f"speed baseline run {run + 1}/{BASELINE_RUNS}: ours/{REFERENCE_PEER} = {ratios[-1]:.3f}")
    return {"config": to_dict(CONFIG), "ratio_ours_over": {REFERENCE_PEER: statistics.median(ratios)},
            "runs": ratios, "threads": result["threads"]}


def check_speed(baseline: dict, log: Callable[[str], None] = print, attempts: int = 3) -> dict:
    """Benchmark at the baseline's config against the reference peer only (the check needs no
    other peer, and each one costs CI time). A run that shows a slowdown is measured again, up to
    `attempts` runs, and the best ratio per peer is returned: a real regression shows in every run,
    while a burst of other work on a shared machine seldom lands on our calls in all of them."""
    config = SamplerPerfConfig(**baseline["config"])
    result = run_sampler_benchmark(config, log=log, peers=(REFERENCE_PEER,))
    for attempt in range(2, attempts + 1):
        if not regressions(result, baseline):
            break
        log(f"slower than the baseline ({'; '.join(regressions(result, baseline))}): measuring again, "
            f"run {attempt}/{attempts}")
        again = run_sampler_benchmark(config, log=log, peers=(REFERENCE_PEER,))
        best = {peer: max(ratio, again["ratio_ours_over"][peer]) for peer, ratio in result["ratio_ours_over"].items()}
        result = {**again, "ratio_ours_over": best, "runs": result.get("runs", [result]) + [again]}
    return result


def load_baseline(path: Path = BASELINE_PATH) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable speed baseline ({error}); remake it as this module's docstring says") from None


def slowdowns(result: dict, baseline: dict) -> dict[str, float]:
    """Per peer present in both: baseline ratio / current ratio - 1 (> 0 means we got slower)."""
    return {
        peer: baseline["ratio_ours_over"][peer] / ratio - 1
        for peer, ratio in result["ratio_ours_over"].items() if peer in baseline["ratio_ours_over"]
    }


def regressions(result: dict, baseline: dict, limit: float = MAX_SLOWDOWN) -> list[str]:
    return [
        f"ours/{peer} speed ratio {result['ratio_ours_over'][peer]:.3f} vs baseline "
        f"{baseline['ratio_ours_over'][peer]:.3f}: {100 * slow:.0f}% slower (limit {100 * limit:.0f}%)"
        for peer, slow in slowdowns(result, baseline).items() if slow > limit
    ]
