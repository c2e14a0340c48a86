"""LPIPS-VGG16 (Zhang et al. 2018) through torch-fidelity's `lpips-vgg16` sample similarity.

It needs two files from the internet: torch-fidelity's LPIPS head weights and torchvision's
VGG16 backbone. Offline, point MGM_LPIPS_WEIGHTS / MGM_VGG16_WEIGHTS at local copies (or put
them in the mgm-bench cache folder); we link them into torch hub's checkpoint folder, where
torch-fidelity and torchvision look before downloading."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from bench.checkpoints import FileSpec, resolve_file
from bench.metrics.base import LPIPS, Metric, MetricInputs
from bench.registry import METRICS

REQUIRED_FILES = (
    FileSpec(
        role="lpips-head", format="torch", env="MGM_LPIPS_WEIGHTS",
        url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-vgg16-lpips.pth",
    ),
    FileSpec(
        role="vgg16-backbone", format="torch", env="MGM_VGG16_WEIGHTS",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
    ),
)


def _stage_in_torch_hub() -> None:
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for spec in REQUIRED_FILES:
        if (hub / spec.name).is_file():
            continue
        source = resolve_file("lpips-vgg16", spec)
        hub.mkdir(parents=True, exist_ok=True)
        os.symlink(source.resolve(), hub / spec.name)


def lpips_distance(originals: np.ndarray, reconstructions: np.ndarray, batch_size: int = 64) -> float:
    """Mean LPIPS over pairs of uint8 (N, 3, H, W) images."""
    from torch_fidelity.sample_similarity_lpips import SampleSimilarityLPIPS

    _stage_in_torch_hub()
    model = SampleSimilarityLPIPS("lpips-vgg16", sample_similarity_dtype="uint8").eval()
    values = []
    with torch.no_grad():
        for start in range(0, len(originals), batch_size):
            a = torch.as_tensor(originals[start : start + batch_size])
            b = torch.as_tensor(reconstructions[start : start + batch_size])
            values.append(model(a, b).double().flatten())
    return float(torch.cat(values).mean())


@METRICS.register("lpips")
class LpipsMetric(Metric):
    needs = "pairs"
    keys = (LPIPS,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        return {LPIPS: lpips_distance(inputs.originals, inputs.reconstructions)}
