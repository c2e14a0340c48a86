"""The diffusion-loss machinery against closed forms: for Gaussian data x0 ~ N(m, s^2) the optimal
noise prediction is known exactly, and so is the probability-flow ODE's solution, so DPM-Solver++
and ancestral sampling can be checked without any trained network."""

import math

import pytest
import torch

from reimpl.diffusion.dpm_solver import DiscreteVPSchedule, DpmSolverPlusPlus, singlestep_orders
from reimpl.diffusion.gaussian import GaussianDiffusion, cosine_betas, spaced_steps

MEAN, STD = 0.7, 0.3


def test_cosine_schedule_and_respacing():
    betas = cosine_betas()
    assert betas.shape == (1000,) and float(betas.max()) == pytest.approx(0.999)
    alpha_bar = torch.cumprod(1 - betas, 0)
    assert float(alpha_bar[499]) == pytest.approx(math.cos((0.5 + 0.008) / 1.008 * math.pi / 2) ** 2 /
                                                  math.cos(0.008 / 1.008 * math.pi / 2) ** 2, rel=1e-9)
    steps = spaced_steps(1000, 100)
    assert len(steps) == 100 and steps[:3] == [0, 10, 20] and steps[-2:] == [989, 999]
    spaced = GaussianDiffusion(betas, steps)
    # respacing keeps the marginals at the kept steps
    torch.testing.assert_close(spaced.sqrt_alphas_cumprod ** 2, alpha_bar[steps])


def test_official_singlestep_orders():
    assert singlestep_orders(8) == [3, 3, 2]
    assert singlestep_orders(14) == [3, 3, 3, 3, 2]
    assert singlestep_orders(9) == [3, 3, 2, 1]
    assert all(sum(singlestep_orders(n)) == n for n in range(3, 30))


def test_cosine_tail_is_clipped_at_half_log_snr_minus_5_1():
    schedule = DiscreteVPSchedule(cosine_betas())
    assert schedule.total_steps == 996  # the last four cosine steps have lambda < -5.1
    assert float(schedule.half_log_snr(torch.tensor([1.0]))) >= -5.1
    t = torch.tensor([0.05, 0.5, 0.9])
    torch.testing.assert_close(schedule.inverse_half_log_snr(schedule.half_log_snr(t)), t, atol=1e-4, rtol=0)


def _exact_eps(schedule):
    def eps(x, t_input):
        t = t_input / 1000 + 1 / schedule.total_steps
        alpha = torch.exp(schedule.log_alpha(t))[:, None]
        sigma = schedule.sigma(t)[:, None]
        return sigma * (x - alpha * MEAN) / (alpha**2 * STD**2 + sigma**2)
    return eps


def test_dpm_solver_converges_to_the_exact_ode_solution():
    schedule = DiscreteVPSchedule(cosine_betas())
    x_start = torch.randn(2000, 4, generator=torch.Generator().manual_seed(0))
    ends = torch.tensor([1.0, 1.0 / schedule.total_steps])
    alpha, sigma = torch.exp(schedule.log_alpha(ends)), schedule.sigma(ends)
    spread = torch.sqrt(alpha**2 * STD**2 + sigma**2)
    exact = alpha[1] * MEAN + spread[1] * (x_start - alpha[0] * MEAN) / spread[0]
    errors = []
    for steps in (5, 8, 14, 20):
        solver = DpmSolverPlusPlus(_exact_eps(schedule), schedule)
        errors.append(float((solver.sample(x_start.clone(), steps) - exact).abs().max()))
        assert solver.evaluations == steps  # singlestep: NFE = steps
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-3


@pytest.mark.parametrize("temperature, expected_std", [(1.0, STD), (0.0, None)])
def test_ancestral_sampling_reaches_the_data_distribution(temperature, expected_std):
    betas = cosine_betas()
    diffusion = GaussianDiffusion(betas, spaced_steps(1000, 100))
    base = torch.cumprod(1 - betas, 0)
    generator = torch.Generator().manual_seed(1)

    def denoiser(x, t_original):  # exact eps, variance halfway between the two bounds
        alpha_bar = base[t_original].float()[:, None]
        eps = (1 - alpha_bar).sqrt() * (x - alpha_bar.sqrt() * MEAN) / (alpha_bar * STD**2 + 1 - alpha_bar)
        return torch.cat([eps, torch.zeros_like(eps)], dim=-1)

    noise = torch.randn(4000, 2, generator=generator)
    samples = diffusion.sample(denoiser, noise, lambda: torch.randn(4000, 2, generator=generator), temperature)
    assert float(samples.mean()) == pytest.approx(MEAN, abs=0.02)
    if expected_std is None:
        assert float(samples.std()) < 0.8 * STD  # no fresh noise: the spread collapses
    else:
        assert float(samples.std()) == pytest.approx(expected_std, rel=0.1)


def test_training_loss_is_mse_plus_a_bound_that_only_trains_the_variance():
    diffusion = GaussianDiffusion(cosine_betas())
    x_start = torch.rand(64, 4) * 2 - 1
    t = torch.cat([torch.zeros(4, dtype=torch.long), torch.randint(1, 1000, (60,))])
    noise = torch.randn(64, 4)
    eps = torch.zeros(64, 4, requires_grad=True)
    v = torch.zeros(64, 4, requires_grad=True)
    loss = diffusion.training_losses(lambda x, steps: torch.cat([eps + 0 * x, v], -1), x_start, t, noise)
    assert loss.shape == (64,) and torch.isfinite(loss).all()
    vb = loss - ((noise - eps) ** 2).mean(-1)
    assert (vb[4:] >= -1e-6).all()  # a KL divergence
    vb.sum().backward()
    assert eps.grad.abs().max() == 0 and v.grad.abs().max() > 0


def test_clip_x0_bounds_what_a_small_eps_error_at_t_999_does():
    betas = cosine_betas()
    diffusion = GaussianDiffusion(betas, spaced_steps(1000, 100))
    base = torch.cumprod(1 - betas, 0)
    generator = torch.Generator().manual_seed(2)

    def slightly_wrong(x, t_original):
        """N(0, 1) data's exact eps with a 2% error, and no idea of inputs beyond |x| = 4 (as a
        network never trained there): one bad x0 at t = 999 throws every later step off."""
        alpha_bar = base[t_original].float()[:, None]
        eps = (1 - alpha_bar).sqrt() * x.clamp(-4, 4) + 0.02 * torch.sin(37 * x)
        return torch.cat([eps, torch.zeros_like(eps)], dim=-1)

    def run(clip):
        g = torch.Generator().manual_seed(3)
        return diffusion.sample(slightly_wrong, torch.randn(500, 2, generator=generator),
                                lambda: torch.randn(500, 2, generator=g), 1.0, clip)

    assert float(run(None).std()) > 10  # x0 = (x - sqrt(1 - a) eps) / sqrt(a), 1/sqrt(a) ~ 2e4 at t = 999
    assert float(run(3.0).std()) < 3
