"""The committed toy models end to end (real transformers, tokenizer decoders, text encoder):
image i is bit-identical drawn alone, in a batch of 7 or in a batch of 16, at 1 and 2 threads."""

import pytest
import torch

from bench.checkpoints import get_card
from bench.registry import MODELS, SAMPLERS, load_all
from bench.run import _as_config_kwargs, resolve, resolve_assets

PROMPTS = ["a red circle", "a blue square on green", "two yellow triangles", "a small purple star"]


@pytest.mark.parametrize("name", ["toy-maskgit", "toy-mage", "toy-unlockmgm", "toy-muse", "toy-emigm"])
def test_toy_model_images_do_not_depend_on_the_batch(name, threads):
    load_all()
    card = get_card(name)
    model = MODELS.get(card.family)(card, resolve_assets(card))
    run = resolve({"model": name})
    sampler_cls = SAMPLERS.get(run.sampler_name)
    sampler = sampler_cls(sampler_cls.Config(**_as_config_kwargs(run.sampler_config)))
    labels, seeds = torch.arange(16) % 10, list(range(1000, 1016))
    text = getattr(model, "conditioning", None) == "text"

    def draw(rows: slice) -> torch.Tensor:
        prompts = ([PROMPTS[i % len(PROMPTS)] for i in range(16)][rows],) if text else ()
        return model.generate(labels[rows], seeds[rows], sampler, *prompts)

    full = draw(slice(0, 16))
    assert full.dtype == torch.uint8 and len({image.sum().item() for image in full}) > 8  # seeds vary images
    assert torch.equal(draw(slice(3, 10)), full[3:10])
    for i in (0, 15):
        assert torch.equal(draw(slice(i, i + 1))[0], full[i])
