"""The registries, in one place. Adding a model, sampler, metric or dataset is one new
module with one decorator: `load_all()` imports every module of the registering packages,
so nothing else needs an edit.

    MODELS        model family -> builder(card) -> reimpl.models.base.GenerativeModel
    SAMPLERS      sampler name -> reimpl sampler class
    TOKENIZERS    tokenizer family -> builder(architecture) -> reimpl tokenizer
    METRICS       metric name -> bench.metrics.base.Metric subclass
    DATASETS      dataset name -> builder(split, num_images, resolution, seed) -> Dataset
    FEATURE_NETS  feature-network name -> bench.metrics.features.FeatureNet subclass

MODELS and SAMPLERS live in `reimpl` (model code must not import the harness); the
harness re-exports them here.
"""

from __future__ import annotations

import importlib
import pkgutil

from reimpl.models import MODELS
from reimpl.registry import Registry
from reimpl.samplers import SAMPLERS
from reimpl.tokenizers import TOKENIZERS

METRICS: Registry = Registry("metric")
DATASETS: Registry = Registry("dataset")
FEATURE_NETS: Registry = Registry("feature network")

# Every module under these packages is imported by load_all(); registering is a side effect.
REGISTERING_PACKAGES = (
    "reimpl.models", "reimpl.samplers", "reimpl.tokenizers", "bench.data", "bench.metrics", "bench.baselines",
)

_loaded = False


def load_all() -> None:
    """Import every module of the registering packages once, then freeze the registries."""
    global _loaded
    if _loaded:
        return
    for package_name in REGISTERING_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            importlib.import_module(info.name)
    for registry in (MODELS, SAMPLERS, TOKENIZERS, METRICS, DATASETS, FEATURE_NETS):
        registry.freeze()
    _loaded = True
