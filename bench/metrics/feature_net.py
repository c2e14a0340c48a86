"""The offline feature network: a small CNN classifier trained on the toy benchmark.

Its 256-d penultimate activations stand in for Inception pool features (FID, precision/
recall) and its class logits for Inception logits (IS, class accuracy). A second head
names the foreground colour, for caption-faithfulness scores of text-conditioned models.
It is registered with torch-fidelity as `toy-featnet`, so our metrics, torch-fidelity's
`calculate_metrics` and the real Inception runs share one feature-extraction path.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
import torch_fidelity
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from bench.data.toy import FOREGROUND_COLOURS, SHAPES, ToyShapes

NAME = "toy-featnet"
INPUT_SIZE = 32
FEATURE_DIM = 256


class ToyClassifier(nn.Module):
    """Three conv stages (32 -> 16 -> 8 -> 4 px), a 256-d feature layer, two heads."""

    def __init__(self, num_classes: int = len(SHAPES), num_colours: int = len(FOREGROUND_COLOURS)):
        super().__init__()

        def stage(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.body = nn.Sequential(stage(3, 32), stage(32, 64), stage(64, 128))
        self.feature = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4 * 4, FEATURE_DIM), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.2)
        self.class_head = nn.Linear(FEATURE_DIM, num_classes)
        self.colour_head = nn.Linear(FEATURE_DIM, num_colours)

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> float (B, 3, 32, 32) in [-1, 1]; 64 px inputs are area-downsampled."""
        x = images.float() / 127.5 - 1.0
        if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="area")
        return x

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (features (B, 256), class logits (B, K), colour logits (B, 8))."""
        features = self.feature(self.body(self.preprocess(images)))
        hidden = self.dropout(features)
        return features, self.class_head(hidden), self.colour_head(hidden)


class ToyFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity wrapper: uint8 images in, the requested feature tensors out."""

    PROVIDED = ("features", "logits", "colour_logits")

    def __init__(self, name: str, features_list, feature_extractor_weights_path: str | None = None, **kwargs):
        super().__init__(name, features_list)
        from bench.checkpoints import load_feature_net_weights  # late: checkpoints imports the registry

        self.net = ToyClassifier()
        self.net.load_state_dict(load_feature_net_weights(NAME, feature_extractor_weights_path))
        self.net.eval().requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return ToyFeatureExtractor.PROVIDED

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, dtype=torch.uint8)

    def forward(self, x):
        if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3):
            raise ValueError(f"expected uint8 images (B, 3, H, W), got {getattr(x, 'dtype', type(x))} {tuple(x.shape)}")
        outputs = dict(zip(self.PROVIDED, self.net(x)))
        return tuple(outputs[name] for name in self.features_list)


torch_fidelity.register_feature_extractor(NAME, ToyFeatureExtractor)


# ----------------------------------------------------------------------------------------
# Training (python -m bench train feature-net)
# ----------------------------------------------------------------------------------------

def train_feature_net(
    train_images: int = 24_000,
    test_images: int = 4_000,
    epochs: int = 3,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[ToyClassifier, dict[str, float]]:
    """Train on the toy `train` split and measure on the held-out `test` split.

    Each epoch draws a fresh half of its images at 64 px (then area-downsampled, as at
    evaluation), so the net sees both resolutions the toy benchmark offers.
    Returns the net (eval mode) and {'test_accuracy', 'test_colour_accuracy', 'train_seconds'}.
    """
    from tqdm import tqdm

    torch.manual_seed(seed)
    data32 = ToyShapes("train", train_images, 32, seed)
    data64 = ToyShapes("train", train_images, 64, seed)
    colours = {name: i for i, name in enumerate(FOREGROUND_COLOURS)}
    net = ToyClassifier()
    optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps = epochs * math.ceil(train_images / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    bar = tqdm(total=steps, desc="train feature-net", disable=not progress)
    for epoch in range(epochs):
        order = torch.randperm(train_images, generator=generator).tolist()
        net.train()
        for first in range(0, train_images, batch_size):
            indices = order[first : first + batch_size]
            # Alternate resolutions per batch so both are seen each epoch.
            data = data64 if (first // batch_size) % 4 == 3 else data32
            images = torch.stack([data[i][0] for i in indices])
            specs = [data.spec(i) for i in indices]
            labels = torch.tensor([s.label for s in specs])
            colour_labels = torch.tensor([colours[s.colour] for s in specs])
            _, class_logits, colour_logits = net(images)
            loss = F.cross_entropy(class_logits, labels) + 0.5 * F.cross_entropy(colour_logits, colour_labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
    bar.close()
    net.eval()
    metrics = evaluate_feature_net(net, test_images, seed, progress)
    metrics["train_seconds"] = round(time.perf_counter() - start, 1)
    return net, metrics


@torch.no_grad()
def evaluate_feature_net(net: ToyClassifier, test_images: int, seed: int = 0, progress: bool = False) -> dict[str, float]:
    """Held-out class and colour accuracy on the toy `test` split at 32 and 64 px."""
    colours = {name: i for i, name in enumerate(FOREGROUND_COLOURS)}
    results = {}
    for resolution in (32, 64):
        data = ToyShapes("test", test_images, resolution, seed)
        correct = colour_correct = 0
        for first in range(0, test_images, 500):
            images, labels = data.batch(first, min(first + 500, test_images))
            colour_labels = torch.tensor([colours[data.spec(i).colour] for i in range(first, first + len(labels))])
            _, class_logits, colour_logits = net(images)
            correct += (class_logits.argmax(1) == labels).sum().item()
            colour_correct += (colour_logits.argmax(1) == colour_labels).sum().item()
        suffix = "" if resolution == 32 else "_64px"
        results[f"test_accuracy{suffix}"] = correct / test_images
        results[f"test_colour_accuracy{suffix}"] = colour_correct / test_images
    return results
