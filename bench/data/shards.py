"""webdataset tar shards in the layout open-muse uses for ImageNet: one sample per key with
the image under `jpg`/`png`/`jpeg`/`webp` and the class id as text under `cls` (open-muse's
training/data.py renames them to image / class_id the same way)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import IterableDataset

from bench.errors import BadImagesError

IMAGE_KEYS = ("jpg", "png", "jpeg", "webp")


def write_shards(pattern: str, images: np.ndarray, labels: np.ndarray, max_count: int = 1000) -> list[str]:
    """Write uint8 (N, H, W, 3) images as PNG with `cls` labels; pattern like 'dir/part-%06d.tar'."""
    import webdataset as wds

    Path(pattern).parent.mkdir(parents=True, exist_ok=True)
    with wds.ShardWriter(pattern, maxcount=max_count, verbose=0) as sink:
        for i, (pixels, label) in enumerate(zip(images, labels)):
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")
            sink.write({"__key__": f"{i:08d}", "png": buffer.getvalue(), "cls": str(int(label)).encode()})
    return sorted(str(p) for p in Path(pattern).parent.glob("*.tar"))


class WebDatasetShards(IterableDataset):
    """Iterate (uint8 tensor (3, H, W), label) from tar shards, in shard order."""

    def __init__(self, urls: str | list[str], resolution: int | None = None):
        self.urls = urls
        self.resolution = resolution

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        import webdataset as wds

        pipeline = wds.WebDataset(self.urls, shardshuffle=False, empty_check=False)
        for sample in pipeline:
            key = next((k for k in IMAGE_KEYS if k in sample), None)
            if key is None:
                raise BadImagesError(
                    f"shard sample {sample.get('__key__')} in {sample.get('__url__')} has no image",
                    hint=f"store the image under one of {IMAGE_KEYS}",
                )
            with Image.open(io.BytesIO(sample[key])) as image:
                if image.mode != "RGB":
                    raise BadImagesError(
                        f"shard sample {sample['__key__']}: image mode {image.mode!r}, expected 'RGB'",
                        hint="re-encode the shard images as 8-bit RGB",
                    )
                if self.resolution is not None and image.size != (self.resolution, self.resolution):
                    raise BadImagesError(
                        f"shard sample {sample['__key__']}: image is {image.size}, expected {self.resolution}px",
                        hint="resize/crop the images to the benchmark resolution when writing the shards",
                    )
                pixels = np.asarray(image).copy()
            label = int(sample["cls"].decode()) if "cls" in sample else -1
            yield torch.from_numpy(pixels).permute(2, 0, 1), label  # (3, H, W)
