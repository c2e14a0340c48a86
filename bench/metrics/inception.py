"""The standard FID network: torch-fidelity's `inception-v3-compat` (the TF-Inception port),
used unchanged. Its weights file comes from a GitHub release; offline it must already be on
disk, and the error says where to put it."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.checkpoints import get_feature_net_card, resolve_file
from bench.errors import MissingWeightsError
from bench.metrics.features import FeatureNet
from bench.registry import FEATURE_NETS


@FEATURE_NETS.register("inception-v3-compat")
class InceptionV3(FeatureNet):
    torch_fidelity_name = "inception-v3-compat"
    feature_key = "2048"
    logits_key = "logits_unbiased"

    def _weights_path(self) -> Path:
        card = get_feature_net_card("inception-v3-compat")
        spec = next(f for f in card.files if f.role == "weights")
        hub_copy = Path(torch.hub.get_dir()) / "checkpoints" / spec.name
        if hub_copy.is_file():  # where torch-fidelity itself would have saved it
            return hub_copy
        try:
            return resolve_file(card.name, spec)
        except MissingWeightsError as error:
            error.hint += f"; or place it at {hub_copy}"
            raise

    def extractor_kwargs(self) -> dict:
        return {"feature_extractor_weights_path": str(self._weights_path())}

    def weights_identity(self) -> str:
        card = get_feature_net_card("inception-v3-compat")
        return next(f.sha256 or f.name for f in card.files if f.role == "weights")
