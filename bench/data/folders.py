"""Image folders as datasets, validated: every file must be 8-bit RGB of one size.

Class labels come from sub-folder names (ImageNet's `train/n01440764/...` layout) when the
images sit in sub-folders, else every label is -1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from bench.errors import BadImagesError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def list_images(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def load_rgb8(path: Path, resolution: int | None) -> np.ndarray:
    """Read one image as uint8 (H, W, 3); refuse anything that is not 8-bit RGB of the expected size."""
    try:
        with Image.open(path) as image:
            mode, size = image.mode, image.size
            if mode != "RGB":
                raise BadImagesError(
                    f"{path}: image mode {mode!r}, expected 8-bit 'RGB'",
                    hint="convert the folder to 8-bit RGB first (e.g. PIL: Image.open(p).convert('RGB').save(p))",
                )
            pixels = np.asarray(image)
    except (OSError, SyntaxError) as error:
        raise BadImagesError(f"{path}: cannot read image ({error})", hint="remove or replace the file") from None
    if resolution is not None and size != (resolution, resolution):
        raise BadImagesError(
            f"{path}: image is {size[0]}x{size[1]}, expected {resolution}x{resolution}",
            hint="resize/crop the folder to the benchmark resolution before scoring (the resize is part of the metric)",
        )
    return pixels


class ImageFolder(Dataset):
    """Items are (uint8 tensor (3, H, W), label)."""

    def __init__(self, root: str | Path, resolution: int | None = None, limit: int | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise BadImagesError(f"image folder {self.root} does not exist", hint="pass an existing folder")
        self.paths = list_images(self.root)[:limit]
        if not self.paths:
            raise BadImagesError(
                f"image folder {self.root} holds no images", hint=f"expected files ending in {', '.join(IMAGE_SUFFIXES)}"
            )
        classes = sorted({p.parent.name for p in self.paths if p.parent != self.root})
        self.class_index = {name: i for i, name in enumerate(classes)}
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = self.paths[index]
        pixels = load_rgb8(path, self.resolution)
        label = self.class_index.get(path.parent.name, -1) if path.parent != self.root else -1
        return torch.from_numpy(pixels.copy()).permute(2, 0, 1), label  # (3, H, W)

    def identity(self) -> str:
        return f"folder:{self.root.resolve()}/n{len(self.paths)}"
