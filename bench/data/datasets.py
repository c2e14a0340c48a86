"""Dataset registry entries: name -> builder(split, num_images, resolution, seed, path)."""

from __future__ import annotations

from bench.data.folders import ImageFolder
from bench.data.shards import WebDatasetShards
from bench.data.toy import ToyShapes
from bench.errors import UserFacingError
from bench.registry import DATASETS


@DATASETS.register("toy-shapes")
def build_toy_shapes(split: str, num_images: int, resolution: int, seed: int = 0, path: str | None = None):
    return ToyShapes(split, num_images, resolution, seed)


@DATASETS.register("image-folder")
def build_image_folder(split: str, num_images: int, resolution: int, seed: int = 0, path: str | None = None):
    if not path:
        raise UserFacingError("dataset 'image-folder' needs a path", hint="set the folder in the card's benchmark")
    return ImageFolder(path, resolution, limit=num_images)


@DATASETS.register("webdataset")
def build_webdataset(split: str, num_images: int, resolution: int, seed: int = 0, path: str | None = None):
    if not path:
        raise UserFacingError("dataset 'webdataset' needs shard URLs", hint="e.g. 'shards/imagenet-val-{000000..000049}.tar'")
    return WebDatasetShards(path, resolution)
