"""Per-sample noise as a pure function of (sample seed, step, stream, position): every sampler's
random numbers come from here.

`CounterNoise` evaluates the Philox4x32-10 block cipher (Salmon, Moraes, Dror and Shaw, "Parallel
random numbers: as easy as 1, 2, 3", SC 2011, section 4.2; the generator behind cuRAND's and
torch's CUDA streams) with int64 tensor arithmetic on the sampling device, for the whole batch in
one call. The key is the sample's 64-bit seed; the counter is (index, step, stream, stage). So
image i depends on its own seed only -- the same numbers at any batch size, in any process, and
the same integers on CPU and CUDA -- and no Python loop runs over samples. The cipher is checked
against Random123's published known-answer vectors (tests/reimpl/samplers/test_noise.py).

`GeneratorNoise` draws from one `torch.Generator` in call order instead. It exists for parity
tests against reference code that consumes a torch stream (diffusers' AmusedPipeline, the official
UnlockMGM `generate_sg`): feed both the same generator state and the draws coincide.

Streams are small integers named in each sampler module; `stage` separates the calls of one
image's later decoding stages (a MUSE super-res pass) from the first.
"""

from __future__ import annotations

from typing import Sequence

import torch

from reimpl.devices import to_device

_MASK32 = 0xFFFFFFFF
_PHILOX_M0, _PHILOX_M1 = 0xD2511F53, 0xCD9E8D57  # multipliers (Salmon et al. 2011, Table 2)
_PHILOX_W0, _PHILOX_W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments: golden ratio, sqrt(3) - 1
PHILOX_ROUNDS = 10
_TWO_PI = 6.283185307179586


def _mulhilo(value: torch.Tensor, multiplier: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) 32-bit words of value * multiplier, value holding uint32s in int64.

    The 64-bit product overflows int64, so value is split in 16-bit halves: each partial product
    stays below 2^48 and the carries are exact."""
    low_part = (value & 0xFFFF) * multiplier  # < 2^48
    upper = (value >> 16) * multiplier + (low_part >> 16)  # = product >> 16, < 2^49
    return upper >> 16, ((upper & 0xFFFF) << 16) | (low_part & 0xFFFF)


def philox4x32(counter: Sequence[torch.Tensor], key: Sequence[torch.Tensor],
               rounds: int = PHILOX_ROUNDS) -> tuple[torch.Tensor, ...]:
    """Philox4x32-R: four counter words and two key words (int64 tensors holding uint32s, any
    broadcastable shapes) -> four uint32 words of output."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for round_index in range(rounds):
        if round_index:
            k0, k1 = (k0 + _PHILOX_W0) & _MASK32, (k1 + _PHILOX_W1) & _MASK32
        hi0, lo0 = _mulhilo(c0, _PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, _PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def word_to_uniform(word: torch.Tensor) -> torch.Tensor:
    """uint32 word -> float32 in (0, 1): the top 23 bits as (2k + 1) / 2^24, exact in float32,
    never 0 or 1 (so log and log(-log) stay finite without clamps)."""
    return ((word >> 9) * 2 + 1).to(torch.float32) * (1.0 / (1 << 24))


def gumbel_from_uniform(uniform: torch.Tensor) -> torch.Tensor:
    """-log(-log u), with the clamps at 1e-20 the reference samplers apply (no-ops on CounterNoise)."""
    return -torch.log((-torch.log(uniform.clamp(min=1e-20))).clamp(min=1e-20))


def categorical_from_uniform(probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: the first id whose cumulative probability reaches u * total.
    probs (..., K) >= 0, uniform (...) -> int64 (...). An id of probability zero is never drawn.

    One uniform per position instead of K Gumbels (Gumbel-max): the same distribution at a
    K-th of the noise, which keeps the sampler's time in the network. The search runs in two
    levels, over the sums of blocks of ids and then inside the chosen block, so no running sum
    over all K ids is formed (a full cumsum costs as much as the softmax before it)."""
    probs = probs.float()
    size = probs.shape[-1]
    block = _search_block(size)
    if block == size:
        return _first_reaching(probs.cumsum(-1), uniform * probs.sum(-1))
    blocks = probs.unflatten(-1, (size // block, block))  # (..., K / b, b)
    block_cdf = blocks.sum(-1).cumsum(-1)  # (..., K / b)
    target = uniform * block_cdf[..., -1]
    chosen = _first_reaching(block_cdf, target)  # a block of positive mass: its cdf rises there
    before = torch.where(chosen > 0, block_cdf.gather(-1, (chosen - 1).clamp(min=0)[..., None]).squeeze(-1), 0.0)
    inner_cdf = blocks.gather(-2, chosen[..., None, None].expand(*chosen.shape, 1, block)).squeeze(-2).cumsum(-1)
    # target - before > 0 exactly (before < target); capped at the block's own total so that
    # rounding between the two sums cannot push the draw past the block's last positive id
    residual = torch.minimum(target - before, inner_cdf[..., -1])
    return chosen * block + _first_reaching(inner_cdf, residual)


def _search_block(size: int) -> int:
    """Block length for the two-level search: 32 ids where K allows, else one level."""
    return 32 if size % 32 == 0 and size >= 256 else size


def _first_reaching(cdf: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Index of the first entry of the non-decreasing cdf (..., n) that is >= target (...)."""
    found = torch.searchsorted(cdf.contiguous(), target.unsqueeze(-1).contiguous()).squeeze(-1)
    return found.clamp_(max=cdf.shape[-1] - 1)


class CounterNoise:
    """Noise for a batch of images, one 64-bit seed each; see the module docstring."""

    def __init__(self, seeds: Sequence[int] | torch.Tensor, device: torch.device | str | None = None, stage: int = 0):
        seeds = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1)
        if device is not None:
            seeds = to_device(seeds, device)
        self.seeds = seeds
        self.stage = stage
        self._key = (seeds & _MASK32, (seeds >> 32) & _MASK32)

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], device: torch.device | str | None = None) -> "CounterNoise":
        for seed in seeds:
            if not 0 <= int(seed) < 2**63:
                raise ValueError(f"seed {seed} is outside [0, 2^63)")
        return cls(list(map(int, seeds)), device)

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def device(self) -> torch.device:
        return self.seeds.device

    def to(self, device: torch.device | str) -> "CounterNoise":
        return CounterNoise(self.seeds, device, self.stage)

    def for_stage(self, stage: int) -> "CounterNoise":
        """The same seeds, counters in another stage: noise for an image's next decoding pass."""
        return CounterNoise(self.seeds, self.device, stage)

    def subset(self, rows: torch.Tensor | slice) -> "CounterNoise":
        return CounterNoise(self.seeds[rows], self.device, self.stage)

    def words(self, step: int, stream: int, index: torch.Tensor, shared: bool = False) -> tuple[torch.Tensor, ...]:
        """The four Philox words at counter (index, step, stream, stage) under each row's seed.
        index: int64 (B, ...), one row per sample, or (...) for every row when `shared`;
        values in [0, 2^32)."""
        for name, value in (("step", step), ("stream", stream), ("stage", self.stage)):
            if not 0 <= value <= _MASK32:
                raise ValueError(f"{name}={value} must lie in [0, 2^32)")
        index = index.to(self.device, torch.int64)
        if shared:
            index = index.unsqueeze(0)
        elif index.dim() == 0 or index.shape[0] != len(self):
            raise ValueError(f"index of shape {tuple(index.shape)} needs one row per sample ({len(self)})")
        shape = (len(self),) + (1,) * (index.dim() - 1)
        key = tuple(part.view(shape) for part in self._key)
        return philox4x32((index, step, stream, self.stage), key)

    def uniform_at(self, step: int, stream: int, index: torch.Tensor) -> torch.Tensor:
        """float32 (B, ...) uniforms in (0, 1) at the given element indices."""
        return word_to_uniform(self.words(step, stream, index)[0])

    def uniform(self, step: int, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
        """float32 (B, *shape) uniforms; element j of the flattened shape uses index j."""
        count = 1
        for size in shape:
            count *= size
        index = torch.arange(count, device=self.device).view(shape)
        return word_to_uniform(self.words(step, stream, index, shared=True)[0])

    def gumbel(self, step: int, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
        return gumbel_from_uniform(self.uniform(step, stream, shape))

    def normal_block(self, step: int, stream: int, index: torch.Tensor, width: int) -> torch.Tensor:
        """float32 (B, ..., width) standard normals for the rows named by index (B, ...): row r
        uses counters r * ceil(width / 4) + j, four normals per counter (two Box-Muller pairs)."""
        groups = -(-width // 4)
        counters = index.to(self.device, torch.int64).unsqueeze(-1) * groups + torch.arange(groups, device=self.device)
        words = self.words(step, stream, counters)
        normals = []
        for first, second in ((words[0], words[1]), (words[2], words[3])):
            radius = torch.sqrt(-2.0 * torch.log(word_to_uniform(first)))
            angle = _TWO_PI * word_to_uniform(second)
            normals += [radius * torch.cos(angle), radius * torch.sin(angle)]
        return torch.stack(normals, dim=-1).flatten(-2)[..., :width]

    def categorical(self, probs: torch.Tensor, step: int, stream: int) -> torch.Tensor:
        """probs (B, L, K) -> ids (B, L), position l drawn with the uniform at index l."""
        return categorical_from_uniform(probs, self.uniform(step, stream, tuple(probs.shape[1:-1])))

    def categorical_at(self, probs: torch.Tensor, step: int, stream: int, index: torch.Tensor) -> torch.Tensor:
        """probs (B, n, K), index (B, n) positions -> ids (B, n)."""
        return categorical_from_uniform(probs, self.uniform_at(step, stream, index))

    def permutation(self, step: int, stream: int, length: int) -> torch.Tensor:
        """(B, length) random orders: positions sorted by a random 32-bit key each (stable on ties)."""
        keys = self.words(step, stream, torch.arange(length, device=self.device), shared=True)[0]
        return keys.argsort(dim=-1, stable=True)


class GeneratorNoise:
    """Draws from one torch.Generator in call order, batched as the reference code batches them
    (one multinomial over every row, one uniform_ over the whole batch): for parity tests only.
    Steps, streams and indices are ignored, so images depend on the batch they are drawn in."""

    def __init__(self, generator: torch.Generator, batch: int, device: torch.device | str = "cpu"):
        self.generator = generator
        self.batch = batch
        self._device = torch.device(device)

    def __len__(self) -> int:
        return self.batch

    @property
    def device(self) -> torch.device:
        return self._device

    def uniform(self, step: int, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
        drawn = torch.zeros(self.batch, *shape).uniform_(0, 1, generator=self.generator)
        return drawn.to(self._device)

    def gumbel(self, step: int, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
        return gumbel_from_uniform(self.uniform(step, stream, shape))

    def categorical(self, probs: torch.Tensor, step: int, stream: int) -> torch.Tensor:
        flat = probs.float().cpu().reshape(-1, probs.shape[-1])
        drawn = torch.multinomial(flat, 1, generator=self.generator)
        return drawn.view(probs.shape[:-1]).to(probs.device)

    def for_stage(self, stage: int) -> "GeneratorNoise":
        return self

    def to(self, device) -> "GeneratorNoise":
        return GeneratorNoise(self.generator, self.batch, device)
