"""The muse-maskgit-pytorch user API (`VQGanVAE`, `Transformer` / `MaskGitTransformer`,
`TokenCritic`, `MaskGit`, `Muse`) on top of this suite's MUSE network, recipe and sampler,
so scripts written against the seed's README run unchanged:

    vae = VQGanVAE(dim=256, codebook_size=65536)            # README of the seed
    vae = VQGanVAE(dim=256, vq_codebook_size=512)           # PyPI 0.3.5 spelling
    transformer = MaskGitTransformer(num_tokens=512, seq_len=256, dim=512, depth=8,
                                     dim_head=64, heads=8, ff_mult=4, t5_name="t5-small")
    base = MaskGit(vae=vae, transformer=transformer, image_size=256, cond_drop_prob=0.25)
    loss = base(images, texts=texts); loss.backward()
    images = base.generate(texts=["a whale breaching"], cond_scale=3.)

Differences from 0.3.5, on purpose: `MaskGit.forward` keeps gradients (0.3.5 wraps it in
`torch.no_grad`, so its loss cannot train); `generate` takes an optional `seeds` list for
per-image reproducibility; images are float in [0, 1]. `t5_name` must name a local T5
folder (or set $MGM_T5_DIR), since nothing is downloaded; `text_encoder=` accepts any module
mapping texts to (states, valid), e.g. `ToyTextEncoder`.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from reimpl.models.muse import MuseStage
from reimpl.networks.muse import MuseConfig, MuseNetwork
from reimpl.networks.text import PretrainedT5Encoder
from reimpl.recipes.muse import MuseTrainConfig, stage_loss
from reimpl.samplers.muse import MuseSampler, MuseSamplerConfig
from reimpl.samplers.noise import CounterNoise
from reimpl.tokenizers.vqgan import VQGANConfig, VQGANTokenizer


class VQGanVAE(nn.Module):
    """This suite's VQGAN behind lucidrains' VAE calls. `layers` downsamplings (f = 2**layers);
    the GAN and VGG losses are not part of this wrapper (`use_vgg_and_gan` is accepted)."""

    def __init__(self, dim: int = 256, codebook_size: int | None = None, vq_codebook_size: int | None = None,
                 layers: int = 4, channels: int = 3, use_vgg_and_gan: bool = False, codebook_dim: int = 32,
                 norm_groups: int = 8, **unused):
        super().__init__()
        if channels != 3:
            raise ValueError("only RGB images (channels=3) are supported")
        size = codebook_size or vq_codebook_size or 65536  # 0.3.5's default codebook size
        multipliers = tuple(min(2**i, 4) for i in range(layers + 1))
        config = VQGANConfig(base_filters=max(dim // 8, norm_groups), channel_multipliers=multipliers,
                             num_res_blocks=1, embedding_dim=codebook_dim, codebook_size=size,
                             norm_groups=norm_groups)
        self.model = VQGANTokenizer(config)
        self.use_vgg_and_gan = use_vgg_and_gan

    @property
    def codebook_size(self) -> int:
        return self.model.codebook_size

    def get_encoded_fmap_size(self, image_size: int) -> int:
        return image_size // self.model.config.downsample_factor

    def encode(self, images: torch.Tensor):
        """float images in [0, 1] -> (quantized fmap, ids (B, h, w), commitment loss), as 0.3.5 returns."""
        z_e = self.model.encoder(images)
        ids = self.model.quantize.nearest(z_e)
        z_q = self.model.quantize.lookup(ids)
        return z_q, ids, F.mse_loss(z_e, z_q.detach())

    def decode_from_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.decode_float(ids).clamp(0, 1)

    def forward(self, images: torch.Tensor, return_loss: bool = False):
        reconstruction, z_e, z_q, _ = self.model(images)
        if not return_loss:
            return reconstruction
        return F.mse_loss(reconstruction, images) + 0.25 * F.mse_loss(z_e, z_q.detach()) + F.mse_loss(z_q, z_e.detach())

    def load(self, path: str | Path) -> None:
        self.load_state_dict(torch.load(str(path), map_location="cpu"))


def _text_encoder(t5_name: str | None, text_encoder: nn.Module | None) -> nn.Module:
    if text_encoder is not None:
        return text_encoder
    return PretrainedT5Encoder(t5_name if t5_name and Path(t5_name).is_dir() else None)


class Transformer(nn.Module):
    """lucidrains' `Transformer(num_tokens, seq_len, dim, depth, dim_head, heads, ff_mult, t5_name, self_cond)`."""

    out_dim: int | None = None

    def __init__(self, *, num_tokens: int, seq_len: int, dim: int, depth: int, dim_head: int = 64, heads: int = 8,
                 ff_mult: float = 4, t5_name: str | None = None, self_cond: bool = False,
                 text_encoder: nn.Module | None = None, cond_num_tokens: int = 0, **unused):
        super().__init__()
        self.text_encoder = _text_encoder(t5_name, text_encoder)
        self.config = MuseConfig(
            codebook_size=num_tokens, num_tokens=seq_len, width=dim, depth=depth, heads=heads, head_dim=dim_head,
            ff_mult=ff_mult, text_width=self.text_encoder.width, self_conditioning=self_cond and self.out_dim is None,
            out_dim=self.out_dim, cond_codebook_size=num_tokens if cond_num_tokens else 0, cond_num_tokens=cond_num_tokens,
        )
        self.network = MuseNetwork(self.config)
        self.num_tokens, self.seq_len, self.dim = num_tokens, seq_len, dim

    @property
    def mask_id(self) -> int:
        return self.network.mask_token_id

    def encode_text(self, texts: list[str]) -> dict[str, torch.Tensor]:
        states, valid = self.text_encoder(texts)
        return {"states": states, "valid": valid}


MaskGitTransformer = Transformer


class TokenCritic(Transformer):
    out_dim = 1


class MaskGit(nn.Module):
    def __init__(self, image_size: int, transformer: Transformer, vae: VQGanVAE | None = None,
                 cond_vae: VQGanVAE | None = None, cond_image_size: int | None = None, cond_drop_prob: float = 0.5,
                 self_cond_prob: float = 0.9, token_critic: TokenCritic | None = None, self_token_critic: bool = False,
                 critic_loss_weight: float = 1.0, **unused):
        super().__init__()
        if self_token_critic:
            raise NotImplementedError("self_token_critic: use a separate TokenCritic(...) network")
        if vae is not None and vae.codebook_size != transformer.num_tokens:
            raise ValueError(f"transformer num_tokens={transformer.num_tokens} must equal the vae codebook size "
                             f"{vae.codebook_size}")
        self.vae, self.cond_vae = vae, cond_vae or vae
        self.image_size, self.cond_image_size = image_size, cond_image_size
        self.transformer, self.token_critic = transformer, token_critic
        if cond_image_size and not transformer.config.cond_num_tokens:
            raise ValueError("a super-res MaskGit needs Transformer(..., cond_num_tokens=(cond fmap size)**2)")
        self.stage = MuseStage(transformer.network, image_size, token_critic.network if token_critic else None)
        self.train_config = MuseTrainConfig(cond_drop_prob=cond_drop_prob, self_cond_prob=self_cond_prob,
                                            critic_loss_weight=critic_loss_weight)
        self._generator = torch.Generator().manual_seed(0)
        self._rng = random.Random(0)

    def _ids(self, images_or_ids: torch.Tensor) -> torch.Tensor:
        if images_or_ids.dtype in (torch.long, torch.int):
            return images_or_ids.flatten(1)
        if self.vae is None:
            raise ValueError("pass token ids, or build MaskGit with vae=... to train from images")
        if images_or_ids.shape[-1] != self.image_size:
            raise ValueError(f"images must be {self.image_size}px, got {tuple(images_or_ids.shape)}")
        with torch.no_grad():
            return self.vae.encode(images_or_ids)[1].flatten(1)

    def _lowres(self, images: torch.Tensor | None, cond_images: torch.Tensor | None) -> torch.Tensor | None:
        if not self.cond_image_size:
            return None
        if cond_images is None:  # as 0.3.5: resize the training image itself
            cond_images = F.interpolate(images, self.cond_image_size, mode="nearest")
        with torch.no_grad():
            return self.cond_vae.encode(cond_images)[1].flatten(1)

    def forward(self, images_or_ids: torch.Tensor, texts: list[str] | None = None,
                cond_images: torch.Tensor | None = None, cond_drop_prob: float | None = None, **unused) -> torch.Tensor:
        """The training loss of one batch (cross-entropy, plus the critic's BCE if any)."""
        ids = self._ids(images_or_ids)
        conditions = self.transformer.encode_text(texts)
        lowres = self._lowres(images_or_ids, cond_images)
        if lowres is not None:
            conditions["lowres"] = lowres
        config = self.train_config
        if cond_drop_prob is not None:
            config = MuseTrainConfig(cond_drop_prob=cond_drop_prob, self_cond_prob=config.self_cond_prob,
                                     critic_loss_weight=config.critic_loss_weight)
        loss, _ = stage_loss(self.stage, ids, conditions, config, self._generator, self._rng)
        return loss

    @torch.no_grad()
    def generate(self, texts: list[str], negative_texts: list[str] | None = None,
                 cond_images: torch.Tensor | None = None, fmap_size: int | None = None, temperature: float = 1.0,
                 topk_filter_thres: float = 0.9, can_remask_prev_masked: bool = False,
                 force_not_use_token_critic: bool = False, timesteps: int = 18, cond_scale: float = 3.0,
                 critic_noise_scale: float = 1.0, seeds: list[int] | None = None, return_ids: bool = False):
        sampler = MuseSampler(MuseSamplerConfig(
            steps=timesteps, temperature=temperature, topk_filter_thres=topk_filter_thres, guidance_scale=cond_scale,
            can_remask_prev_masked=can_remask_prev_masked, use_token_critic=not force_not_use_token_critic,
            critic_noise_scale=critic_noise_scale,
        ))
        was_training = self.training
        self.eval()
        conditions = self.transformer.encode_text(texts)
        if negative_texts is not None:
            conditions["negative"] = self.transformer.encode_text(negative_texts)
        if self.cond_image_size:
            if cond_images is None:
                raise ValueError("a super-res MaskGit generates from cond_images (the low-resolution images)")
            lowres = self._lowres(None, cond_images)
            conditions["lowres"] = lowres
            if "negative" in conditions:
                conditions["negative"]["lowres"] = lowres
        seeds = seeds if seeds is not None else [random.randrange(2**62) for _ in texts]
        noise = CounterNoise.from_seeds(seeds, conditions["states"].device)
        tokens = sampler.sample(self.stage, conditions, self.stage.problem(), noise)
        self.train(was_training)
        side = fmap_size or int(self.transformer.seq_len**0.5)
        ids = tokens.view(len(texts), side, side)
        if return_ids or self.vae is None:
            return ids
        return self.vae.decode_from_ids(ids)


class Muse(nn.Module):
    """Base then super-res: `Muse(base=..., superres=...)(texts, cond_scale=3.)` -> images."""

    def __init__(self, base: MaskGit, superres: MaskGit):
        super().__init__()
        if not superres.cond_image_size:
            raise ValueError("the superres MaskGit must be built with cond_image_size")
        self.base_maskgit, self.superres_maskgit = base.eval(), superres.eval()

    @torch.no_grad()
    def forward(self, texts: list[str], cond_scale: float = 3.0, temperature: float = 1.0, timesteps: int = 18,
                superres_timesteps: int | None = None, seeds: list[int] | None = None, **kwargs) -> torch.Tensor:
        lowres = self.base_maskgit.generate(texts, cond_scale=cond_scale, temperature=temperature,
                                            timesteps=timesteps, seeds=seeds, **kwargs)
        return self.superres_maskgit.generate(texts, cond_images=lowres, cond_scale=cond_scale, temperature=temperature,
                                              timesteps=superres_timesteps or timesteps, seeds=seeds, **kwargs)


__all__ = ["VQGanVAE", "Transformer", "MaskGitTransformer", "TokenCritic", "MaskGit", "Muse"]
