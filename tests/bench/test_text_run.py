"""A text-conditioned run end to end: toy captions become prompts, prompts are stored with
the samples, and caption accuracy is scored against them."""

import numpy as np
import pytest

from bench.config import parse_overrides
from bench.data.toy import ToyShapes
from bench.errors import UserFacingError
from bench.metrics.base import MetricInputs
from bench.metrics.caption import CaptionAccuracyMetric, caption_targets
from bench.run import execute, resolve
from tests.conftest import SMALL_RUN


def test_toy_muse_run_scores_captions(tmp_path):
    run = resolve(parse_overrides(["model=toy-muse", *SMALL_RUN, "sampler.steps=4"]))
    assert run.config.metrics == ("fid", "precision-recall", "caption-accuracy")  # the card's default set
    record = execute(run, tmp_path, progress=False, log=lambda message: None)
    for key in ("fid", "caption_accuracy", "colour_accuracy", "accuracy"):
        assert np.isfinite(record["metrics"][key]["value"])
    with np.load(f"{record['samples_dir']}/shard-00000.npz") as shard:
        prompts, labels = shard["prompts"], shard["labels"]
    prompts_set = ToyShapes("test", 120, 32)
    assert list(prompts[:3]) == [prompts_set.caption(i) for i in range(3)]
    assert list(labels[:3]) == [prompts_set.label(i) for i in range(3)]


def test_caption_accuracy_needs_both_shape_and_colour():
    prompts = np.array(["a small red circle on a black background", "a large blue star on a grey background"])
    shapes, colours = caption_targets(prompts)
    logits = np.zeros((2, 12), np.float32)
    logits[0, shapes[0]] = logits[1, 0] = 1  # second image: wrong shape
    colour_logits = np.zeros((2, 8), np.float32)
    colour_logits[0, colours[0]] = colour_logits[1, colours[1]] = 1
    values = CaptionAccuracyMetric(None).compute(MetricInputs(logits=logits, prompts=prompts, colour_logits=colour_logits))
    assert values == {"caption_accuracy": 0.5, "colour_accuracy": 1.0, "accuracy": 0.5}
    with pytest.raises(UserFacingError, match="text model"):
        CaptionAccuracyMetric(None).compute(MetricInputs(logits=logits))
