"""Feature extraction through torch-fidelity's feature-extractor registry, and the cache of
reference statistics.

One code path serves the toy benchmark (our `toy-featnet`) and the real ones (torch-
fidelity's `inception-v3-compat`, unchanged): a `FeatureNet` entry names the torch-fidelity
extractor, which of its outputs are the FID features and the logits, and how to find its
weights. Reference statistics are cached per (dataset identity, feature net, weights hash)
so every run against the same reference reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Callable, ClassVar, Iterable

import numpy as np
import torch
from tqdm import tqdm

from bench.errors import BadImagesError
from bench.registry import FEATURE_NETS


class FeatureNet:
    """A registered feature network: a torch-fidelity extractor plus its output names."""

    torch_fidelity_name: ClassVar[str]
    feature_key: ClassVar[str]  # FID / precision-recall features
    logits_key: ClassVar[str]  # IS / accuracy logits
    extra_keys: ClassVar[tuple[str, ...]] = ()  # further outputs some metrics read (toy colour logits)

    def extractor_kwargs(self) -> dict:
        """Extra torch-fidelity kwargs (e.g. a local weights path); may raise MissingWeightsError."""
        return {}

    def weights_identity(self) -> str:
        """A hash of the weights, part of every cache key built on these features."""
        raise NotImplementedError

    def build(self, device: str = "cpu"):
        from torch_fidelity.utils import create_feature_extractor

        outputs = [self.feature_key, self.logits_key, *self.extra_keys]
        extractor = create_feature_extractor(
            self.torch_fidelity_name, outputs, cuda=False, verbose=False, **self.extractor_kwargs()
        )
        return extractor.to(device)


@dataclasses.dataclass
class Features:
    """float32 features (N, D) and logits (N, K) of N images, and any extra outputs."""

    features: np.ndarray
    logits: np.ndarray
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


def check_images(images: torch.Tensor, where: str) -> None:
    if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        dtype = images.dtype if torch.is_tensor(images) else "-"
        raise BadImagesError(
            f"{where}: expected uint8 images of shape (B, 3, H, W), got {dtype} {shape}",
            hint="quantize to uint8 (round, then clamp to [0, 255]) and put channels first before scoring",
        )


@torch.no_grad()
def extract(
    net: FeatureNet,
    batches: Iterable[torch.Tensor],
    total: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    description: str = "features",
    extractor=None,
) -> Features:
    """Run uint8 image batches through the feature net; fail on non-finite outputs."""
    extractor = extractor or net.build(device)
    features, logits, extra = [], [], {key: [] for key in net.extra_keys}
    with tqdm(total=total, desc=description, unit="img", disable=not progress, leave=False) as bar:
        for images in batches:
            check_images(images, description)
            out = extractor.convert_features_tuple_to_dict(extractor(images.to(device)))
            features.append(out[net.feature_key].float().cpu().numpy())
            logits.append(out[net.logits_key].float().cpu().numpy())
            for key in net.extra_keys:
                extra[key].append(out[key].float().cpu().numpy())
            bar.update(len(images))
    result = Features(np.concatenate(features), np.concatenate(logits),
                      {key: np.concatenate(parts) for key, parts in extra.items()})
    for name, array in (("features", result.features), ("logits", result.logits)):
        if not np.isfinite(array).all():
            bad = int((~np.isfinite(array)).any(axis=1).sum())
            raise BadImagesError(
                f"{description}: {bad} of {len(array)} images gave non-finite {name} from {net.torch_fidelity_name}",
                hint="the images or the feature-net weights hold NaN/inf: check the sampler output "
                "and re-verify the weights (their sha256 is in checkpoints.yaml)",
            )
    return result


# ----------------------------------------------------------------------------------------
# Reference statistics cache
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class ReferenceStats:
    mu: np.ndarray  # float64 (D,)
    sigma: np.ndarray  # float64 (D, D)
    features: np.ndarray  # float32 (M, D), M <= the precision/recall cap
    num_images: int
    key: str


def reference_key(dataset_identity: str, net_name: str, net: FeatureNet) -> str:
    blob = json.dumps({"dataset": dataset_identity, "net": net_name, "weights": net.weights_identity()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(temporary, path)


def reference_statistics(
    cache_root: Path,
    dataset_identity: str,
    net_name: str,
    net: FeatureNet,
    compute: Callable[[], Features],
    keep_features: int,
) -> ReferenceStats:
    """Load cached (mu, sigma, features) or compute and cache them atomically."""
    from bench.metrics.fid import statistics

    key = reference_key(dataset_identity, net_name, net)
    path = cache_root / "reference" / f"{key}.npz"
    if path.is_file():
        with np.load(path) as data:
            if int(data["kept"]) >= min(keep_features, int(data["n"])):
                return ReferenceStats(data["mu"], data["sigma"], data["features"][:keep_features], int(data["n"]), key)
    features = compute()
    mu, sigma = statistics(features.features)
    kept = features.features[:keep_features]
    atomic_save_npz(
        path, mu=mu, sigma=sigma, features=kept, n=np.array(len(features.features)), kept=np.array(len(kept)),
        identity=np.array(f"{dataset_identity} | {net_name}"),
    )
    return ReferenceStats(mu, sigma, kept, len(features.features), key)


# ----------------------------------------------------------------------------------------
# Per-shard sample features
# ----------------------------------------------------------------------------------------

def shard_features(shard: Path, net_name: str, net: FeatureNet, compute: Callable[[], Features]) -> Features:
    """Features of one sample shard, cached beside it (`features-<k>.<net key>.npz` next to `shard-<k>.npz`) so a
    run stopped while featurising redoes only the shards it had not reached. The cache names
    the shard's size and mtime: a shard regenerated since is featurised again."""
    key = reference_key("sample shard", net_name, net)
    path = shard.with_name(f"{shard.stem.replace('shard-', 'features-', 1)}.{key}.npz")
    stamp = shard.stat()
    stamp = np.array([stamp.st_size, stamp.st_mtime_ns], dtype=np.int64)
    try:
        with np.load(path) as data:
            if np.array_equal(data["shard_stamp"], stamp):
                extra = {name[len("extra/"):]: data[name] for name in data.files if name.startswith("extra/")}
                return Features(data["features"], data["logits"], extra)
    except (OSError, ValueError, KeyError, EOFError):
        pass  # missing or torn: compute it
    features = compute()
    atomic_save_npz(path, features=features.features, logits=features.logits, shard_stamp=stamp,
                    **{f"extra/{name}": array for name, array in features.extra.items()})
    return features


# ----------------------------------------------------------------------------------------
# Registered feature networks
# ----------------------------------------------------------------------------------------

@FEATURE_NETS.register("toy-featnet")
class ToyFeatureNet(FeatureNet):
    torch_fidelity_name = "toy-featnet"
    feature_key = "features"
    logits_key = "logits"
    extra_keys = ("colour_logits",)

    def weights_identity(self) -> str:
        from bench.checkpoints import get_feature_net_card

        return next(f.sha256 for f in get_feature_net_card("toy-featnet").files if f.role == "weights")

    def build(self, device: str = "cpu"):
        import bench.metrics.feature_net  # noqa: F401  (registers the extractor with torch-fidelity)

        return super().build(device)
