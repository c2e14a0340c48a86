"""COCO-2017 captions for text-to-image benchmarks (open-muse's `scripts/calculate_fid.py`
prompts with COCO-2017 captions). Nothing is downloaded: $MGM_COCO_DIR must hold
`annotations/captions_<split>.json` and the `<split>/` image folder from cocodataset.org.
Item i is image i in ascending image-id order with its first caption as the prompt; images
are resized (shorter side, bicubic) and centre-cropped to the benchmark resolution."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from bench.errors import UserFacingError

COCO_ENV = "MGM_COCO_DIR"


class CocoCaptions(Dataset):
    def __init__(self, split: str, num_images: int, resolution: int):
        root = os.environ.get(COCO_ENV)
        annotations = Path(root or ".") / "annotations" / f"captions_{split}.json"
        if not root or not annotations.is_file():
            raise UserFacingError(
                f"COCO captions are not on this machine (${COCO_ENV} is {'unset' if not root else repr(root)})",
                hint=f"download {split}.zip and annotations_trainval2017.zip from https://cocodataset.org, unpack "
                f"them into one folder and set {COCO_ENV} to it (it must hold annotations/captions_{split}.json)",
            )
        data = json.loads(annotations.read_text())
        files = {image["id"]: image["file_name"] for image in data["images"]}
        first_caption: dict[int, str] = {}
        for entry in sorted(data["annotations"], key=lambda a: a["id"]):
            first_caption.setdefault(entry["image_id"], entry["caption"].strip())
        ids = sorted(first_caption)[:num_images]
        self.paths = [Path(root) / split / files[i] for i in ids]
        self.captions = [first_caption[i] for i in ids]
        self.split, self.resolution = split, resolution

    def __len__(self) -> int:
        return len(self.paths)

    def caption(self, index: int) -> str:
        return self.captions[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[index]) as image:
            image = image.convert("RGB")
            scale = self.resolution / min(image.size)
            image = image.resize((max(self.resolution, round(image.width * scale)),
                                  max(self.resolution, round(image.height * scale))), Image.BICUBIC)
            left, top = (image.width - self.resolution) // 2, (image.height - self.resolution) // 2
            pixels = np.asarray(image.crop((left, top, left + self.resolution, top + self.resolution)))  # (r, r, 3)
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous(), -1

    def identity(self) -> str:
        return f"coco-captions/{self.split}/{self.resolution}px/n{len(self)}"
