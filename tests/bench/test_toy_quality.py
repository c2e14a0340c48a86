"""The MaskGIT issue's quality bar on the toy benchmark, measured with the committed toy models:

- the tokenizer's reconstructions score a better FID than real images with shuffled colours;
- toy MaskGIT samples at the default sampler (8 steps) are classified as their class >= 90%
  of the time, with an FID well below that of decoding random token grids.
"""

import pytest

from tests.bench.toy_runs import metric_values

pytestmark = pytest.mark.slow

MODELS = ("toy-vq-reconstruction", "toy-shuffled-colour", "toy-random-tokens", "toy-maskgit")
SETTINGS = ("num_samples=2000", "eval.reference_images=10000")


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    return {model: metric_values(results, f"model={model}", *SETTINGS) for model in MODELS}


def test_reconstructions_beat_shuffled_colours(scores):
    assert scores["toy-vq-reconstruction"]["fid"] < scores["toy-shuffled-colour"]["fid"]


def test_toy_maskgit_is_class_faithful_and_far_from_random_tokens(scores):
    assert scores["toy-maskgit"]["accuracy"] >= 0.90
    assert scores["toy-maskgit"]["fid"] < 0.5 * scores["toy-random-tokens"]["fid"]
