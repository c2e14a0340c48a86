"""DPM-Solver++ singlestep (Lu et al. 2022, "DPM-Solver++", Alg. 1-2 in data-prediction form) on a
discrete VP schedule, as eMIGM samples its diffusion head (ML-GSAI/eMIGM `models/dpm_solver.py`
calling `diffusion/dpm_solver.py`; ../shared/spec/mage_emigm.md §2.4).

Published call: `NoiseScheduleVP('discrete', betas=cosine 1000)`, noise-prediction model,
`DPM_Solver(algorithm_type="dpmsolver++").sample(x, steps=S, order=3, skip_type="logSNR",
method="singlestep")` with the default `solver_type='dpmsolver'`, no denoise-to-zero. Details kept:
- log alpha_t is piecewise-linear in t over t_n = n/N (n = 1..N); the cosine schedule's tail with
  half-logSNR below -5.1 is cut off first (`numerical_clip_alpha`), so N < 1000 and the network
  sees t_input = 1000 (t - 1/N) (not rescaled to the clipped N);
- "DPM-Solver-fast" orders: S = 8 -> [3, 3, 2], S = 14 -> [3, 3, 3, 3, 2] (K = S // 3 + 1 outer
  intervals uniform in half-logSNR, from t = 1 to t = 1/N), intermediate points r1 = 1/3, r2 = 2/3
  of each interval in logSNR;
- classifier-free guidance on the noise prediction, eps_u + w (eps_c - eps_u).
"""

from __future__ import annotations

from typing import Callable

import torch

from reimpl.devices import DeviceCache

NoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x (N, C), t_input (N,)) -> eps (N, C)


def interpolate(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear f(x) through (xp, fp), xp increasing, extended linearly past both ends
    (the official `interpolate_fn`, which `torch.interp`-like clamping would not reproduce)."""
    index = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[index - 1], xp[index], fp[index - 1], fp[index]
    return f0 + (x - x0) * (f1 - f0) / (x1 - x0)


class DiscreteVPSchedule:
    """q(x_t | x_0) = N(alpha_t x_0, sigma_t^2), t in (0, 1], from a discrete schedule's betas."""

    def __init__(self, betas: torch.Tensor, clipped_lambda: float = -5.1, dtype: torch.dtype = torch.float32):
        log_alphas = 0.5 * torch.log(1 - betas).cumsum(dim=0)
        lambdas = log_alphas - 0.5 * torch.log(1 - torch.exp(2 * log_alphas))
        cut = int(torch.searchsorted(torch.flip(lambdas, [0]), torch.tensor(clipped_lambda, dtype=lambdas.dtype)))
        if cut > 0:
            log_alphas = log_alphas[:-cut]
        self.log_alpha_array = log_alphas.to(dtype)
        self.total_steps = len(log_alphas)
        self.t_array = torch.linspace(0.0, 1.0, self.total_steps + 1)[1:].to(dtype)
        self.on_device = DeviceCache()

    def _array(self, name: str, device: torch.device) -> torch.Tensor:
        return self.on_device.get(name, device, lambda: getattr(self, name))

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return interpolate(t, self._array("t_array", t.device), self._array("log_alpha_array", t.device))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(1 - torch.exp(2 * self.log_alpha(t)))

    def half_log_snr(self, t: torch.Tensor) -> torch.Tensor:
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * torch.log(1 - torch.exp(2 * log_alpha))

    def inverse_half_log_snr(self, lam: torch.Tensor) -> torch.Tensor:
        log_alpha = -0.5 * torch.logaddexp(torch.zeros_like(lam), -2 * lam)
        flipped = self.on_device.get("flipped", lam.device,
                                     lambda: torch.stack([self.log_alpha_array.flip(0), self.t_array.flip(0)]))
        return interpolate(log_alpha, flipped[0], flipped[1])

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        """The discrete step the network was trained on: t in [1/N, 1] -> 1000 (t - 1/N)."""
        return (t - 1.0 / self.total_steps) * 1000.0


def singlestep_orders(steps: int, order: int = 3) -> list[int]:
    """DPM-Solver-fast's split of `steps` model evaluations into solver orders."""
    if order == 3:
        outer = steps // 3 + 1
        tail = {0: [2, 1], 1: [1], 2: [2]}[steps % 3]
        return [3] * (outer - len(tail)) + tail
    if order == 2:
        return [2] * (steps // 2) + [1] * (steps % 2)
    if order == 1:
        return [1] * steps
    raise ValueError(f"DPM-Solver order must be 1, 2 or 3, got {order}")


class DpmSolverPlusPlus:
    """Singlestep DPM-Solver++ with logSNR-uniform steps for a noise-prediction model."""

    def __init__(self, noise_fn: NoiseFn, schedule: DiscreteVPSchedule):
        self.noise_fn = noise_fn
        self.schedule = schedule
        self.evaluations = 0

    def data_prediction(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        times = t.expand(x.shape[0])
        eps = self.noise_fn(x, self.schedule.model_time(times))
        return (x - self.schedule.sigma(t) * eps) / torch.exp(self.schedule.log_alpha(t))

    def logsnr_times(self, t_start: float, t_end: float, intervals: int, device) -> torch.Tensor:
        ends = self.schedule.half_log_snr(torch.tensor([t_start, t_end], device=device))
        return self.schedule.inverse_half_log_snr(torch.linspace(float(ends[0]), float(ends[1]), intervals + 1,
                                                                 device=device))

    def time_grid(self, orders: list[int]) -> torch.Tensor:
        """(len(orders), 4) rows [s, t, r1, r2]: each step's interval (uniform in half-logSNR) and
        the logSNR fractions of its intermediate points (0 where the order has none)."""
        outer = self.logsnr_times(1.0, 1.0 / self.schedule.total_steps, len(orders), "cpu")
        rows = []
        for index, step_order in enumerate(orders):
            s, t = outer[index], outer[index + 1]
            inner = self.schedule.half_log_snr(self.logsnr_times(float(s), float(t), step_order, "cpu"))
            h = inner[-1] - inner[0]
            ratios = [(inner[k] - inner[0]) / h for k in range(1, step_order)]
            rows.append(torch.stack([s, t, *ratios, *[torch.zeros_like(s)] * (3 - step_order)]))
        return torch.stack(rows)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, steps: int, order: int = 3) -> torch.Tensor:
        orders = singlestep_orders(steps, order)
        # The grid is made on the host once and kept on the device: reading device scalars back
        # (float(s)) or copying them over at every solver step would stall a GPU.
        grid = self.schedule.on_device.get(("grid", steps, order), x.device, lambda: self.time_grid(orders))
        for index, step_order in enumerate(orders):
            row = grid[index]
            ratios = [row[2 + k] for k in range(step_order - 1)]
            x = self.update(x, row[0:1], row[1:2], step_order, ratios)
        return x

    def update(self, x: torch.Tensor, s: torch.Tensor, t: torch.Tensor, order: int,
               ratios: list[torch.Tensor]) -> torch.Tensor:
        """One singlestep DPM-Solver++ step of `order` from s to t (the 'dpmsolver' variant)."""
        schedule = self.schedule
        lam_s, lam_t = schedule.half_log_snr(s), schedule.half_log_snr(t)
        h = lam_t - lam_s
        sigma_s, sigma_t = schedule.sigma(s), schedule.sigma(t)
        alpha_t = torch.exp(schedule.log_alpha(t))
        phi_1 = torch.expm1(-h)
        model_s = self.data_prediction(x, s)
        if order == 1:
            return sigma_t / sigma_s * x - alpha_t * phi_1 * model_s
        r1 = ratios[0]
        s1 = schedule.inverse_half_log_snr(lam_s + r1 * h)
        x_s1 = schedule.sigma(s1) / sigma_s * x - torch.exp(schedule.log_alpha(s1)) * torch.expm1(-r1 * h) * model_s
        model_s1 = self.data_prediction(x_s1, s1)
        if order == 2:
            return sigma_t / sigma_s * x - alpha_t * phi_1 * model_s - (0.5 / r1) * alpha_t * phi_1 * (model_s1 - model_s)
        r2 = ratios[1]
        s2 = schedule.inverse_half_log_snr(lam_s + r2 * h)
        alpha_s2 = torch.exp(schedule.log_alpha(s2))
        phi_12 = torch.expm1(-r2 * h)
        phi_22 = phi_12 / (r2 * h) + 1.0
        x_s2 = schedule.sigma(s2) / sigma_s * x - alpha_s2 * phi_12 * model_s + r2 / r1 * alpha_s2 * phi_22 * (
            model_s1 - model_s)
        model_s2 = self.data_prediction(x_s2, s2)
        phi_2 = phi_1 / h + 1.0
        return sigma_t / sigma_s * x - alpha_t * phi_1 * model_s + (1.0 / r2) * alpha_t * phi_2 * (model_s2 - model_s)
