"""aMUSEd (Patil et al. 2024, open-muse): diffusers' `UVit2DModel` over the aMUSEd VQ, with
a CLIP-L text encoder, decoded by the `amused` sampler. The diffusers classes are used as
they are (they live under `pipelines/deprecated` since diffusers 0.33; pin 0.42.1), and a
checkpoint in diffusers' folder layout loads without conversion: the card names each file.

Conditioning follows `AmusedPipeline.__call__`: cross-attention to the penultimate CLIP
hidden states, the projected pooled embedding, and the micro-conditions
(width, height, crop_x, crop_y, aesthetic score) in that order.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from reimpl.models import MODELS
from reimpl.models.base import GenerativeModel, ModelAssets
from reimpl.samplers.base import TokenProblem
from reimpl.samplers.noise import CounterNoise
from reimpl.tokenizers import TOKENIZERS

# `amused/amused-256` transformer/config.json (../shared/spec/maskgit.md §5); 512 differs in
# downsample/upsample and sample_size.
UVIT_CONFIGS: dict[str, dict[str, Any]] = {
    "amused-256": dict(
        hidden_size=1024, use_bias=False, hidden_dropout=0.0, cond_embed_dim=768, micro_cond_encode_dim=256,
        micro_cond_embed_dim=1280, encoder_hidden_size=768, vocab_size=8256, codebook_size=8192, in_channels=768,
        block_out_channels=768, num_res_blocks=3, downsample=False, upsample=False, block_num_heads=12,
        num_hidden_layers=22, num_attention_heads=16, attention_dropout=0.0, intermediate_size=2816,
        layer_norm_eps=1e-6, ln_elementwise_affine=True, sample_size=16,
    ),
}
UVIT_CONFIGS["amused-512"] = {**UVIT_CONFIGS["amused-256"], "downsample": True, "upsample": True, "sample_size": 32}
# openai/clip-vit-large-patch14's text tower, as aMUSEd's text_encoder/config.json describes it.
CLIP_L_TEXT = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, projection_dim=768, num_hidden_layers=12,
    num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
)


class AmusedModel(GenerativeModel):
    """Text-to-image: `generate(labels, seeds, sampler, prompts=...)`; labels are ignored."""

    default_sampler = "amused"
    conditioning = "text"

    def __init__(self, card: Any, transformer, text_encoder, text_tokenizer, vq, image_size: int,
                 aesthetic_score: float = 6.0, crop: tuple[int, int] = (0, 0)):
        super().__init__(card, None, image_size)
        self.transformer = transformer.eval()
        self.text_encoder = text_encoder.eval()
        self.text_tokenizer = text_tokenizer
        self.vq = vq.eval()
        side = image_size // (2 ** (len(vq.vq.config.block_out_channels) - 1))
        self.grid = (side, side)
        self.micro = (float(image_size), float(image_size), float(crop[0]), float(crop[1]), float(aesthetic_score))
        mask_token_id = transformer.config.vocab_size - 1  # 8255: the last row of the embedding
        self.problem = TokenProblem(side * side, mask_token_id, None, null_condition=self.empty_prompt_like)

    def to(self, device):
        for module in (self.transformer, self.text_encoder, self.vq):
            module.to(device)
        self._empty = None
        return self

    @property
    def prompt_tokens(self) -> int:
        """The padded prompt length: the tokenizer's model_max_length (77 in aMUSEd's
        tokenizer_config.json, what the pipeline pads to), never more than the text encoder's
        positions. A tokenizer built without its config carries transformers' "no limit" sentinel
        (1e30) there; the encoder's max_position_embeddings (77 for CLIP-L) bounds it."""
        return min(self.text_tokenizer.model_max_length, self.text_encoder.config.max_position_embeddings)

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """CLIP states as the pipeline takes them: hidden_states[-2] and the projected text_embeds;
        prompts longer than `prompt_tokens` are truncated, as the pipeline truncates them."""
        ids = self.text_tokenizer(
            prompts, return_tensors="pt", padding="max_length", truncation=True, max_length=self.prompt_tokens,
        ).input_ids.to(self.transformer.device)
        out = self.text_encoder(ids, return_dict=True, output_hidden_states=True)
        return self.conditions(out.hidden_states[-2], out.text_embeds)

    def conditions(self, states: torch.Tensor, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        micro = torch.tensor(self.micro, dtype=states.dtype, device=states.device).expand(len(states), -1)
        return {"states": states, "pooled": pooled, "micro": micro}

    def empty_prompt_like(self, conditions: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The pipeline's default negative prompt, "", encoded once and broadcast to the batch."""
        if getattr(self, "_empty", None) is None:
            self._empty = self.encode_prompts([""])
        empty = self._empty
        batch = len(conditions["states"])
        return {key: value.expand(batch, *value.shape[1:]) for key, value in empty.items()}

    def logits(self, tokens: torch.Tensor, conditions: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, L) ids -> (B, L, codebook) logits."""
        batch = len(tokens)
        out = self.transformer(
            tokens.view(batch, *self.grid), micro_conds=conditions["micro"],
            pooled_text_emb=conditions["pooled"], encoder_hidden_states=conditions["states"],
        )  # (B, K, h, w)
        return out.flatten(2).transpose(1, 2)

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, seeds: list[int], sampler: Any = None,
                 prompts: list[str] | None = None) -> torch.Tensor:
        if prompts is None:
            raise ValueError("aMUSEd is text-conditioned: pass prompts=[...] (one per seed)")
        conditions = self.encode_prompts(prompts)
        noise = CounterNoise.from_seeds(seeds, conditions["states"].device)
        tokens = sampler.sample(self.logits, conditions, self.problem, noise)
        return self.vq.decode(tokens.view(len(seeds), *self.grid))


def build_uvit(preset_or_fields: Mapping[str, Any]):
    """A card's architecture: a `preset` and/or UVit2DModel fields (`text_encoder` is not one)."""
    from diffusers import UVit2DModel  # optional dependency: pip install -e ".[hf]"

    fields = {k: v for k, v in preset_or_fields.items() if k != "text_encoder"}
    preset = fields.pop("preset", None)
    return UVit2DModel(**{**(UVIT_CONFIGS[preset] if preset else {}), **fields})


def tokenizer_settings(config_path, text_config) -> dict[str, Any]:
    """CLIPTokenizer keyword arguments from the checkpoint's tokenizer/tokenizer_config.json when the
    card names one (model_max_length and the special tokens), else model_max_length from the text
    encoder's max_position_embeddings: both give 77 for aMUSEd."""
    import json

    settings: dict[str, Any] = {"model_max_length": text_config.max_position_embeddings}
    if config_path is not None:
        saved = json.loads(open(config_path, encoding="utf-8").read())
        settings.update({key: saved[key] for key in ("model_max_length", "pad_token", "bos_token", "eos_token",
                                                     "unk_token") if isinstance(saved.get(key), (int, str))})
    return settings


@MODELS.register("amused")
def build_amused(card: Any, assets: ModelAssets) -> AmusedModel:
    from safetensors.torch import load_file
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    transformer = build_uvit(card.architecture)
    transformer.load_state_dict(load_file(assets.files["transformer"]))
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(**{**CLIP_L_TEXT, **card.architecture.get("text_encoder", {})}))
    text_encoder.load_state_dict(load_file(assets.files["text_encoder"]), strict=False)  # position_ids buffers differ by version
    text_tokenizer = CLIPTokenizer(str(assets.files["tokenizer_vocab"]), str(assets.files["tokenizer_merges"]),
                                   **tokenizer_settings(assets.files.get("tokenizer_config"), text_encoder.config))
    vq = TOKENIZERS.get(assets.tokenizer_family)(assets.tokenizer_architecture)
    vq.load_state_dict(load_file(assets.files["tokenizer"]))
    return AmusedModel(card, transformer, text_encoder, text_tokenizer, vq, card.benchmark.resolution)
