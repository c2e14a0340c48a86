"""Reconstruction metrics for tokenizers: PSNR, SSIM and rFID over (original, reconstruction)
pairs. Conventions follow maskgit-pytorch's stage-1 table: per-image PSNR/SSIM on [0, 1]
floats averaged over images; rFID = FID between the originals' and the reconstructions'
features."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.metrics.base import PSNR, RFID, SSIM, Metric, MetricInputs
from bench.metrics.fid import fid_from_features
from bench.registry import METRICS


def _unit_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float64 in [0, 1]."""
    return torch.as_tensor(np.asarray(images)).to(torch.float64) / 255.0


def psnr(originals: np.ndarray, reconstructions: np.ndarray) -> float:
    """Mean over images of 10 log10(1 / MSE), data range 1; identical images count as 100 dB."""
    mse = (_unit_float(originals) - _unit_float(reconstructions)).pow(2).flatten(1).mean(dim=1)
    per_image = torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-30)), torch.full_like(mse, 100.0))
    return float(per_image.mean())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return kernel[:, None] * kernel[None, :]  # (size, size)


def ssim(originals: np.ndarray, reconstructions: np.ndarray, window: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004, eq. 13) with an 11x11 Gaussian window (sigma 1.5),
    K1 = 0.01, K2 = 0.03, population covariances, averaged over the window positions that
    fit inside the image, over channels and over images. This is skimage's
    `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1)`, whose border crop leaves exactly the positions a 'valid' filter keeps."""
    x, y = _unit_float(originals), _unit_float(reconstructions)
    channels = x.shape[1]
    kernel = _gaussian_window(window, sigma).expand(channels, 1, window, window)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)  # 'valid': (N, C, H-10, W-10)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.flatten(1).mean(dim=1).mean())


@METRICS.register("psnr")
class PsnrMetric(Metric):
    needs = "pairs"
    keys = (PSNR,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        return {PSNR: psnr(inputs.originals, inputs.reconstructions)}


@METRICS.register("ssim")
class SsimMetric(Metric):
    needs = "pairs"
    keys = (SSIM,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        return {SSIM: ssim(inputs.originals, inputs.reconstructions)}


@METRICS.register("rfid")
class ReconstructionFidMetric(Metric):
    needs = "pairs"
    keys = (RFID,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        return {RFID: fid_from_features(inputs.features, inputs.original_features)}
