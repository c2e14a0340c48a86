"""Every sampler family: image i is bit-identical whether it is drawn alone, in a batch of 7 or
in a batch of 64, and changes with its seed. The networks here are per-row functions without
matrix products, so that these tests see the sampler alone (the model-level tests in
tests/reimpl/test_mar_model.py cover a real network's shapes). The `gpu` cases repeat each test on
CUDA, where the same counters must give bit-identical grids across batch sizes too."""

import pytest
import torch

import reimpl.samplers.amused  # noqa: F401  (the modules register their samplers)
import reimpl.samplers.emigm  # noqa: F401
import reimpl.samplers.halton  # noqa: F401
import reimpl.samplers.mage  # noqa: F401
import reimpl.samplers.mar  # noqa: F401
import reimpl.samplers.muse  # noqa: F401
import reimpl.samplers.self_guidance  # noqa: F401
from reimpl.samplers import SAMPLERS
from reimpl.samplers.base import TokenProblem
from reimpl.samplers.latent import LatentProblem
from reimpl.samplers.noise import CounterNoise

LENGTH, CODES, MASK, NULL = 16, 12, 12, 3
SEEDS = list(range(100, 164))
LABELS = torch.arange(64) % 3
TABLE = torch.randn(CODES + 1, CODES, generator=torch.Generator().manual_seed(0)) * 3


_ON_DEVICE: dict[tuple[str, str], torch.Tensor] = {}


def on_device(name: str, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A constant moved to `device` once (a copy per call would synchronise a GPU)."""
    key = (name, str(device))
    if key not in _ON_DEVICE:
        _ON_DEVICE[key] = tensor.to(device)
    return _ON_DEVICE[key]


def token_logits(tokens, labels):
    """(B, L) ids -> (B, L, K) logits; row b depends on tokens[b] and labels[b] only."""
    table = on_device("table", TABLE, tokens.device)
    ramp = on_device("ramp", torch.linspace(0, 1, LENGTH)[None, :, None], tokens.device)
    context = table[tokens].sum(1, keepdim=True) * 0.2 + labels[:, None, None].float()
    return context + table[tokens] + ramp


def auxiliary_logits(tokens, labels):
    return token_logits(tokens, labels).roll(1, dims=-1) * 0.5


class MuseLike:
    self_conditioning = True

    def __call__(self, tokens, conditions, self_cond=None, return_embed=False):
        labels = conditions["label"]
        logits = token_logits(tokens, labels)
        if self_cond is not None:
            logits = logits + 0.1 * self_cond[..., :1]
        return (logits, logits[..., :4].tanh()) if return_embed else logits


def muse_conditions(labels):
    return {"label": labels}


def null_condition(conditions):
    return {"label": torch.full_like(conditions["label"], NULL)}


class LatentLike(torch.nn.Module):
    """A MAR-shaped network (backbone z and diffusion head) made of elementwise operations."""

    token_dim, width = 4, 6

    def __init__(self):
        super().__init__()
        self.classes = torch.randn(4, self.width, generator=torch.Generator().manual_seed(1))

    def class_embedding(self, labels):
        return on_device("classes", self.classes, labels.device)[labels]

    def forward(self, tokens, mask, class_embedding):
        summary = tokens.sum(1, keepdim=True).tanh().repeat(1, 1, 2)[..., : self.width]  # (B, 1, D)
        return summary + class_embedding[:, None] + mask[..., None].float() * 0.3

    @property
    def head(self):
        def head(x, t, z):
            eps = torch.tanh(x * 0.5 + z[:, : self.token_dim] + t[:, None].float() / 1000)
            return torch.cat([eps, torch.zeros_like(eps)], dim=-1)

        head.token_dim = self.token_dim
        return head


TOKEN_CASES = {
    "maskgit": {"steps": 5},
    "maskgit-guided": {"steps": 5, "guidance_scale": 2.0},
    "self-guidance": {"steps": 5},
    "mage": {"steps": 5},
    "halton": {"steps": 5},
    "amused": {"steps": 5, "guidance_scale": 3.0},
    "muse": {"steps": 5, "guidance_scale": 3.0},
}


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def draw_tokens(case: str, seeds, labels, device="cpu", noise=None):
    name = case.removesuffix("-guided")
    config = SAMPLERS.get(name).Config(**TOKEN_CASES[case])
    sampler = SAMPLERS.get(name)(config)
    noise = noise if noise is not None else CounterNoise.from_seeds(seeds, device)
    labels = labels.to(device)
    if name == "muse":
        problem = TokenProblem(LENGTH, MASK, None, null_condition=null_condition)
        return sampler.sample(MuseLike(), muse_conditions(labels), problem, noise)
    if name == "amused":
        problem = TokenProblem(LENGTH, MASK, None, null_condition=null_condition)
        return sampler.sample(lambda t, c: token_logits(t, c["label"]), muse_conditions(labels), problem, noise)
    pair = (lambda t, c: (token_logits(t, c), auxiliary_logits(t, c))) if name == "self-guidance" else None
    problem = TokenProblem(LENGTH, MASK, NULL, guidance_pair=pair)
    return sampler.sample(token_logits, labels, problem, noise)


def draw_latents(name: str, seeds, labels, device="cpu", noise=None):
    config = {"mar": {"steps": 4, "cfg": 2.0, "diffusion_steps": 6},
              "emigm": {"steps": 4, "cfg": 2.0, "cfg_t_min": 0.0, "cfg_t_max": 0.9, "solver_steps": 3}}[name]
    sampler = SAMPLERS.get(name)(SAMPLERS.get(name).Config(**config))
    return sampler.sample(LatentLike(), labels.to(device), LatentProblem(LENGTH, LatentLike.token_dim, NULL),
                          noise if noise is not None else CounterNoise.from_seeds(seeds, device))


def _check_invariance(draw):
    full = draw(SEEDS, LABELS)
    seven = draw(SEEDS[20:27], LABELS[20:27])
    assert torch.equal(seven, full[20:27])
    for i in (0, 23, 63):
        assert torch.equal(draw(SEEDS[i : i + 1], LABELS[i : i + 1])[0], full[i])
    other = draw([7] + SEEDS[1:7], LABELS[:7])
    assert not torch.equal(other[0], full[0]) and torch.equal(other[1:], full[1:7])
    return full


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(TOKEN_CASES))
def test_token_samplers_are_batch_invariant(case, device, threads):
    full = _check_invariance(lambda seeds, labels: draw_tokens(case, seeds, labels, device))
    assert full.shape == (64, LENGTH) and (full != MASK).all() and (full < CODES).all()
    assert len({tuple(row) for row in full.tolist()}) > 16  # the seeds really vary the images


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["mar", "emigm"])
def test_latent_samplers_are_batch_invariant(name, device, threads):
    full = _check_invariance(lambda seeds, labels: draw_latents(name, seeds, labels, device))
    assert full.shape == (64, LENGTH, LatentLike.token_dim) and torch.isfinite(full).all()
    assert full.abs().sum(-1).gt(0).all()  # every token was drawn


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(TOKEN_CASES) + ["mar", "emigm"])
def test_sampling_steps_never_wait_for_the_host_on_cuda(case):
    """Under torch.cuda.set_sync_debug_mode("error") any device->host copy or synchronising op
    inside the step loop raises; the loop must queue its work and return."""
    labels, noise = LABELS[:8].to("cuda"), CounterNoise.from_seeds(SEEDS[:8], "cuda")
    draw_fn = draw_latents if case in ("mar", "emigm") else draw_tokens
    draw = lambda: draw_fn(case, SEEDS[:8], labels, "cuda", noise)  # noqa: E731
    draw()  # warm-up: constants reach the device once, kernels load
    torch.cuda.set_sync_debug_mode("error")
    try:
        drawn = draw()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert drawn.device.type == "cuda" and drawn.shape[0] == 8
