"""The UnlockMGM family: a MaskGIT model whose frozen transformer carries a TOAST module, decoded
by the `self-guidance` sampler (or by any MaskGIT sampler, which sees the base model alone)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from reimpl.models import MODELS
from reimpl.models.base import ModelAssets
from reimpl.models.maskgit import MaskGitModel, network_config
from reimpl.networks.maskgit import MaskGitNetwork
from reimpl.networks.toast import ToastConfig, ToastMaskGit
from reimpl.recipes.loop import load_checkpoint


class UnlockMgmModel(MaskGitModel):
    default_sampler = "self-guidance"

    def __init__(self, card: Any, network: ToastMaskGit, tokenizer: torch.nn.Module, image_size: int):
        super().__init__(card, network, tokenizer, image_size)  # the sampler's logits_fn is the base model
        self.problem = dataclasses.replace(self.problem, guidance_pair=network.guidance_pair)


def toast_config(architecture: dict) -> ToastConfig:
    return ToastConfig(**dict(architecture.get("toast", {})))


@MODELS.register("unlockmgm")
def build_unlockmgm(card: Any, assets: ModelAssets) -> UnlockMgmModel:
    """Card files: `transformer` (the base MaskGIT weights) and `toast` (the TOAST weights)."""
    fields = {k: v for k, v in card.architecture.items() if k != "toast"}
    base = load_checkpoint(assets.files["transformer"], MaskGitNetwork(network_config(fields)))
    network = ToastMaskGit(base, toast_config(card.architecture))
    load_checkpoint(assets.files["toast"], network.toast)
    tokenizer = assets.load_tokenizer()
    return UnlockMgmModel(card, network, tokenizer, card.benchmark.resolution)
