"""The Gaussian diffusion behind MAR's and eMIGM's diffusion loss (LTH14/mar `diffusion/`, which is
DiT's copy of OpenAI's improved-diffusion / ADM code; ../shared/spec/mage_emigm.md §2.3, §3.2).

Published setting (`create_diffusion(noise_schedule="cosine")`): 1000 steps of the improved-DDPM
cosine schedule (Nichol & Dhariwal 2021, eq. 17, betas capped at 0.999), epsilon prediction with a
learned-range variance (`LEARNED_RANGE`: log var = f log beta_t + (1 - f) log beta~_t, f = (v+1)/2),
loss = MSE(eps) + the variational bound term in bits computed with a stop-gradient on eps (the
"hybrid" objective, `LossType.MSE` with `learn_sigma=True`; no 1000/T rescale). Sampling respaces
to `timestep_respacing` steps (MAR: 100) and, as MAR's fork adds, multiplies the DDPM noise by a
temperature. No clipping of x0 (`clip_denoised=False`: tokens are latents, not pixels).

Everything works on flat batches of tokens, x (N, C), with the network called as
`net(x_t, t, z) -> (N, 2C)`; the schedule arrays are float64 as in the official code.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from reimpl.devices import DeviceCache

DenoiserFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t (N, C), t (N,)) -> (N, 2C)


def cosine_betas(num_steps: int = 1000, max_beta: float = 0.999) -> torch.Tensor:
    """improved-DDPM eq. 17: alpha_bar(t) = cos^2(((t/T) + 0.008) / 1.008 * pi/2)."""
    def alpha_bar(step: float) -> float:
        return math.cos((step + 0.008) / 1.008 * math.pi / 2) ** 2

    return torch.tensor([min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), max_beta)
                         for i in range(num_steps)], dtype=torch.float64)


def spaced_steps(num_steps: int, count: int) -> list[int]:
    """`space_timesteps(num_steps, str(count))` for a single section: `count` steps evenly
    strided over [0, num_steps - 1], rounded (100 of 1000: 0, 10, 20, ..., 989, 999)."""
    if count == 1:
        return [0]
    if count > num_steps:
        raise ValueError(f"cannot take {count} steps out of {num_steps}")
    stride = (num_steps - 1) / (count - 1)
    return sorted({round(i * stride) for i in range(count)})


class GaussianDiffusion:
    """A (possibly respaced) discrete diffusion; `steps` are the kept original step indices, which
    are what the network is fed (`_WrappedModel`'s map, no 1000/T rescale in MAR's copy)."""

    def __init__(self, base_betas: torch.Tensor, steps: Sequence[int] | None = None):
        base_alphas_cumprod = torch.cumprod(1 - base_betas, 0)
        steps = list(range(len(base_betas))) if steps is None else list(steps)
        betas, last = [], 1.0
        for step in steps:
            betas.append(1 - float(base_alphas_cumprod[step]) / last)
            last = float(base_alphas_cumprod[step])
        self.timestep_map = torch.tensor(steps)
        self.betas = torch.tensor(betas, dtype=torch.float64)
        self.num_steps = len(steps)
        alphas_cumprod = torch.cumprod(1 - self.betas, 0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        self.sqrt_alphas_cumprod = alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1 - alphas_cumprod).sqrt()
        self.sqrt_recip_alphas_cumprod = (1 / alphas_cumprod).sqrt()
        self.sqrt_recipm1_alphas_cumprod = (1 / alphas_cumprod - 1).sqrt()
        posterior_variance = self.betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod)
        # log(0) at t = 0 is replaced by the t = 1 value, as officially
        self.posterior_log_variance_clipped = torch.log(torch.cat([posterior_variance[1:2], posterior_variance[1:]]))
        self.posterior_mean_coef1 = self.betas * alphas_cumprod_prev.sqrt() / (1 - alphas_cumprod)
        self.posterior_mean_coef2 = (1 - alphas_cumprod_prev) * (1 - self.betas).sqrt() / (1 - alphas_cumprod)
        self.log_betas = torch.log(self.betas)
        self._on_device = DeviceCache()

    def _at(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Schedule array `name` at steps t, (N, 1) float32, from a copy kept on like's device."""
        array = self._on_device.get(name, like.device, lambda: getattr(self, name))
        return array[t].float()[:, None]

    def _model_steps(self, t: torch.Tensor) -> torch.Tensor:
        return self._on_device.get("timestep_map", t.device, lambda: self.timestep_map)[t]

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self._at("sqrt_alphas_cumprod", t, x_start) * x_start + \
            self._at("sqrt_one_minus_alphas_cumprod", t, x_start) * noise

    def q_posterior(self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self._at("posterior_mean_coef1", t, x_t) * x_start + self._at("posterior_mean_coef2", t, x_t) * x_t
        return mean, self._at("posterior_log_variance_clipped", t, x_t).expand_as(x_t)

    def p_mean_variance(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                        clip_x0: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log variance) of p(x_{t-1} | x_t) from the network's [eps, v] output; `clip_x0`
        clamps the implied x0 to [-clip_x0, clip_x0] (ADM's `clip_denoised` for a latent range)."""
        eps, v = output.chunk(2, dim=-1)
        min_log = self._at("posterior_log_variance_clipped", t, x_t)
        max_log = self._at("log_betas", t, x_t)
        fraction = (v + 1) / 2
        log_variance = fraction * max_log + (1 - fraction) * min_log
        x_start = self._at("sqrt_recip_alphas_cumprod", t, x_t) * x_t - \
            self._at("sqrt_recipm1_alphas_cumprod", t, x_t) * eps
        if clip_x0:
            x_start = x_start.clamp(-clip_x0, clip_x0)
        mean, _ = self.q_posterior(x_start, x_t, t)
        return mean, log_variance

    def training_losses(self, denoiser: DenoiserFn, x_start: torch.Tensor, t: torch.Tensor,
                        noise: torch.Tensor) -> torch.Tensor:
        """Per-token loss (N,): mean-squared eps error + the VLB term (bits) through the variance only."""
        x_t = self.q_sample(x_start, t, noise)
        output = denoiser(x_t, self._model_steps(t))
        eps, v = output.chunk(2, dim=-1)
        mean, log_variance = self.p_mean_variance(torch.cat([eps.detach(), v], dim=-1), x_t, t)
        true_mean, true_log_variance = self.q_posterior(x_start, x_t, t)
        kl = normal_kl(true_mean, true_log_variance, mean, log_variance).mean(dim=-1) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x_start, mean, 0.5 * log_variance).mean(dim=-1) / math.log(2.0)
        vb = torch.where(t == 0, nll, kl)
        return ((noise - eps) ** 2).mean(dim=-1) + vb

    @torch.no_grad()
    def sample(self, denoiser: DenoiserFn, noise: torch.Tensor, draw_noise: Callable[[], torch.Tensor],
               temperature: float = 1.0, clip_x0: float | None = None) -> torch.Tensor:
        """Ancestral sampling from x_T = noise; `draw_noise()` gives each step's fresh (N, C)
        normal draws (the sampler owns the noise); the noise is scaled by `temperature`."""
        x = noise
        for index in reversed(range(self.num_steps)):
            t = torch.full((x.shape[0],), index, device=x.device, dtype=torch.long)
            output = denoiser(x, self._model_steps(t))
            mean, log_variance = self.p_mean_variance(output, x, t, clip_x0)
            fresh = draw_noise()
            x = mean + (torch.exp(0.5 * log_variance) * fresh * temperature if index > 0 else 0.0)
        return x


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """ADM's tanh approximation of the standard normal CDF (kept for loss parity)."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """log p of x in [-1, 1] under a Gaussian discretised into 256 bins (ADM's decoder term at t = 0)."""
    centred = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = _standard_normal_cdf(inv_std * (centred + 1.0 / 255.0))
    cdf_min = _standard_normal_cdf(inv_std * (centred - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_probs = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_probs))
