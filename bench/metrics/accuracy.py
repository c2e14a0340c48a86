"""Conditional class accuracy: how often the feature network classifies a generated image
as the class it was asked for (the CAS-style check of MaskGIT's Table 1, with our
classifier standing in for a ResNet trained on real data)."""

from __future__ import annotations

import numpy as np

from bench.errors import UserFacingError
from bench.metrics.base import ACCURACY, Metric, MetricInputs
from bench.registry import METRICS


@METRICS.register("accuracy")
class ClassAccuracyMetric(Metric):
    needs = "logits"
    keys = (ACCURACY,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        if inputs.labels is None:
            raise UserFacingError(
                "metric 'accuracy' needs class-conditional samples", hint="drop it: metrics=[fid,is,precision-recall]"
            )
        return {ACCURACY: float(np.mean(np.argmax(inputs.logits, axis=1) == inputs.labels))}
