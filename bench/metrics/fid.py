"""Frechet Inception Distance (Heusel et al. 2017, eq. 6) in float64.

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2). The trace term equals
tr((S1^1/2 S2 S1^1/2)^1/2), and S1^1/2 S2 S1^1/2 is symmetric positive semi-definite, so
both square roots come from `eigh`: exact, faster than scipy.linalg.sqrtm, and free of the
complex round-off that sqrtm of the non-symmetric S1 S2 produces (torch-fidelity takes
eigvals of S1 S2; clean-fid and pytorch-fid take sqrtm).
"""

from __future__ import annotations

import numpy as np

from bench.metrics.base import FID, FID_CI_HIGH, FID_CI_LOW, Metric, MetricInputs
from bench.registry import METRICS


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) in float64 with the unbiased covariance (np.cov, ddof=1), as the
    reference implementations compute them."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics disagree in shape: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    middle = (middle + middle.T) / 2  # remove round-off asymmetry before eigh
    trace_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    return frechet_distance(*statistics(features1), *statistics(features2))


def bootstrap_fid_interval(
    features: np.ndarray, reference_mu: np.ndarray, reference_sigma: np.ndarray, resamples: int,
    confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap interval of FID over the generated samples (resampled with replacement,
    reference statistics held fixed): the spread due to the finite sample set.

    Resampling with replacement repeats images, which shrinks the sample covariance and
    inflates FID, so the raw percentile interval can miss the point estimate altogether. The
    bootstrap values are therefore shifted by their mean bias (mean - FID) before the
    percentiles are taken (Efron & Tibshirani 1993, section 10.6)."""
    rng = np.random.default_rng(seed)
    point = frechet_distance(*statistics(features), reference_mu, reference_sigma)
    values = [
        frechet_distance(*statistics(features[rng.integers(0, len(features), len(features))]), reference_mu, reference_sigma)
        for _ in range(resamples)
    ]
    values = np.asarray(values) - (np.mean(values) - point)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


@METRICS.register("fid")
class FidMetric(Metric):
    needs = "features"
    keys = (FID,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        mu, sigma = statistics(inputs.features)
        result = {FID: frechet_distance(mu, sigma, inputs.reference_mu, inputs.reference_sigma)}
        resamples = getattr(self.eval_config, "fid_bootstrap", 0)
        if resamples:
            low, high = bootstrap_fid_interval(inputs.features, inputs.reference_mu, inputs.reference_sigma, resamples)
            result.update({FID_CI_LOW: low, FID_CI_HIGH: high})
        return result
