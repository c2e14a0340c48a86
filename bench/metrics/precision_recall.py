"""Improved precision and recall (Kynkaanniemi et al., NeurIPS 2019, Sec. 3): each set's
manifold is the union of balls reaching each sample's k-th nearest neighbour (k=3);
precision = share of generated samples inside the real manifold, recall = share of real
samples inside the generated manifold."""

from __future__ import annotations

import numpy as np
import torch

from bench.metrics.base import PRECISION, RECALL, Metric, MetricInputs
from bench.registry import METRICS

_CHUNK = 1024


def _kth_neighbour_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    radii = []
    for start in range(0, len(points), _CHUNK):
        distances = torch.cdist(points[start : start + _CHUNK], points)  # (chunk, N)
        radii.append(distances.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at 0
    return torch.cat(radii)


def _coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> float:
    inside = 0
    for start in range(0, len(queries), _CHUNK):
        distances = torch.cdist(queries[start : start + _CHUNK], points)  # (chunk, N)
        inside += (distances <= radii[None, :]).any(dim=1).sum().item()
    return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    real_t = torch.from_numpy(np.asarray(real, np.float64))
    fake_t = torch.from_numpy(np.asarray(fake, np.float64))
    precision = _coverage(fake_t, real_t, _kth_neighbour_radii(real_t, k))
    recall = _coverage(real_t, fake_t, _kth_neighbour_radii(fake_t, k))
    return precision, recall


@METRICS.register("precision-recall")
class PrecisionRecallMetric(Metric):
    needs = "features"
    keys = (PRECISION, RECALL)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        cap = self.eval_config.precision_recall_max
        precision, recall = precision_recall(
            inputs.reference_features[:cap], inputs.features[:cap], self.eval_config.precision_recall_k
        )
        return {PRECISION: precision, RECALL: recall}
