"""The MAGE issue's toy bars, measured with the committed toy-mage (slow: about 3 minutes):

- unconditional samples score a better FID than both trivial baselines that a generator must
  beat: decoding random token grids (the ceiling) and the class-mean images (mode collapse);
- the linear probe on its encoder beats the same probe on a randomly initialised encoder of the
  same size by a wide margin (10 points of top-1 here).
"""

import pytest

from tests.bench.toy_runs import metric_values

pytestmark = pytest.mark.slow

SETTINGS = ("num_samples=1000", "eval.reference_images=5000", "metrics=[fid,is,precision-recall]")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


def test_toy_mage_beats_the_trivial_baselines(results):
    fids = {model: metric_values(results, f"model={model}", *SETTINGS)["fid"]
            for model in ("toy-mage", "toy-random-tokens", "toy-class-mean")}
    assert fids["toy-mage"] < 0.5 * min(fids["toy-random-tokens"], fids["toy-class-mean"])


def test_linear_probe_beats_a_random_encoder_by_a_wide_margin(results):
    scores = metric_values(results, "model=toy-mage", "task=linear-probe")
    assert scores["linear_probe_top1"] >= scores["linear_probe_top1_random_init"] + 0.10
