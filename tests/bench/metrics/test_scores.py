"""IS, precision/recall and class accuracy against torch-fidelity and hand-worked cases."""

import numpy as np
import pytest
import torch

from bench.config import EvalConfig
from bench.metrics.accuracy import ClassAccuracyMetric
from bench.metrics.base import MetricInputs
from bench.metrics.inception_score import inception_score
from bench.metrics.precision_recall import precision_recall


def test_inception_score_matches_torch_fidelity():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = np.random.default_rng(0).normal(size=(1000, 12)) * 3
    ours = inception_score(logits, splits=10)
    theirs = isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=True, rng_seed=2020)
    assert ours[0] == pytest.approx(theirs["inception_score_mean"], rel=1e-9)
    assert ours[1] == pytest.approx(theirs["inception_score_std"], rel=1e-6)


def test_inception_score_limits():
    uniform = np.zeros((100, 12))
    assert inception_score(uniform)[0] == pytest.approx(1.0)
    confident_balanced = np.eye(10)[np.arange(1000) % 10] * 50
    assert inception_score(confident_balanced, splits=1)[0] == pytest.approx(10.0, rel=1e-6)


def test_precision_recall_matches_torch_fidelity():
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    rng = np.random.default_rng(1)
    real = rng.normal(size=(400, 16))
    fake = rng.normal(size=(300, 16)) * 1.3 + 0.4
    ours = precision_recall(real, fake, k=3)
    theirs = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), neighborhood=3)
    assert ours == pytest.approx(theirs, abs=1e-6)  # theirs averages in float32
    assert 0.05 < ours[0] < 0.95 and 0.05 < ours[1] < 0.95


def test_precision_recall_extremes():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 8))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)


def test_class_accuracy():
    logits = np.eye(4)[[0, 1, 2, 3, 0]]
    metric = ClassAccuracyMetric(EvalConfig())
    assert metric.compute(MetricInputs(logits=logits, labels=np.array([0, 1, 2, 3, 1])))["accuracy"] == 0.8
