"""Text-to-image faithfulness.

`caption-accuracy` (toy benchmark): the feature network reads the shape class and the
foreground colour of each generated image; an image is faithful when both match its prompt
(`colour_accuracy` and the class `accuracy` metric report the halves).
`clip-score` (real prompts): 100 * max(cos(CLIP image, CLIP text), 0) averaged over samples
(the CLIPScore of Hessel et al. 2021 with w = 100, as torchmetrics defines it; MUSE reports
the raw cosine, 0.32 on COCO). CLIP ViT-L/14 weights must be on disk ($MGM_CLIP_DIR).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from bench.data.toy import FOREGROUND_COLOURS, SHAPES
from bench.errors import MissingWeightsError, UserFacingError
from bench.metrics.base import ACCURACY, CAPTION_ACCURACY, CLIP_SCORE, COLOUR_ACCURACY, Metric, MetricInputs
from bench.registry import METRICS


def caption_targets(prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shape class, colour index) named by each toy caption; -1 where a caption names none."""
    shapes, colours = [], []
    for prompt in prompts:
        words = str(prompt).lower().split()
        shapes.append(next((SHAPES.index(w) for w in words if w in SHAPES), -1))
        colours.append(next((list(FOREGROUND_COLOURS).index(w) for w in words if w in FOREGROUND_COLOURS), -1))
    return np.array(shapes), np.array(colours)


@METRICS.register("caption-accuracy")
class CaptionAccuracyMetric(Metric):
    needs = "logits"
    keys = (CAPTION_ACCURACY, COLOUR_ACCURACY, ACCURACY)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        if inputs.prompts is None:
            raise UserFacingError("metric 'caption-accuracy' scores text-conditioned samples",
                                  hint="run it on a text model (e.g. model=toy-muse), or drop it from metrics=[...]")
        if inputs.colour_logits is None:
            raise UserFacingError("metric 'caption-accuracy' needs a feature net that reads colours",
                                  hint="use eval.feature_net=toy-featnet (the toy benchmark's)")
        shapes, colours = caption_targets(inputs.prompts)
        if (shapes < 0).any() or (colours < 0).any():
            raise UserFacingError("some prompts name no toy shape or colour",
                                  hint="caption-accuracy applies to toy-shapes captions; use clip-score elsewhere")
        shape_ok = np.argmax(inputs.logits, axis=1) == shapes
        colour_ok = np.argmax(inputs.colour_logits, axis=1) == colours
        return {CAPTION_ACCURACY: float(np.mean(shape_ok & colour_ok)), COLOUR_ACCURACY: float(np.mean(colour_ok)),
                ACCURACY: float(np.mean(shape_ok))}


CLIP_ENV = "MGM_CLIP_DIR"


@METRICS.register("clip-score")
class ClipScoreMetric(Metric):
    needs = "images"
    keys = (CLIP_SCORE,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        if inputs.prompts is None or inputs.sample_shards is None:
            raise UserFacingError("metric 'clip-score' scores text-conditioned samples",
                                  hint="run it on a text model, or drop it from metrics=[...]")
        directory = os.environ.get(CLIP_ENV)
        if not directory or not Path(directory).is_dir():
            raise MissingWeightsError(
                f"CLIP weights are not on this machine (${CLIP_ENV} is {'unset' if not directory else repr(directory)})",
                hint=f"download https://huggingface.co/openai/clip-vit-large-patch14 (config, weights, tokenizer files) where there is "
                f"internet and set {CLIP_ENV} to that folder; on the toy benchmark use metrics=[caption-accuracy]",
            )
        from transformers import CLIPModel, CLIPProcessor

        from bench.generate import iter_shard_images

        model, processor = CLIPModel.from_pretrained(directory).eval(), CLIPProcessor.from_pretrained(directory)
        scores, start = [], 0
        with torch.no_grad():
            for images in iter_shard_images(inputs.sample_shards, 50):
                prompts = [str(p) for p in inputs.prompts[start : start + len(images)]]
                start += len(images)
                batch = processor(text=prompts, images=list(images.permute(0, 2, 3, 1).numpy()), return_tensors="pt",
                                  padding=True, truncation=True)
                image = torch.nn.functional.normalize(model.get_image_features(pixel_values=batch.pixel_values), dim=-1)
                text = torch.nn.functional.normalize(
                    model.get_text_features(input_ids=batch.input_ids, attention_mask=batch.attention_mask), dim=-1)
                scores.append((100 * (image * text).sum(-1)).clamp(min=0))
        return {CLIP_SCORE: float(torch.cat(scores).mean())}
