"""The speed-regression workload (bench/perf/regression.py): images/s of our MaskGIT sampler
against muse-maskgit-pytorch's `MaskGit.generate` and diffusers' `AmusedPipeline`, in one
process, interleaved, with random weights, as ratios. The peers' builders are shared with the
family benchmark that `python -m bench perf sampler` runs (bench/perf/families.py).

Held equal: transformer width, depth, heads (head_dim = width / heads), MLP ratio 4, image
tokens, codebook size, decoding steps, batch size, no guidance, float32 on the same device
and thread count; token ids out (no VQ decoding in any of the three). Not equal, because the
architectures differ: muse-maskgit-pytorch adds a cross-attention to (one) text embedding
per layer and top-k filtering; aMUSEd's UVit2D adds convolutional res blocks
(num_res_blocks=1), micro-conditioning and a cross-attention to (one) encoder state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import statistics
import tempfile
import time
from typing import Callable, Iterator
from unittest import mock

import torch

from bench.config import field, to_dict
from bench.perf.measure import ForwardTimer


@dataclasses.dataclass(frozen=True)
class SamplerPerfConfig:
    width: int = field(256, "transformer width")
    depth: int = field(4, "transformer layers")
    heads: int = field(4, "attention heads")
    tokens: int = field(256, "image tokens (a square grid)")
    codebook_size: int = field(1024, "VQ codebook size")
    steps: int = field(8, "decoding steps")
    batch_size: int = field(8, "images per call")
    repeats: int = field(5, "timed calls per implementation (after one warm-up call)")
    seed: int = field(0, "weights and sampling seed")


def build_ours(config: SamplerPerfConfig) -> Callable[[], torch.Tensor]:
    from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork
    from reimpl.samplers.base import TokenProblem
    from reimpl.samplers.maskgit import MaskGitSampler, MaskGitSamplerConfig
    from reimpl.samplers.noise import CounterNoise

    network = MaskGitNetwork(MaskGitConfig(
        codebook_size=config.codebook_size, num_classes=10, num_tokens=config.tokens, width=config.width,
        depth=config.depth, heads=config.heads, mlp_width=4 * config.width, dropout=0.0,
    )).eval()
    sampler = MaskGitSampler(MaskGitSamplerConfig(steps=config.steps))
    problem = TokenProblem(config.tokens, network.mask_token_id, None)
    labels = torch.arange(config.batch_size) % 10

    def run() -> torch.Tensor:
        return sampler.sample(network, labels, problem, CounterNoise.from_seeds(range(config.seed, config.seed + config.batch_size)))

    return run


@contextlib.contextmanager
def _tiny_t5_dir(width: int) -> Iterator[str]:
    """muse-maskgit-pytorch reads a T5 config by name at construction; offline, a local one,
    removed once the transformer is built."""
    from transformers import T5Config

    with tempfile.TemporaryDirectory(prefix="mgm-t5-") as folder:
        T5Config(d_model=width, d_kv=16, d_ff=2 * width, num_layers=1, num_heads=2, vocab_size=32).save_pretrained(folder)
        yield folder


class _TokensOut(torch.nn.Module):
    """Stands in for muse-maskgit-pytorch's VAE at generation: grid size in, token ids out."""

    def __init__(self, side: int):
        super().__init__()
        self.side = side

    def get_encoded_fmap_size(self, image_size: int) -> int:
        return self.side

    def decode_from_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return ids


def build_muse_maskgit_pytorch(config, batch: int, guided: bool = False, device: str = "cpu",
                               timer: ForwardTimer | None = None) -> Callable[[], torch.Tensor]:
    """lucidrains' `MaskGit.generate` at the config's size (guided: cond_scale 3, else 1)."""
    from muse_maskgit_pytorch import MaskGit, MaskGitTransformer, VQGanVAE

    with _tiny_t5_dir(config.width) as t5_dir:
        transformer = MaskGitTransformer(
            num_tokens=config.codebook_size, seq_len=config.tokens, dim=config.width, depth=config.depth,
            heads=config.heads, dim_head=config.width // config.heads, ff_mult=4, t5_name=t5_dir,
        )
    vae = VQGanVAE(dim=16, codebook_size=config.codebook_size, layers=1)  # only its codebook size is read
    maskgit = MaskGit(image_size=32, transformer=transformer, vae=vae).eval().to(device)
    if timer is not None:
        timer.time_module(transformer)  # forward_with_cond_scale calls self.forward: timed there
    side = int(config.tokens**0.5)
    maskgit.vae = _TokensOut(side)  # token ids out, as for the other two
    text = torch.zeros(batch, 1, config.width, device=device)
    transformer.encode_text = lambda texts: text  # precomputed (empty) text embeddings: no T5 weights needed

    from muse_maskgit_pytorch import muse_maskgit_pytorch as peer_module

    def run() -> torch.Tensor:
        torch.manual_seed(config.seed)
        # its step loop has a tqdm bar with no off switch: one line per call would bury the report
        with torch.no_grad(), mock.patch.object(peer_module, "tqdm", lambda steps, **_: steps):
            return maskgit.generate(["" for _ in range(batch)], fmap_size=side, timesteps=config.steps,
                                    cond_scale=3.0 if guided else 1.0)

    return run


def build_amused_pipeline(config, batch: int, guided: bool = False, device: str = "cpu",
                          timer: ForwardTimer | None = None) -> Callable[[], torch.Tensor]:
    """diffusers' AmusedPipeline at the config's size (guided: guidance_scale 10, else none)."""
    from diffusers import AmusedPipeline, AmusedScheduler

    from bench.perf.families import _uvit

    side = int(config.tokens**0.5)
    transformer = _uvit(config).eval().to(device)
    if timer is not None:
        timer.time_module(transformer)
    scheduler = AmusedScheduler(mask_token_id=config.codebook_size, masking_schedule="cosine")
    pipeline = AmusedPipeline(vqvae=None, tokenizer=None, text_encoder=None, transformer=transformer, scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    prompt = torch.zeros(batch, config.width, device=device)
    states = torch.zeros(batch, 1, config.width, device=device)
    extra = dict(negative_prompt_embeds=prompt, negative_encoder_hidden_states=states) if guided else {}

    def run() -> torch.Tensor:
        return pipeline(
            prompt_embeds=prompt, encoder_hidden_states=states, num_inference_steps=config.steps,
            guidance_scale=10.0 if guided else 0.0, height=side * 8, width=side * 8, output_type="latent",
            generator=torch.Generator(device).manual_seed(config.seed), **extra,
        ).images

    return run


PEERS = {"muse-maskgit-pytorch": build_muse_maskgit_pytorch, "diffusers-amused": build_amused_pipeline}


def run_sampler_benchmark(config: SamplerPerfConfig, log: Callable[[str], None] = print,
                          peers: tuple[str, ...] = tuple(PEERS)) -> dict:
    """Ours and each named peer: a warm-up call each, then `repeats` interleaved timed calls."""
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        raise ValueError(f"unknown peers {unknown}: choose from {sorted(PEERS)}")
    torch.manual_seed(config.seed)
    runners = {"ours": build_ours(config)}
    for name, build in ((name, PEERS[name]) for name in peers):
        try:
            torch.manual_seed(config.seed)
            runners[name] = build(config, config.batch_size)
        except ImportError as error:
            log(f"skipping {name}: {error} (pip install -e '.[perf]')")
    for run in runners.values():  # warm-up
        with torch.no_grad():
            run()
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(config.repeats):  # interleaved, so drift in machine load hits all alike
        for name, run in runners.items():
            start = time.perf_counter()
            with torch.no_grad():
                run()
            seconds[name].append(time.perf_counter() - start)
    speed = {name: config.batch_size / statistics.median(times) for name, times in seconds.items()}
    return {
        "config": to_dict(config),
        "threads": torch.get_num_threads(),
        "images_per_s": speed,
        "ratio_ours_over": {name: speed["ours"] / value for name, value in speed.items() if name != "ours"},
        "seconds": seconds,
    }


def format_result(result: dict) -> str:
    lines = [f"MaskGIT sampler speed, {json.dumps(result['config'])}, {result['threads']} threads",
             f"{'implementation':<24}{'images/s':>10}{'ours / it':>12}"]
    for name, speed in result["images_per_s"].items():
        ratio = result["ratio_ours_over"].get(name)
        lines.append(f"{name:<24}{speed:>10.2f}{(f'{ratio:.2f}x' if ratio else '-'):>12}")
    return "\n".join(lines)
