"""The offline toy benchmark: procedurally drawn, class-labelled, captioned RGB images.

Image i of a split is a pure function of (seed, split, i, resolution): nothing is stored,
any number of images can be drawn, and two machines draw the same pixels. Each image is a
single shape (the class) in one of eight named colours, placed at a random position,
scale and small rotation on a dark, slightly graded and noisy background. Shapes are
rasterised from signed-distance tests on a 2x supersampled grid and box-filtered, so
edges are anti-aliased at every resolution.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch.utils.data import Dataset

SHAPES = (
    "circle", "square", "triangle", "ring", "plus", "cross",
    "diamond", "star", "hstripes", "vstripes", "checker", "crescent",
)
FOREGROUND_COLOURS = {
    "red": (0.92, 0.16, 0.14), "green": (0.20, 0.85, 0.25), "blue": (0.25, 0.42, 0.98),
    "yellow": (0.96, 0.90, 0.20), "magenta": (0.90, 0.25, 0.85), "cyan": (0.20, 0.88, 0.92),
    "orange": (0.98, 0.58, 0.12), "white": (0.95, 0.95, 0.95),
}
BACKGROUND_COLOURS = {
    "black": (0.04, 0.04, 0.05), "grey": (0.24, 0.24, 0.25), "navy": (0.05, 0.07, 0.30),
    "forest": (0.05, 0.22, 0.08), "brown": (0.26, 0.14, 0.06), "purple": (0.20, 0.06, 0.24),
}
SPLITS = {"train": 0, "test": 1, "reference": 2}
RESOLUTIONS = (32, 64)
_SUPERSAMPLE = 2


@dataclasses.dataclass(frozen=True)
class ToyImageSpec:
    """Everything that determines one toy image; drawn from (seed, split, index)."""

    label: int
    colour: str
    background: str
    centre: tuple[float, float]  # (x, y) in [-1, 1] image coordinates
    radius: float  # shape radius as a fraction of the half-width
    angle: float  # radians
    gradient: tuple[float, float, float]  # (direction, amplitude, colour jitter)

    @property
    def shape(self) -> str:
        return SHAPES[self.label]

    @property
    def caption(self) -> str:
        size = "large" if self.radius >= 0.45 else "small"
        return f"a {size} {self.colour} {self.shape} on a {self.background} background"


def draw_spec(seed: int, split: str, index: int, num_classes: int = len(SHAPES)) -> ToyImageSpec:
    """Draw the attributes of image `index`. Labels cycle so every class is equally common."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    colour = list(FOREGROUND_COLOURS)[rng.integers(len(FOREGROUND_COLOURS))]
    background = list(BACKGROUND_COLOURS)[rng.integers(len(BACKGROUND_COLOURS))]
    radius = float(rng.uniform(0.34, 0.62))
    # Keep the whole shape inside the frame: the centre may move by what the radius leaves.
    room = 0.95 - radius
    centre = (float(rng.uniform(-room, room)), float(rng.uniform(-room, room)))
    angle = float(rng.uniform(-0.25, 0.25))
    gradient = (float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.0, 0.12)), float(rng.uniform(-0.05, 0.05)))
    return ToyImageSpec(index % num_classes, colour, background, centre, radius, angle, gradient)


def _inside(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Membership test in the shape's own frame (radius 1); x right, y up."""
    r = np.hypot(x, y)
    ax, ay = np.abs(x), np.abs(y)
    if shape == "circle":
        return r <= 1.0
    if shape == "square":
        return np.maximum(ax, ay) <= 0.8
    if shape == "triangle":
        return (y >= -0.55) & (math.sqrt(3) * ax + y <= 1.0)
    if shape == "ring":
        return np.abs(r - 0.72) <= 0.26
    if shape == "plus":
        return ((ax <= 0.3) & (ay <= 1.0)) | ((ax <= 1.0) & (ay <= 0.3))
    if shape == "cross":
        u, v = (x + y) / math.sqrt(2), (x - y) / math.sqrt(2)
        return ((np.abs(u) <= 0.28) | (np.abs(v) <= 0.28)) & (np.maximum(np.abs(u), np.abs(v)) <= 1.0)
    if shape == "diamond":
        return ax + ay <= 1.05
    if shape == "star":
        theta = np.arctan2(x, y)
        return r <= 0.55 + 0.42 * np.cos(5 * theta)
    if shape == "hstripes":
        return (np.maximum(ax, ay) <= 0.85) & (np.cos(math.pi * y * 2.35) > 0)
    if shape == "vstripes":
        return (np.maximum(ax, ay) <= 0.85) & (np.cos(math.pi * x * 2.35) > 0)
    if shape == "checker":
        cells = np.floor((x + 0.85) / (1.7 / 3)) + np.floor((y + 0.85) / (1.7 / 3))  # 3x3 board
        return (np.maximum(ax, ay) <= 0.85) & (cells % 2 == 0)
    if shape == "crescent":
        return (r <= 1.0) & (np.hypot(x - 0.45, y - 0.25) > 0.78)
    raise ValueError(f"unknown shape {shape!r}")


def render(spec: ToyImageSpec, resolution: int, seed: int, split: str, index: int) -> np.ndarray:
    """Rasterise one image: uint8 array (H, W, 3)."""
    n = resolution * _SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / n * 2 - 1
    gx, gy = np.meshgrid(coords, -coords)  # y up, like the shape frame
    cx, cy = spec.centre
    cos_a, sin_a = math.cos(spec.angle), math.sin(spec.angle)
    dx, dy = (gx - cx) / spec.radius, (gy - cy) / spec.radius
    local_x, local_y = cos_a * dx + sin_a * dy, -sin_a * dx + cos_a * dy
    coverage = _inside(spec.shape, local_x, local_y).astype(np.float32)
    # Box filter of the supersampled coverage: (n, n) -> (H, W)
    coverage = coverage.reshape(resolution, _SUPERSAMPLE, resolution, _SUPERSAMPLE).mean(axis=(1, 3))

    direction, amplitude, jitter = spec.gradient
    px = coords[_SUPERSAMPLE // 2 :: _SUPERSAMPLE]
    ramp = np.cos(direction) * px[None, :] + np.sin(direction) * px[:, None]  # (H, W) in [-2, 2]
    background = np.asarray(BACKGROUND_COLOURS[spec.background], np.float32) + jitter
    background = background[None, None, :] + amplitude * ramp[..., None]
    foreground = np.asarray(FOREGROUND_COLOURS[spec.colour], np.float32)[None, None, :]
    image = coverage[..., None] * foreground + (1 - coverage[..., None]) * background
    noise_rng = np.random.default_rng([seed, SPLITS[split], index, resolution])
    image = image + noise_rng.normal(0.0, 0.02, image.shape)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


class ToyShapes(Dataset):
    """`num_images` toy images of one split; items are (uint8 tensor (3, H, W), label)."""

    num_classes = len(SHAPES)

    def __init__(self, split: str = "train", num_images: int = 10_000, resolution: int = 32, seed: int = 0):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
        self.split, self.num_images, self.resolution, self.seed = split, num_images, resolution, seed

    def __len__(self) -> int:
        return self.num_images

    def spec(self, index: int) -> ToyImageSpec:
        if not 0 <= index < self.num_images:
            raise IndexError(index)
        return draw_spec(self.seed, self.split, index)

    def caption(self, index: int) -> str:
        return self.spec(index).caption

    def label(self, index: int) -> int:
        return self.spec(index).label

    def image(self, index: int) -> np.ndarray:
        """uint8 (H, W, 3)."""
        return render(self.spec(index), self.resolution, self.seed, self.split, index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        spec = self.spec(index)
        pixels = render(spec, self.resolution, self.seed, self.split, index)
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous(), spec.label  # (3, H, W)

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [start, stop) as uint8 (B, 3, H, W) and int64 labels (B,)."""
        items = [self[i] for i in range(start, stop)]
        return torch.stack([im for im, _ in items]), torch.tensor([lb for _, lb in items])

    def identity(self) -> str:
        """A string that pins every pixel of this dataset (used in cache keys)."""
        return f"toy-shapes-v1/{self.split}/{self.resolution}px/seed{self.seed}/n{self.num_images}"
