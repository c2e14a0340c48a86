"""`python -m bench train <target>`: remake the artefacts the project commits.

Model training recipes (stage-1 tokenizers, masked transformers) live in reimpl/recipes and
register here as they are added.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Callable, Mapping

from bench.checkpoints import REPO_ROOT, get_feature_net_card, sha256_of
from bench.config import apply_overrides, field, to_dict


@dataclasses.dataclass(frozen=True)
class FeatureNetTrainConfig:
    train_images: int = field(24_000, "toy training images (drawn, never stored)")
    test_images: int = field(4_000, "held-out toy images per resolution for the accuracy report")
    epochs: int = field(3, "passes over the training images")
    batch_size: int = field(128, "images per step")
    learning_rate: float = field(3e-3, "peak AdamW learning rate of the one-cycle schedule")
    seed: int = field(0, "seed of the data draw, the initialisation and the batch order")


def train_feature_net_command(overrides: Mapping[str, str], out: str | None, progress: bool) -> int:
    import torch
    from safetensors.torch import save_file

    from bench.metrics.feature_net import NAME, train_feature_net

    config = apply_overrides(FeatureNetTrainConfig(), overrides, scope="train feature-net")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    net, metrics = train_feature_net(progress=progress, **dataclasses.asdict(config))
    card = get_feature_net_card(NAME)
    spec = next(f for f in card.files if f.role == "weights")
    target = Path(out) if out else REPO_ROOT / spec.path
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(temporary), metadata={"config": json.dumps(to_dict(config))})
    os.replace(temporary, target)
    digest, size = sha256_of(target), target.stat().st_size
    report = {"config": to_dict(config), "metrics": metrics, "sha256": digest, "bytes": size}
    target.with_suffix(".json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"held-out accuracy: {metrics['test_accuracy']:.4f} (32 px), {metrics['test_accuracy_64px']:.4f} (64 px); "
          f"colour accuracy {metrics['test_colour_accuracy']:.4f}")
    print(f"wrote {target} ({size} bytes, sha256 {digest})")
    if digest != spec.sha256:
        print(f"note: checkpoints.yaml lists sha256 {spec.sha256} for {NAME}; update feature_nets.{NAME}.files "
              "(sha256, bytes) to adopt these weights")
    return 0


TRAIN_TARGETS: dict[str, Callable[[Mapping[str, str], str | None, bool], int]] = {
    "feature-net": train_feature_net_command,
}
