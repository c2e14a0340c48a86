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


@DATASETS.register("coco-captions")
def build_coco_captions(split: str, num_images: int, resolution: int, seed: int = 0, path: str | None = None):
    from bench.data.coco import CocoCaptions

    return CocoCaptions(split, num_images, resolution)


IMAGENET_ENV = "MGM_IMAGENET_DIR"


@DATASETS.register("imagenet")
def build_imagenet(split: str, num_images: int, resolution: int, seed: int = 0, path: str | None = None):
    """ImageNet prepared at the benchmark resolution (resize shorter side + centre crop, PNG),
    as class sub-folders `<root>/<split>/<wnid>/*.png` or webdataset shards `<root>/<split>-*.tar`."""
    import os
    from pathlib import Path

    root = os.environ.get(IMAGENET_ENV)
    if not root or not Path(root).is_dir():
        raise UserFacingError(
            f"ImageNet is not on this machine (${IMAGENET_ENV} is {'unset' if not root else repr(root)})",
            hint=f"set {IMAGENET_ENV} to a folder with <split>/<class>/*.png at {resolution}px or <split>-*.tar "
            "webdataset shards (image under jpg/png, class id under cls); it cannot be downloaded automatically",
        )
    shards = sorted(Path(root).glob(f"{split}-*.tar"))
    if shards:
        return WebDatasetShards([str(s) for s in shards], resolution)
    return ImageFolder(Path(root) / split, resolution, limit=num_images)
