"""`task=linear-probe`: how good a generative model's encoder is as a representation.

The protocol of LTH14/mage `main_linprobe.py` (README command, `--global_pool`): frozen encoder,
features = mean of the image-token outputs through a non-affine LayerNorm, head = BatchNorm1d
without affine (eps 1e-6) + Linear (weights N(0, 0.01), zero bias), lr = base_lr x batch / 256,
no weight decay, linear warm-up then cosine decay; top-1 accuracy on held-out images. Changes
for a CPU benchmark, each recorded: features are computed once (no RandomResizedCrop/flip
augmentation), SGD with momentum 0.9 instead of LARS. The same probe on a randomly initialised
encoder of the same architecture is the reference a representation has to beat.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.config import ProbeConfig
from bench.metrics.base import PROBE_TOP1, PROBE_TOP1_RANDOM


def extract_features(featurise: Callable[[torch.Tensor], torch.Tensor], dataset: Any, batch_size: int,
                     progress: bool, description: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of `dataset` -> (features (N, D) float32 on the CPU, labels (N,))."""
    features, labels = [], []
    for start in tqdm(range(0, len(dataset), batch_size), desc=description, disable=not progress):
        images, batch_labels = dataset.batch(start, min(start + batch_size, len(dataset)))
        features.append(featurise(images).float().cpu())
        labels.append(batch_labels)
    return torch.cat(features), torch.cat(labels)


def train_probe(train_x: torch.Tensor, train_y: torch.Tensor, config: ProbeConfig, seed: int = 0) -> torch.nn.Module:
    """BatchNorm1d(affine=False) + Linear over the train labels' classes, trained by SGD on frozen features."""
    num_classes = int(train_y.max()) + 1
    generator = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(train_x.shape[1], num_classes)
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01, generator=generator)
        head.bias.zero_()
    probe = torch.nn.Sequential(torch.nn.BatchNorm1d(train_x.shape[1], affine=False, eps=1e-6), head)
    learning_rate = config.base_learning_rate * config.batch_size / 256
    optimizer = torch.optim.SGD(head.parameters(), lr=learning_rate, momentum=0.9, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train_x) / config.batch_size)
    total, warmup = config.epochs * steps_per_epoch, config.warmup_epochs * steps_per_epoch

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    probe.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), config.batch_size):
            picks = order[start : start + config.batch_size]
            if len(picks) < 2:  # BatchNorm needs two rows to normalise
                continue
            loss = F.cross_entropy(probe(train_x[picks]), train_y[picks])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return probe.eval()


@torch.no_grad()
def top1(probe: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((probe(x).argmax(-1) == y).float().mean())


def probe_accuracy(model: Any, train_set: Any, test_set: Any, config: ProbeConfig,
                   progress: bool, label: str) -> tuple[float, float]:
    """(held-out top-1, train top-1) of a probe on `model.image_features`."""
    train_x, train_y = extract_features(model.image_features, train_set, config.feature_batch_size, progress,
                                        f"{label} train features")
    test_x, test_y = extract_features(model.image_features, test_set, config.feature_batch_size, progress,
                                      f"{label} test features")
    probe = train_probe(train_x, train_y, config)
    return top1(probe, test_x, test_y), top1(probe, train_x, train_y)


def run_linear_probe(model: Any, train_set: Any, test_set: Any, config: ProbeConfig,
                     progress: bool = True) -> tuple[dict[str, float], dict[str, float]]:
    """Probe the model's encoder and a randomly initialised twin; returns (metrics, timing)."""
    started = time.perf_counter()
    ours, ours_train = probe_accuracy(model, train_set, test_set, config, progress, "trained")
    random_model = model.randomly_initialised(config.random_init_seed)
    chance, chance_train = probe_accuracy(random_model, train_set, test_set, config, progress, "random-init")
    metrics = {PROBE_TOP1: ours, PROBE_TOP1_RANDOM: chance,
               "linear_probe_train_top1": ours_train, "linear_probe_train_top1_random_init": chance_train}
    return metrics, {"wall_s": time.perf_counter() - started}
