"""`python -m bench perf sampler`: every sampler family at equal transformer size, with random
weights, at each batch size, with and without guidance, plus the peer implementations.

For each workload it reports images/s; the share of the time spent inside network forwards
(transformer, critic, TOAST pass, diffusion head: the limit is 100%, the rest is the sampler's
own work); the matmul FLOPs per image (counted by torch's FlopCounterMode), and from them the
work rate in transformer GFLOP/s, which compares implementations whose layers do different
amounts of work per equal work; and that rate as a fraction of the machine's dense-matmul rate,
measured in the same run.

Held equal across families: width, depth, heads, image tokens, codebook size (the latent families
use `latent_dim` channels instead), decoding steps, batch size, device, precision and threads.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any, Callable

import torch

from bench.config import field, to_dict
from bench.execution import autocast, resolve_device
from bench.perf.measure import ForwardTimer, count_flops, matmul_rate

FAMILIES = ("maskgit", "self-guidance", "mage", "halton", "muse", "amused", "mar", "emigm")
PEERS = ("muse-maskgit-pytorch", "diffusers-amused")


@dataclasses.dataclass(frozen=True)
class SamplerSuiteConfig:
    width: int = field(256, "transformer width")
    depth: int = field(4, "transformer layers (MAR / eMIGM: encoder and decoder each)")
    heads: int = field(4, "attention heads")
    tokens: int = field(256, "image tokens (a square grid)")
    codebook_size: int = field(1024, "VQ codebook size")
    latent_dim: int = field(16, "token channels of the continuous-latent families (mar, emigm)")
    steps: int = field(8, "decoding steps")
    diffusion_steps: int = field(25, "DDPM steps of MAR's diffusion head per token")
    solver_steps: int = field(8, "DPM-Solver++ steps of eMIGM's head")
    batch_sizes: tuple[int, ...] = field((8, 64), "images per call")
    guidance: tuple[bool, ...] = field((False, True), "without and with guidance")
    families: tuple[str, ...] = field(FAMILIES, "sampler families to time")
    peers: tuple[str, ...] = field(PEERS, "peer implementations to time beside ours")
    repeats: int = field(2, "timed calls per workload (after one warm-up call)")
    device: str = field("auto", "auto (cuda when present), cpu or cuda")
    precision: str = field("float32", "autocast dtype of the network forward: float32, bfloat16 or float16")
    compile: bool = field(False, "torch.compile the network forwards")
    seed: int = field(0, "weights and sampling seed")


@dataclasses.dataclass
class Workload:
    """One timed thing: `run()` draws a batch; `timer` sees the network forwards inside it."""

    implementation: str  # "ours" or a peer's name
    family: str
    batch: int
    guided: bool
    run: Callable[[], Any]
    timer: ForwardTimer


def _noise(config: SamplerSuiteConfig, batch: int, device: str):
    from reimpl.samplers.noise import CounterNoise

    return CounterNoise.from_seeds(range(config.seed, config.seed + batch), device)


def _prepare(module: torch.nn.Module, config: SamplerSuiteConfig, device: str, timer: ForwardTimer):
    module = module.eval().to(device)
    if config.compile:
        module.compile()
    return timer.time_module(module)


def _maskgit_network(config: SamplerSuiteConfig):
    from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork

    return MaskGitNetwork(MaskGitConfig(
        codebook_size=config.codebook_size, num_classes=10, num_tokens=config.tokens, width=config.width,
        depth=config.depth, heads=config.heads, mlp_width=4 * config.width, dropout=0.0, null_class=True,
    ))


def _token_grid(family: str, config: SamplerSuiteConfig, batch: int, guided: bool, device: str,
                timer: ForwardTimer) -> Callable[[], Any]:
    """The MaskGIT-network families: maskgit, self-guidance, mage, halton."""
    from reimpl.samplers import SAMPLERS
    from reimpl.samplers.base import TokenProblem

    network = _maskgit_network(config)
    settings: dict[str, Any] = {"steps": config.steps}
    pair = None
    if family == "self-guidance":
        from reimpl.networks.toast import ToastMaskGit

        network = ToastMaskGit(network)
        settings["guidance_scale"] = 1.0 if guided else 0.0
    elif family in ("maskgit", "halton"):
        settings["guidance_scale"] = 2.0 if guided else 0.0
    network = _prepare(network, config, device, timer)
    if family == "self-guidance":
        pair = timer.wrap(network.guidance_pair)
    base = network.base if family == "self-guidance" else network
    problem = TokenProblem(config.tokens, base.mask_token_id, base.config.null_class_id, guidance_pair=pair)
    sampler_class = SAMPLERS.get(family)
    sampler = sampler_class(sampler_class.Config(**settings))
    labels = torch.arange(batch, device=device) % 10
    return lambda: sampler.sample(network, labels, problem, _noise(config, batch, device))


def _muse(config, batch, guided, device, timer):
    from reimpl.models.muse import MuseStage
    from reimpl.networks.muse import MuseConfig, MuseNetwork
    from reimpl.samplers.muse import MuseSampler, MuseSamplerConfig

    stage = MuseStage(MuseNetwork(MuseConfig(
        codebook_size=config.codebook_size, num_tokens=config.tokens, width=config.width, depth=config.depth,
        heads=config.heads, head_dim=config.width // config.heads, text_width=config.width,
    )), resolution=0)
    stage.network = _prepare(stage.network, config, device, timer)
    sampler = MuseSampler(MuseSamplerConfig(steps=config.steps, guidance_scale=3.0 if guided else 1.0))
    conditions = {"states": torch.zeros(batch, 1, config.width, device=device),
                  "valid": torch.ones(batch, 1, dtype=torch.bool, device=device)}
    return lambda: sampler.sample(stage, conditions, stage.problem(), _noise(config, batch, device))


def _uvit(config: SamplerSuiteConfig):
    from diffusers import UVit2DModel

    return UVit2DModel(
        hidden_size=config.width, num_hidden_layers=config.depth, num_attention_heads=config.heads,
        intermediate_size=4 * config.width, codebook_size=config.codebook_size,
        vocab_size=config.codebook_size + 1, in_channels=config.width, block_out_channels=config.width,
        num_res_blocks=1, block_num_heads=config.heads, cond_embed_dim=config.width, encoder_hidden_size=config.width,
        micro_cond_encode_dim=16, micro_cond_embed_dim=16 * 5, sample_size=int(config.tokens**0.5),
    )


def _amused(config, batch, guided, device, timer):
    from reimpl.samplers.amused import AmusedSampler, AmusedSamplerConfig
    from reimpl.samplers.base import TokenProblem

    transformer = _prepare(_uvit(config), config, device, timer)
    side = int(config.tokens**0.5)
    conditions = {"states": torch.zeros(batch, 1, config.width, device=device),
                  "pooled": torch.zeros(batch, config.width, device=device),
                  "micro": torch.zeros(batch, 5, device=device)}

    def logits(tokens, c):  # AmusedModel.logits without the text encoder and VQ around it
        out = transformer(tokens.view(len(tokens), side, side), micro_conds=c["micro"],
                          pooled_text_emb=c["pooled"], encoder_hidden_states=c["states"])
        return out.flatten(2).transpose(1, 2)

    problem = TokenProblem(config.tokens, config.codebook_size, None,
                           null_condition=lambda c: {k: torch.zeros_like(v) for k, v in c.items()})
    sampler = AmusedSampler(AmusedSamplerConfig(steps=config.steps, guidance_scale=10.0 if guided else 1.0))
    return lambda: sampler.sample(logits, conditions, problem, _noise(config, batch, device))


def _latent(family, config, batch, guided, device, timer):
    from reimpl.networks.mar import MarConfig, MarNetwork
    from reimpl.samplers.emigm import EmigmSampler, EmigmSamplerConfig
    from reimpl.samplers.latent import LatentProblem
    from reimpl.samplers.mar import MarSampler, MarSamplerConfig

    network = MarNetwork(MarConfig(
        token_dim=config.latent_dim, num_tokens=config.tokens, buffer_size=16, num_classes=10, width=config.width,
        depth=config.depth, heads=config.heads, decoder_width=config.width, decoder_depth=config.depth,
        decoder_heads=config.heads, dropout=0.0, head_width=config.width, head_depth=3,
        mask_is_fake_latent=family == "emigm",
    ))
    network = _prepare(network, config, device, timer)
    timer.time_module(network.head)
    if family == "mar":
        sampler = MarSampler(MarSamplerConfig(steps=config.steps, cfg=3.0 if guided else 1.0,
                                              diffusion_steps=config.diffusion_steps))
    else:  # guidance on every iteration, so "with guidance" means the same thing for both families
        sampler = EmigmSampler(EmigmSamplerConfig(steps=config.steps, cfg=3.0 if guided else 1.0, cfg_t_min=0.0,
                                                  cfg_t_max=1.0, solver_steps=config.solver_steps))
    problem = LatentProblem(config.tokens, config.latent_dim, network.config.null_label)
    labels = torch.arange(batch, device=device) % 10
    return lambda: sampler.sample(network, labels, problem, _noise(config, batch, device))


def _ours(family, config, batch, guided, device, timer):
    if family in ("maskgit", "self-guidance", "mage", "halton"):
        return _token_grid(family, config, batch, guided, device, timer)
    if family in ("mar", "emigm"):
        return _latent(family, config, batch, guided, device, timer)
    return {"muse": _muse, "amused": _amused}[family](config, batch, guided, device, timer)


def _peer(name, config, batch, guided, device, timer):
    from bench.perf.sampler import build_amused_pipeline, build_muse_maskgit_pytorch

    if name == "muse-maskgit-pytorch":
        return build_muse_maskgit_pytorch(config, batch, guided, device, timer)
    return build_amused_pipeline(config, batch, guided, device, timer)


PEER_FAMILY = {"muse-maskgit-pytorch": "muse", "diffusers-amused": "amused"}


def workloads(config: SamplerSuiteConfig, device: str, log: Callable[[str], None]) -> list[Workload]:
    unknown = set(config.families) - set(FAMILIES) | set(config.peers) - set(PEERS)
    if unknown:
        raise ValueError(f"unknown families or peers {sorted(unknown)}; families: {FAMILIES}, peers: {PEERS}")
    out = []
    for batch in config.batch_sizes:
        for guided in config.guidance:
            for family in config.families:
                if family == "mage" and guided:
                    continue  # MAGE is unconditional: there is nothing to guide
                out += _built("ours", family, _ours, family, config, batch, guided, device, log, "dev")
            for peer in config.peers:
                out += _built(peer, PEER_FAMILY[peer], _peer, peer, config, batch, guided, device, log, "perf")
    return out


def _built(implementation, family, build, name, config, batch, guided, device, log, extra) -> list[Workload]:
    """[the workload] from build(name, ...), or [] with a note when its package is missing."""
    timer = ForwardTimer(device)
    torch.manual_seed(config.seed)
    try:
        run = build(name, config, batch, guided, device, timer)
    except ImportError as error:
        log(f"skipping {name}: {error} (pip install -e '.[{extra}]')")
        return []
    return [Workload(implementation, family, batch, guided, run, timer)]


def measure(workload: Workload, config: SamplerSuiteConfig, device: str) -> dict:
    with torch.no_grad(), autocast(device, config.precision):
        # the warm-up call (allocator, kernel choice) also counts the FLOPs, except under
        # torch.compile, whose first call compiles and must not run under a dispatch mode
        if config.compile:
            workload.run()
        flops = count_flops(workload.run)
        totals, forwards = [], []
        for _ in range(config.repeats):
            workload.timer.reset()
            start = time.perf_counter()
            workload.run()
            if device == "cuda":
                torch.cuda.synchronize()
            totals.append(time.perf_counter() - start)
            forwards.append(workload.timer.seconds)
    seconds = statistics.median(totals)
    gflop_per_image = flops / workload.batch / 1e9
    return {
        "implementation": workload.implementation, "family": workload.family, "batch": workload.batch,
        "guided": workload.guided, "images_per_s": workload.batch / seconds,
        "forward_share": sum(forwards) / sum(totals), "gflop_per_image": gflop_per_image,
        "gflop_per_s": gflop_per_image * workload.batch / seconds, "seconds": totals,
    }


def run_suite(config: SamplerSuiteConfig, log: Callable[[str], None] = print) -> dict:
    from bench.registry import load_all

    load_all()
    device = resolve_device(config.device)
    peak = matmul_rate(device)
    rows = []
    for workload in workloads(config, device, log):
        row = measure(workload, config, device)
        row["fraction_of_matmul_rate"] = row["gflop_per_s"] / peak
        rows.append(row)
        log(format_row(row))
    return {"config": to_dict(config), "device": device, "threads": torch.get_num_threads(),
            "matmul_gflop_per_s": peak, "rows": rows}


HEADER = (f"{'implementation':<22}{'family':<15}{'batch':>6}{'guided':>8}{'images/s':>10}{'forward %':>11}"
          f"{'GFLOP/img':>11}{'GFLOP/s':>9}{'of matmul':>11}")


def format_row(row: dict) -> str:
    fraction = row.get("fraction_of_matmul_rate")
    return (f"{row['implementation']:<22}{row['family']:<15}{row['batch']:>6}{'yes' if row['guided'] else 'no':>8}"
            f"{row['images_per_s']:>10.2f}{100 * row['forward_share']:>10.1f}%{row['gflop_per_image']:>11.2f}"
            f"{row['gflop_per_s']:>9.1f}{(f'{100 * fraction:.1f}%' if fraction is not None else '-'):>11}")


def format_suite(result: dict) -> str:
    config = result["config"]
    lines = [f"Sampler speed on {result['device']}, {result['threads']} threads, {config['precision']}: width "
             f"{config['width']}, depth {config['depth']}, {config['tokens']} tokens, codebook {config['codebook_size']}, "
             f"{config['steps']} steps; dense matmul {result['matmul_gflop_per_s']:.1f} GFLOP/s", HEADER]
    lines += [format_row(row) for row in result["rows"]]
    return "\n".join(lines)
