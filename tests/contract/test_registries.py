"""Contract tests generated from the registries: whatever gets registered is tested here
the moment it exists (pytorch/benchmark's trick)."""

import numpy as np
import pytest
import torch

from bench.checkpoints import load_cards
from bench.config import EvalConfig
from bench.errors import MissingWeightsError
from bench.metrics.base import HIGHER_IS_BETTER, Metric, MetricInputs
from bench.registry import DATASETS, METRICS, MODELS, load_all

load_all()
MODEL_CARDS, _ = load_cards()


OFFLINE = sorted(n for n, c in MODEL_CARDS.items() if c.status != "unavailable-offline")
REAL = sorted(n for n, c in MODEL_CARDS.items() if c.status == "unavailable-offline")


@pytest.mark.parametrize("card_name", REAL)
def test_real_checkpoints_fail_offline_with_file_url_and_env_var(card_name, tmp_path, monkeypatch):
    from bench.run import resolve_assets

    monkeypatch.setenv("MGM_CACHE_DIR", str(tmp_path))
    card = MODEL_CARDS[card_name]
    with pytest.raises(MissingWeightsError) as caught:
        resolve_assets(card)
    text = str(caught.value)
    assert "https://" in text and "MGM_" in text and ("not on this machine" in text)


@pytest.mark.parametrize("card_name", OFFLINE)
def test_model_cards_build_and_generate_per_sample(card_name, threads):
    from bench.run import resolve_assets
    from bench.registry import SAMPLERS

    card = MODEL_CARDS[card_name]
    model = MODELS.get(card.family)(card, resolve_assets(card))
    sampler = None
    if model.default_sampler:
        sampler_cls = SAMPLERS.get(card.sampler.get("name", model.default_sampler))
        settings = {k: v for k, v in card.sampler.items() if k != "name"}
        sampler = sampler_cls(sampler_cls.Config(**{**settings, "steps": 4}))
    labels = torch.tensor([0, 1, 2, 3]) % (model.num_classes or 1)
    seeds = [11, 22, 33, 44]
    prompts = ([["a large red circle on a black background", "a small blue star on a grey background",
                 "a large white ring on a navy background", "a small green plus on a brown background"]]
               if getattr(model, "conditioning", None) == "text" else [])
    images = model.generate(labels, seeds, sampler, *prompts)
    size = card.benchmark.resolution
    assert images.dtype == torch.uint8 and images.shape == (4, 3, size, size)
    # Image i depends only on (label i, seed i): same result alone or in another batch.
    alone = model.generate(labels[2:3], seeds[2:3], sampler, *[p[2:3] for p in prompts])
    assert torch.equal(alone[0], images[2])


def _synthetic_inputs(rng):
    images = rng.integers(0, 256, size=(40, 3, 16, 16), dtype=np.uint8)
    noisy = np.clip(images.astype(int) + rng.integers(-20, 21, size=images.shape), 0, 255).astype(np.uint8)
    features = rng.normal(size=(40, 8)).astype(np.float32)
    reference = rng.normal(size=(60, 8)).astype(np.float32)
    return MetricInputs(
        features=features, logits=rng.normal(size=(40, 5)).astype(np.float32), labels=rng.integers(0, 5, 40),
        reference_mu=reference.mean(0).astype(np.float64), reference_sigma=np.cov(reference, rowvar=False),
        reference_features=reference, originals=images, reconstructions=noisy,
        original_features=features + 0.1,
        prompts=np.array([f"a small {colour} {shape} on a black background"
                          for colour, shape in zip(rng.choice(["red", "blue", "white"], 40), rng.choice(["circle", "star"], 40))]),
        colour_logits=rng.normal(size=(40, 8)).astype(np.float32), sample_shards=[],
    )


@pytest.mark.parametrize("name", METRICS.names())
def test_metrics_declare_needs_and_return_their_keys(name):
    metric_cls = METRICS.get(name)
    assert issubclass(metric_cls, Metric)
    assert metric_cls.needs in ("features", "logits", "pairs", "images")
    assert set(metric_cls.keys) <= set(HIGHER_IS_BETTER)
    try:
        values = metric_cls(EvalConfig(is_splits=4)).compute(_synthetic_inputs(np.random.default_rng(0)))
    except MissingWeightsError as error:  # e.g. LPIPS or CLIP offline: must say where to get the weights
        assert "https://" in str(error)
        return
    assert set(values) == set(metric_cls.keys)
    assert all(np.isfinite(v) for v in values.values())


@pytest.mark.parametrize("name", ["toy-shapes"])
def test_datasets_yield_uint8_images_and_labels(name):
    dataset = DATASETS.get(name)("test", 5, 32)
    image, label = dataset[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32) and isinstance(label, int)


TOKENIZER_CARDS = __import__("bench.checkpoints", fromlist=["load_all_cards"]).load_all_cards()["tokenizers"]


@pytest.mark.parametrize("card_name", sorted(TOKENIZER_CARDS))
def test_tokenizer_cards_build_round_trip_or_fail_offline_clearly(card_name, tmp_path, monkeypatch):
    from bench.convert import local_weights
    from reimpl.recipes.loop import load_checkpoint
    from reimpl.tokenizers import TOKENIZERS

    monkeypatch.setenv("MGM_CACHE_DIR", str(tmp_path))
    card = TOKENIZER_CARDS[card_name]
    spec = next(f for f in card.files if f.role == "weights")
    if card.status == "unavailable-offline":
        with pytest.raises(MissingWeightsError) as caught:
            local_weights(card.name, spec, card.architecture)
        assert spec.url in str(caught.value) and spec.env in str(caught.value)
        return
    tokenizer = load_checkpoint(local_weights(card.name, spec, card.architecture), TOKENIZERS.get(card.family)(card.architecture))
    size = card.benchmark.resolution
    images = DATASETS.get(card.benchmark.dataset)("test", 4, size).__getitem__
    batch = torch.stack([images(i)[0] for i in range(4)])
    decoded = tokenizer.decode(tokenizer.encode(batch))
    assert decoded.dtype == torch.uint8 and decoded.shape == batch.shape
    assert (decoded.float() - batch.float()).abs().mean() < 12  # a trained tokenizer reconstructs
