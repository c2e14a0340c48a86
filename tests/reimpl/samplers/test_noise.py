"""The counter-based noise source: Philox4x32-10 against Random123's known answers, the exact
32-bit multiply, its distributions, and that row i is a function of seed i alone."""

import random

import pytest
import torch

from reimpl.samplers.noise import (
    CounterNoise, GeneratorNoise, _mulhilo, categorical_from_uniform, philox4x32, word_to_uniform,
)

# Random123 tests/kat_vectors, rows "philox4x32 10": counter[4], key[2] -> output[4]
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_matches_the_random123_known_answers(counter, key, expected):
    words = philox4x32([torch.tensor(c) for c in counter], [torch.tensor(k) for k in key])
    assert tuple(int(w) for w in words) == expected


def test_the_split_multiply_is_the_exact_64_bit_product():
    rng = random.Random(0)
    values = [rng.getrandbits(32) for _ in range(2000)] + [0, 1, 0xFFFFFFFF]
    for multiplier in (0xD2511F53, 0xCD9E8D57):
        hi, lo = _mulhilo(torch.tensor(values), multiplier)
        product = [v * multiplier for v in values]
        assert hi.tolist() == [p >> 32 for p in product]
        assert lo.tolist() == [p & 0xFFFFFFFF for p in product]


def test_uniforms_lie_strictly_inside_the_unit_interval():
    extremes = word_to_uniform(torch.tensor([0, 0xFFFFFFFF]))
    assert 0 < extremes[0] < 1e-7 and 1 - 1e-7 < extremes[1] < 1
    u = CounterNoise.from_seeds(range(64)).uniform(0, 0, (1000,))
    assert u.dtype == torch.float32 and u.shape == (64, 1000)
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.002


def test_row_i_is_a_function_of_seed_i_step_stream_and_stage_only():
    seeds = [3, 2**40 + 7, 11, 0]
    noise = CounterNoise.from_seeds(seeds)
    batch = noise.uniform(5, 1, (6, 7))
    for i, seed in enumerate(seeds):
        assert torch.equal(CounterNoise.from_seeds([seed]).uniform(5, 1, (6, 7))[0], batch[i])
    variants = [noise.uniform(6, 1, (6, 7)), noise.uniform(5, 2, (6, 7)), noise.for_stage(1).uniform(5, 1, (6, 7))]
    assert all(not torch.equal(v, batch) for v in variants)
    # element j of a shape is index j, whatever the shape around it
    assert torch.equal(noise.uniform(5, 1, (42,)).view(4, 6, 7), batch)
    at = noise.uniform_at(5, 1, torch.tensor([[40, 2]] * 4))
    assert torch.equal(at, batch.flatten(1)[:, [40, 2]])
    with pytest.raises(ValueError, match="seed"):
        CounterNoise.from_seeds([-1])
    with pytest.raises(ValueError, match="one row per sample"):
        noise.uniform_at(0, 0, torch.arange(3))


def test_normals_and_permutations():
    noise = CounterNoise.from_seeds(range(32))
    normals = noise.normal_block(0, 4, torch.arange(500).expand(32, -1), 6)  # (32, 500, 6)
    assert normals.shape == (32, 500, 6)
    assert abs(float(normals.mean())) < 0.02 and abs(float(normals.std()) - 1) < 0.02
    assert float((normals.abs() > 1.96).float().mean()) == pytest.approx(0.05, abs=0.005)
    # a row's normals do not depend on which other rows are asked for
    some = noise.normal_block(0, 4, torch.tensor([[7, 300]] * 32), 6)
    assert torch.equal(some, normals[:, [7, 300]])
    orders = noise.permutation(0, 2, 50)
    assert (orders.sort(-1).values == torch.arange(50)).all()
    assert len({tuple(row) for row in orders.tolist()}) == 32


def test_categorical_draws_follow_the_probabilities_and_skip_zero_mass():
    probs = torch.tensor([0.0, 0.1, 0.0, 0.6, 0.3, 0.0])
    noise = CounterNoise.from_seeds(range(20))
    drawn = noise.categorical(probs.expand(20, 2000, -1), 0, 0)  # (20, 2000)
    frequency = torch.bincount(drawn.flatten(), minlength=6).float() / drawn.numel()
    assert torch.allclose(frequency, probs, atol=0.01)
    assert frequency[[0, 2, 5]].sum() == 0
    # unnormalised weights are fine, and the extreme uniforms stay in range
    edge = categorical_from_uniform(torch.tensor([[2.0, 0.0, 2.0, 0.0]] * 2), torch.tensor([2.0**-24, 1 - 2.0**-24]))
    assert edge.tolist() == [0, 2]


def test_two_level_search_draws_what_one_running_sum_over_all_ids_draws():
    generator = torch.Generator().manual_seed(3)
    probs = (torch.randn(4, 300, 1024, generator=generator) * 3).softmax(-1)
    # top-k filtered rows: most ids carry zero mass, whole blocks of 32 included
    sparse = torch.where(probs >= probs.topk(5, -1).values[..., -1:], probs, 0.0)
    uniform = CounterNoise.from_seeds(range(4)).uniform(0, 0, (300,))
    uniform[0, :2] = torch.tensor([2.0**-24, 1 - 2.0**-24])
    for weights in (probs, sparse):
        cdf = weights.cumsum(-1)
        reference = torch.searchsorted(cdf, (uniform * cdf[..., -1]).unsqueeze(-1)).squeeze(-1)
        drawn = categorical_from_uniform(weights, uniform)
        assert (drawn != reference).float().mean() < 1e-3  # only where the two sums round apart
        assert (weights.gather(-1, drawn[..., None]) > 0).all()


def test_generator_noise_reproduces_a_torch_stream_in_call_order():
    reference = torch.Generator().manual_seed(5)
    probs = torch.rand(3, 4, 10, generator=torch.Generator().manual_seed(1)).softmax(-1)
    expected_ids = torch.multinomial(probs.reshape(-1, 10), 1, generator=reference).view(3, 4)
    expected_u = torch.zeros(3, 4).uniform_(0, 1, generator=reference)
    noise = GeneratorNoise(torch.Generator().manual_seed(5), 3)
    assert torch.equal(noise.categorical(probs, 0, 0), expected_ids)
    assert torch.equal(noise.uniform(0, 1, (4,)), expected_u)


@pytest.mark.gpu
def test_cuda_computes_the_same_integers_and_uniforms_as_the_cpu():
    seeds = [0, 5, 2**33 + 1]
    cpu, cuda = CounterNoise.from_seeds(seeds), CounterNoise.from_seeds(seeds, "cuda")
    for step, stream in ((0, 0), (3, 1), (17, 4)):
        on_cuda = cuda.words(step, stream, torch.arange(4096, device="cuda"), shared=True)
        on_cpu = cpu.words(step, stream, torch.arange(4096), shared=True)
        assert all(torch.equal(a.cpu(), b) for a, b in zip(on_cuda, on_cpu, strict=True))
        assert torch.equal(cuda.uniform(step, stream, (9, 13)).cpu(), cpu.uniform(step, stream, (9, 13)))
    assert torch.equal(cuda.permutation(2, 2, 256).cpu(), cpu.permutation(2, 2, 256))
