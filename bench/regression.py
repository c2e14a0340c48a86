"""Quality regression check of the toy benchmark (run by CI through the test suite).

A small fixed set of points (toy MaskGIT, 8 steps, guidance 0 and 2, 1000 samples) is rerun
and its FID compared with committed baselines. The tolerance of each point comes from the
seed-to-seed spread measured when the baseline was made: the run fails when its FID is
worse than the baseline mean by more than `SPREAD_MULTIPLE` standard deviations (with a
floor, so three nearly equal seeds do not make the check flaky).

    python -m bench regress            # check against bench/assets/regression-baseline.json
    python -m bench regress --update   # remeasure the baseline over BASELINE_SEEDS seeds
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Callable, Mapping

from bench.checkpoints import REPO_ROOT
from bench.run import execute, resolve

BASELINE_PATH = REPO_ROOT / "bench" / "assets" / "regression-baseline.json"
POINTS: dict[str, dict[str, str]] = {
    f"toy-maskgit-steps8-guidance{g}": {
        "model": "toy-maskgit", "sampler.steps": "8", "sampler.guidance_scale": g, "num_samples": "1000",
        "metrics": "[fid,accuracy]",
    }
    for g in ("0.0", "2.0")
}
BASELINE_SEEDS = (0, 1, 2)
SPREAD_MULTIPLE = 4.0
MIN_TOLERANCE_FRACTION = 0.05  # of the baseline mean FID


@dataclasses.dataclass(frozen=True)
class Verdict:
    point: str
    fid: float
    baseline_mean: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.fid <= self.baseline_mean + self.tolerance

    def describe(self) -> str:
        status = "ok" if self.passed else "REGRESSED"
        return (f"{status:9} {self.point}: FID {self.fid:.3f} vs baseline {self.baseline_mean:.3f} "
                f"(allowed up to {self.baseline_mean + self.tolerance:.3f})")


def tolerance(per_seed: list[float]) -> float:
    mean = statistics.fmean(per_seed)
    spread = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
    return max(SPREAD_MULTIPLE * spread, MIN_TOLERANCE_FRACTION * mean)


def check_record(point: str, record: Mapping, baseline: Mapping) -> Verdict:
    """Compare one run record's FID with the baseline entry of its point."""
    entry = baseline["points"][point]
    return Verdict(point, record["metrics"]["fid"]["value"], entry["fid_mean"], entry["fid_tolerance"])


def load_baseline(path: Path = BASELINE_PATH) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable regression baseline ({error}); remake it with "
                         "`python -m bench regress --update`") from None


def _run(overrides: Mapping[str, str], results: Path, progress: bool, log: Callable[[str], None]) -> dict:
    return execute(resolve(overrides), results, progress=progress, log=log)


def make_baseline(results: Path, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    points = {}
    for name, overrides in POINTS.items():
        per_seed = [_run({**overrides, "seed": str(s)}, results, progress, log)["metrics"]["fid"]["value"]
                    for s in BASELINE_SEEDS]
        points[name] = {"overrides": overrides, "seeds": list(BASELINE_SEEDS), "fid_per_seed": per_seed,
                        "fid_mean": statistics.fmean(per_seed), "fid_std": statistics.stdev(per_seed),
                        "fid_tolerance": tolerance(per_seed)}
    return {"spread_multiple": SPREAD_MULTIPLE, "min_tolerance_fraction": MIN_TOLERANCE_FRACTION, "points": points}


def run_checks(results: Path, baseline: Mapping, progress: bool = True,
               log: Callable[[str], None] = print) -> list[Verdict]:
    """Rerun every point at seed 0 and compare it with the baseline."""
    return [check_record(name, _run({**overrides, "seed": "0"}, results, progress, log), baseline)
            for name, overrides in POINTS.items()]
