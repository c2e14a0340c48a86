"""The metric contract: what a metric needs, what it returns, which way is better."""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import numpy as np

# Result keys (nested in records as metrics.<key>.value); never composite strings.
FID = "fid"
FID_CI_LOW, FID_CI_HIGH = "fid_ci95_low", "fid_ci95_high"  # bootstrap interval, with eval.fid_bootstrap > 0
IS_MEAN, IS_STD = "is_mean", "is_std"
PRECISION, RECALL = "precision", "recall"
ACCURACY = "accuracy"
CAPTION_ACCURACY, COLOUR_ACCURACY = "caption_accuracy", "colour_accuracy"
CLIP_SCORE = "clip_score"
PSNR, SSIM, RFID, LPIPS = "psnr", "ssim", "rfid", "lpips"
# task=linear-probe (bench/probe.py): held-out top-1 of the model's encoder and of a random-init twin
PROBE_TOP1, PROBE_TOP1_RANDOM = "linear_probe_top1", "linear_probe_top1_random_init"

HIGHER_IS_BETTER = {
    FID: False, FID_CI_LOW: False, FID_CI_HIGH: False, IS_MEAN: True, IS_STD: False, PRECISION: True, RECALL: True,
    ACCURACY: True, CAPTION_ACCURACY: True, COLOUR_ACCURACY: True, CLIP_SCORE: True, PSNR: True, SSIM: True, RFID: False, LPIPS: False,
    PROBE_TOP1: True, PROBE_TOP1_RANDOM: True,
}


@dataclasses.dataclass
class MetricInputs:
    """Everything any metric may read; a run fills in what its metric set needs.

    features: float32 (N, D) penultimate features of generated images
    logits:   float32 (N, K) class logits of generated images
    labels:   int64 (N,) the classes the images were conditioned on (None: unconditional)
    reference_mu, reference_sigma: float64 (D,), (D, D) statistics of the real images
    reference_features: float32 (M, D) real-image features (for precision/recall)
    originals, reconstructions: uint8 (N, 3, H, W) pairs for reconstruction metrics
    original_features: float32 (N, D) features of `originals` (rFID)
    prompts: str (N,) the prompts of text-conditioned samples (None: class-conditional)
    colour_logits: float32 (N, 8) toy feature net's foreground-colour logits
    sample_shards: the shard files holding the generated images (metrics that need pixels)
    """

    features: np.ndarray | None = None
    logits: np.ndarray | None = None
    labels: np.ndarray | None = None
    reference_mu: np.ndarray | None = None
    reference_sigma: np.ndarray | None = None
    reference_features: np.ndarray | None = None
    originals: np.ndarray | None = None
    reconstructions: np.ndarray | None = None
    original_features: np.ndarray | None = None
    prompts: np.ndarray | None = None
    colour_logits: np.ndarray | None = None
    sample_shards: list | None = None


class Metric(abc.ABC):
    """One metric family. `needs` tells the harness which inputs to compute:
    'features' (generated + reference features), 'logits' (generated logits + labels) or
    'pairs' (originals and their reconstructions) or 'images' (the sample shards themselves)."""

    needs: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]

    def __init__(self, eval_config) -> None:
        self.eval_config = eval_config

    @abc.abstractmethod
    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        """Return {result key: value} for every key in `keys`."""
