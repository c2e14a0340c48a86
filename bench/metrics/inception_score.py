"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), mean and std over
splits. Split and shuffle conventions follow torch-fidelity's `isc_features_to_metric`
(samples permuted with RandomState(2020), 10 splits, float64), so values match it."""

from __future__ import annotations

import numpy as np

from bench.metrics.base import IS_MEAN, IS_STD, Metric, MetricInputs
from bench.registry import METRICS


def inception_score(logits: np.ndarray, splits: int = 10, shuffle_seed: int | None = 2020) -> tuple[float, float]:
    logits = np.asarray(logits, dtype=np.float64)
    if shuffle_seed is not None:
        logits = logits[np.random.RandomState(shuffle_seed).permutation(len(logits))]
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    n = len(logits)
    scores = []
    for i in range(splits):
        chunk = slice(i * n // splits, (i + 1) * n // splits)
        marginal = p[chunk].mean(axis=0, keepdims=True)
        kl = (p[chunk] * (log_p[chunk] - np.log(marginal))).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


@METRICS.register("is")
class InceptionScoreMetric(Metric):
    needs = "logits"
    keys = (IS_MEAN, IS_STD)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        mean, std = inception_score(inputs.logits, self.eval_config.is_splits)
        return {IS_MEAN: mean, IS_STD: std}
