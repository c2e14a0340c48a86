"""The generation loop: labels and per-sample seeds -> images -> uint8 shards on disk.

Image i is drawn from its own seed `sample_seed(run_seed, i)` and conditioned on class
`i % num_classes`, so it is the same whatever the batch size, the shard it lands in, the
number of processes, or whether the run was interrupted and resumed. Shards are written
atomically; a rerun skips every complete shard and continues with the first missing one.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from bench.errors import BadImagesError, UserFacingError
from bench.metrics.features import atomic_save_npz
from bench.store import atomic_write_json


def sample_seed(run_seed: int, index: int) -> int:
    """A 63-bit seed for sample `index`, independent of rank, batch and shard."""
    digest = hashlib.sha256(f"mgm-bench/{run_seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_labels(indices: range, num_classes: int | None) -> torch.Tensor:
    """Balanced classes: sample i asks for class i mod K (-1 for unconditional models)."""
    if not num_classes:
        return torch.full((len(indices),), -1, dtype=torch.long)
    return torch.tensor([i % num_classes for i in indices], dtype=torch.long)


def shard_path(samples_dir: Path, shard: int) -> Path:
    return samples_dir / f"shard-{shard:05d}.npz"


def _shard_is_complete(path: Path, expected: int) -> bool:
    try:
        with np.load(path) as data:
            return data["images"].shape[0] == expected
    except (OSError, ValueError, KeyError, EOFError):
        return False  # a partial or foreign file: regenerate it


def _check_manifest(samples_dir: Path, manifest: dict) -> None:
    path = samples_dir / "manifest.json"
    if path.is_file():
        existing = json.loads(path.read_text())
        if existing != manifest:
            raise UserFacingError(
                f"{samples_dir} holds shards made with {existing}, not {manifest}",
                hint="rerun with the original shard_size, or pass --force to start the samples over",
            )
    else:
        atomic_write_json(path, manifest)


def generate_shards(
    generate_batch: Callable[[torch.Tensor, list[int]], torch.Tensor],
    samples_dir: Path,
    num_samples: int,
    num_classes: int | None,
    seed: int,
    shard_size: int,
    batch_size: int,
    progress: bool = True,
    on_shard_written: Callable[[int], None] | None = None,
    log: Callable[[str], None] = lambda message: None,
    rank: int = 0,
    world_size: int = 1,
    prompts_for: Callable[[range], tuple[torch.Tensor, list[str]]] | None = None,
) -> list[Path]:
    """Make every missing shard this process owns (shard k belongs to rank k mod world_size);
    return all shard paths in order. With several processes the caller waits for the others
    before reading shards it does not own.

    generate_batch(labels (B,), seeds [B]) -> uint8 (B, 3, H, W); for text models
    `prompts_for(indices) -> (labels, prompts)` gives each sample its prompt, passed on as
    generate_batch(labels, seeds, prompts) and stored in the shard beside the labels.
    """
    samples_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(samples_dir, {"num_samples": num_samples, "shard_size": shard_size, "seed": seed})
    num_shards = -(-num_samples // shard_size)
    sizes = [min(shard_size, num_samples - k * shard_size) for k in range(num_shards)]
    owned = [k for k in range(num_shards) if k % world_size == rank]
    done = [k for k in owned if _shard_is_complete(shard_path(samples_dir, k), sizes[k])]
    already = sum(sizes[k] for k in done)
    if done:
        log(f"resuming: {len(done)}/{len(owned)} shards already on disk in {samples_dir}")
    bar = tqdm(total=sum(sizes[k] for k in owned), initial=already, desc="sampling", unit="img",
               disable=not progress)
    for k in owned:
        if k in done:
            continue
        first = k * shard_size
        images, labels, prompts, start = [], [], [], time.perf_counter()
        for lo in range(first, first + sizes[k], batch_size):
            indices = range(lo, min(lo + batch_size, first + sizes[k]))
            seeds = [sample_seed(seed, i) for i in indices]
            if prompts_for is None:
                batch_labels = sample_labels(indices, num_classes)
                batch = generate_batch(batch_labels, seeds)
            else:
                batch_labels, batch_prompts = prompts_for(indices)
                batch = generate_batch(batch_labels, seeds, batch_prompts)
                prompts.extend(batch_prompts)
            if batch.dtype != torch.uint8 or batch.dim() != 4 or batch.shape[:2] != (len(indices), 3):
                raise BadImagesError(
                    f"the model returned {batch.dtype} {tuple(batch.shape)} for {len(indices)} samples",
                    hint="a model's generate() must return uint8 (B, 3, H, W)",
                )
            images.append(batch.cpu())
            labels.append(batch_labels)
            bar.update(len(indices))
        atomic_save_npz(
            shard_path(samples_dir, k),
            images=torch.cat(images).numpy(),
            labels=torch.cat(labels).numpy(),
            seconds=np.array(time.perf_counter() - start),
            **({"prompts": np.array(prompts, dtype=np.str_)} if prompts_for is not None else {}),
        )
        if on_shard_written is not None:
            on_shard_written(k)
    bar.close()
    return [shard_path(samples_dir, k) for k in range(num_shards)]


def iter_shard_images(paths: list[Path], batch_size: int):
    """uint8 (B, 3, H, W) batches read back from shards."""
    for path in paths:
        with np.load(path) as data:
            images = torch.from_numpy(data["images"])
        for start in range(0, len(images), batch_size):
            yield images[start : start + batch_size]


def shard_prompts(paths: list[Path]) -> np.ndarray | None:
    """The prompts stored with text-conditioned samples, in sample order (None: none stored)."""
    parts = []
    for path in paths:
        with np.load(path) as data:
            if "prompts" not in data:
                return None
            parts.append(data["prompts"])
    return np.concatenate(parts)


def shard_labels_and_seconds(paths: list[Path]) -> tuple[np.ndarray, float]:
    labels, seconds = [], 0.0
    for path in paths:
        with np.load(path) as data:
            labels.append(data["labels"])
            seconds += float(data["seconds"])
    return np.concatenate(labels), seconds
