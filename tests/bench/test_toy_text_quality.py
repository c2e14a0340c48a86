"""The MUSE issue's toy bar, measured with the committed toy-muse cascade: caption accuracy
(shape and colour read by the feature network) rises with the guidance scale over
{0, 1, 3, 5} (0 = unconditional), and the sweep's report and plot land in reports/.
Slow: four 1000-sample runs of the cascade (about 2.5 minutes on 2 cores)."""

import pytest

from bench.config import parse_overrides
from bench.report import write_reports
from bench.sweep import run_sweep

pytestmark = pytest.mark.slow


@pytest.mark.xfail(
    strict=True,
    reason="the committed toy-muse with the card's decoding (plausibility constraint 0.1, no critic) rises from 0 to "
    "1 to 3 but falls slightly at 5: caption accuracy 0.006 / 0.861 / 0.902 / 0.886 (1000 samples); 0.9035 / 0.886 "
    "at 3 / 5 with 2000 samples, mostly colour (0.938 -> 0.9225; shape 0.960 -> 0.959); drop the marker when a cascade rises to 5",
)
def test_caption_accuracy_rises_with_guidance(tmp_path):
    results = tmp_path / "results"
    overrides = parse_overrides(["model=toy-muse", "sweep.preset=muse-guidance", "num_samples=1000",
                                 "eval.reference_images=5000"])
    records = [record for _, record in run_sweep(overrides, results, progress=False, log=print)]
    accuracy = {r["config"]["run"]["sampler"]["guidance_scale"]: r["metrics"]["caption_accuracy"]["value"]
                for r in records}
    print(accuracy)
    assert sorted(accuracy) == [0.0, 1.0, 3.0, 5.0]
    assert accuracy[0.0] < 0.1  # unconditional: right shape and colour by chance (1/96)
    assert accuracy[0.0] < accuracy[1.0] < accuracy[3.0] < accuracy[5.0]
    written, _ = write_reports(results, tmp_path / "reports")
    assert any(path.name.endswith("caption-vs-guidance.png") for path in written)
