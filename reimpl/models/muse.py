"""MUSE (Chang et al. 2023) as muse-maskgit-pytorch lays it out: a text encoder, a base
masked transformer over low-resolution tokens, and a super-resolution transformer that
cross-attends to the base output's tokens (`Muse(base, superres)`), each decoded by the
`muse` sampler. The whole cascade is one model; one card names its stages.

Card `architecture`:
  text:     ToyTextConfig fields (toy) or {pretrained: t5} for a frozen T5 from $MGM_T5_DIR
  base:     MuseConfig fields of the base stage (plus `resolution`)
  superres: MuseConfig fields of the super-res stage (plus `resolution`), optional
  critic:   true (or MuseConfig fields to change, e.g. {depth: 1}) to give each stage a
            Token-Critic of its shape with out_dim 1
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from reimpl.models import MODELS
from reimpl.models.base import GenerativeModel, ModelAssets
from reimpl.networks.muse import MuseConfig, MuseNetwork
from reimpl.networks.text import PretrainedT5Encoder, ToyTextConfig, ToyTextEncoder
from reimpl.recipes.loop import load_checkpoint
from reimpl.samplers.base import TokenProblem
from reimpl.samplers.noise import CounterNoise


class MuseStage(nn.Module):
    """One masked transformer (and its optional critic) behind the sampler's network call:
    stage(tokens, conditions, self_cond=None, return_embed=False), conditions a dict of
    text `states` (B, S, Dt), `valid` (B, S) and, for super-res, `lowres` ids (B, Lc)."""

    def __init__(self, network: MuseNetwork, resolution: int, critic: MuseNetwork | None = None):
        super().__init__()
        self.resolution = resolution
        self.network = network
        self.critic = _CriticView(critic) if critic is not None else None
        side = int(network.config.num_tokens**0.5)
        self.grid = (side, side)

    @property
    def self_conditioning(self) -> bool:
        return self.network.config.self_conditioning

    def problem(self) -> TokenProblem:
        return TokenProblem(self.network.config.num_tokens, self.network.mask_token_id, None,
                            null_condition=drop_text, critic=self.critic)

    def forward(self, tokens, conditions: Mapping[str, torch.Tensor], self_cond=None, return_embed=False):
        return self.network(tokens, conditions["states"], conditions["valid"], conditions.get("lowres"),
                            self_cond=self_cond, return_embed=return_embed)


class _CriticView(nn.Module):
    """A critic network called like a stage (`TokenCritic.forward_with_cond_scale`)."""

    def __init__(self, network: MuseNetwork):
        super().__init__()
        self.network = network

    def forward(self, tokens, conditions, self_cond=None, return_embed=False):
        return self.network(tokens, conditions["states"], conditions["valid"], conditions.get("lowres"),
                            return_embed=return_embed)


def drop_text(conditions: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The null prompt: every text position masked out (lucidrains' `cond_drop_prob = 1`);
    low-res tokens stay, as they do in the reference."""
    return {**conditions, "valid": torch.zeros_like(conditions["valid"])}


class MuseCascade(nn.Module):
    """Everything a MUSE checkpoint holds: text encoder, base stage, optional super-res stage."""

    def __init__(self, architecture: Mapping[str, Any]):
        super().__init__()
        text = dict(architecture["text"])
        if text.get("pretrained") == "t5":
            self.text_encoder = PretrainedT5Encoder(text.get("path"))
        else:
            text["vocabulary"] = tuple(text["vocabulary"])
            self.text_encoder = ToyTextEncoder(ToyTextConfig(**text))
        critic = architecture.get("critic") or None
        self.base = self._stage(architecture["base"], critic)
        self.superres = self._stage(architecture["superres"], critic) if architecture.get("superres") else None

    def _stage(self, fields: Mapping[str, Any], critic: bool | Mapping[str, Any] | None) -> MuseStage:
        fields = dict(fields)
        resolution = fields.pop("resolution")
        config = MuseConfig(**{**fields, "text_width": self.text_encoder.width})
        if not critic:
            return MuseStage(MuseNetwork(config), resolution)
        critic_fields = dict(critic) if isinstance(critic, Mapping) else {}
        critic_config = dataclasses.replace(config, out_dim=1, self_conditioning=False, **critic_fields)
        return MuseStage(MuseNetwork(config), resolution, MuseNetwork(critic_config))

    def encode_text(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        states, valid = self.text_encoder(prompts)
        return {"states": states, "valid": valid}


class MuseModel(GenerativeModel):
    default_sampler = "muse"
    conditioning = "text"

    def __init__(self, card: Any, cascade: MuseCascade, tokenizer: nn.Module, superres_steps: int | None = None):
        final = cascade.superres or cascade.base
        super().__init__(card, None, final.resolution)
        self.cascade = cascade.eval()
        self.tokenizer = tokenizer.eval()
        self.superres_steps = superres_steps

    def to(self, device):
        self.cascade.to(device)
        self.tokenizer.to(device)
        return self

    def denoising_networks(self) -> list[nn.Module]:
        stages = [stage for stage in (self.cascade.base, self.cascade.superres) if stage is not None]
        return [stage.network for stage in stages] + [stage.critic.network for stage in stages if stage.critic]

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, seeds: list[int], sampler: Any = None,
                 prompts: list[str] | None = None, negative_prompts: list[str] | None = None) -> torch.Tensor:
        """One image per prompt; labels are ignored (the prompt says what to draw)."""
        if prompts is None or len(prompts) != len(seeds):
            raise ValueError("MUSE is text-conditioned: pass one prompt per seed (prompts=[...])")
        conditions = self.cascade.encode_text(prompts)
        noise = CounterNoise.from_seeds(seeds, conditions["states"].device)
        if negative_prompts is not None:
            conditions["negative"] = self.cascade.encode_text(negative_prompts)
        base = self.cascade.base
        tokens = sampler.sample(base, conditions, base.problem(), noise)  # (B, Lb)
        images = self.tokenizer.decode(tokens.view(len(seeds), *base.grid))  # uint8 (B, 3, r, r)
        stage = self.cascade.superres
        if stage is None:
            return images
        # As `Muse.forward`: decode the base image, re-encode it as the super-res condition.
        lowres = self.tokenizer.encode(images).flatten(1)  # (B, Lc)
        conditions = _with_lowres(conditions, lowres)
        if self.superres_steps:
            sampler = type(sampler)(dataclasses.replace(sampler.config, steps=self.superres_steps))
        tokens = sampler.sample(stage, conditions, stage.problem(), noise.for_stage(1))
        return self.tokenizer.decode(tokens.view(len(seeds), *stage.grid))


def _with_lowres(conditions: dict, lowres: torch.Tensor) -> dict:
    out = {**conditions, "lowres": lowres}
    if "negative" in conditions:
        out["negative"] = {**conditions["negative"], "lowres": lowres}
    return out


def downsample_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> uint8 (B, 3, r, r) by area averaging: the low-res view a
    super-res stage is trained to condition on."""
    small = F.interpolate(images.float(), size=(resolution, resolution), mode="area")
    return small.round().clamp(0, 255).to(torch.uint8)


@MODELS.register("muse")
def build_muse(card: Any, assets: ModelAssets) -> MuseModel:
    cascade = MuseCascade(card.architecture)
    load_checkpoint(assets.files["weights"], cascade)
    tokenizer = assets.load_tokenizer()
    return MuseModel(card, cascade, tokenizer, card.architecture.get("superres_steps"))
