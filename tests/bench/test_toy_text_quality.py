"""The MUSE issue's toy bar, measured with the committed toy-muse cascade: caption accuracy
(shape and colour read by the feature network) rises with the guidance scale over
{0, 1, 3, 5} (0 = unconditional), and the sweep's report and plot land in reports/.
Slow: four 1000-sample runs of the cascade (about 4 minutes on 2 cores).

With the counter-based noise it reads 0.002 / 0.858 / 0.913 / 0.893: it rises clearly up to 3 and
not from 3 to 5. With 4000 samples the two scales tie (0.8962 / 0.8965; the 1000-sample blocks
rise in two of four), so the earlier release's pass from 3 to 5 (0.883 -> 0.889) was within
sampling noise. That half of the bar is an expected failure, strict: it reports an unexpected
pass (a change of model or decoding) so the marker can go. README, MUSE section."""

import pytest

from bench.config import parse_overrides
from bench.report import write_reports
from bench.sweep import run_sweep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """({guidance scale: caption accuracy}, results folder) of the 1000-sample guidance sweep."""
    results = tmp_path_factory.mktemp("text-quality") / "results"
    overrides = parse_overrides(["model=toy-muse", "sweep.preset=muse-guidance", "num_samples=1000",
                                 "eval.reference_images=5000"])
    records = [record for _, record in run_sweep(overrides, results, progress=False, log=print)]
    accuracy = {r["config"]["run"]["sampler"]["guidance_scale"]: r["metrics"]["caption_accuracy"]["value"]
                for r in records}
    print(accuracy)
    return accuracy, results


def test_caption_accuracy_rises_with_guidance_up_to_3(sweep, tmp_path):
    accuracy, results = sweep
    assert sorted(accuracy) == [0.0, 1.0, 3.0, 5.0]
    assert accuracy[0.0] < 0.1  # unconditional: right shape and colour by chance (1/96)
    # each step up by more than twice the paired 1000-sample noise (about 0.011)
    assert accuracy[1.0] > accuracy[0.0] + 0.5 and accuracy[3.0] > accuracy[1.0] + 0.025
    written, _ = write_reports(results, tmp_path / "reports")
    assert any(path.name.endswith("caption-vs-guidance.png") for path in written)


@pytest.mark.xfail(strict=True, reason="toy-muse's caption accuracy is flat from guidance 3 to 5 "
                   "(4000 samples: 0.8962 vs 0.8965); README, MUSE section")
def test_caption_accuracy_rises_from_guidance_3_to_5(sweep):
    accuracy, _ = sweep
    assert accuracy[3.0] < accuracy[5.0]
