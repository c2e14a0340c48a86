"""The training loop shared by the recipes: accelerate for device and mixed precision,
linear warm-up then cosine decay, gradient clipping, a progress bar, resume snapshots
(reimpl/recipes/snapshot.py), and checkpoints as safetensors carrying their config."""

from __future__ import annotations

import dataclasses
import json
import math
import contextlib
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from reimpl.recipes.snapshot import Snapshot, StopRequests, load_snapshot, save_snapshot


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after a stop signal once the step in flight has finished and its snapshot is written."""


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    steps: int
    batch_size: int
    learning_rate: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # cosine decays to learning_rate * this
    grad_clip: float | None = 1.0
    mixed_precision: str = "no"  # accelerate: no | fp16 | bf16
    compile: bool = False  # torch.compile the forward pass (about 1.17x on a 2-core CPU for the toy MaskGIT)
    # timm `add_weight_decay` (MAE / MAGE): no decay on 1-d parameters (norms) or any `*.bias`
    no_decay_on_1d: bool = False
    # parameters under these name prefixes never decay either (MAR / eMIGM: the whole `diffloss.`)
    no_decay_prefixes: tuple[str, ...] = ()
    # after warm-up: half-cycle cosine to min_lr_ratio, or MAR / eMIGM's constant rate
    schedule: str = "cosine"
    seed: int = 0


def warmup_cosine(step: int, config: OptimConfig) -> float:
    """LR multiplier: linear warm-up over warmup_steps, then cosine to min_lr_ratio (or constant)."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    if config.schedule != "cosine":
        raise ValueError(f"optim.schedule={config.schedule!r}: choose cosine or constant")
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def train(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Any, int], tuple[torch.Tensor, dict[str, float]]],
    batches: Iterator[Any],
    config: OptimConfig,
    parameters: list[torch.nn.Parameter] | None = None,
    progress: bool = True,
    description: str = "train",
    after_step: Callable[[int], None] | None = None,
    snapshot: Snapshot | None = None,
    state: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Run `config.steps` optimizer steps; return the last step's logged values and timing.

    With `snapshot`, resume from it when it exists and keep it up to date (see snapshot.py);
    `state` names the recipe's other stateful objects (generators, EMA, tensors updated in place)."""
    from accelerate import Accelerator

    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available())
    trainable = parameters if parameters is not None else [p for p in model.parameters() if p.requires_grad]
    groups: list[dict] = [{"params": trainable}]
    if config.no_decay_on_1d or config.no_decay_prefixes:
        ids = {id(p) for p in trainable}
        exempt = {id(p) for name, p in model.named_parameters()
                  if (config.no_decay_on_1d and (p.ndim <= 1 or name.endswith(".bias")))
                  or name.startswith(tuple(config.no_decay_prefixes))}
        groups = [{"params": [p for p in trainable if id(p) not in exempt]},
                  {"params": [p for p in trainable if id(p) in exempt and id(p) in ids], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.betas, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, config))
    parts, state = {"model": model, "optimizer": optimizer, "schedule": schedule}, dict(state or {})
    if accelerator.scaler is not None:  # fp16 on a GPU: the loss scale is part of the run's state
        parts["scaler"] = accelerator.scaler
    first, resumed = load_snapshot(snapshot, parts, state) if snapshot is not None else (0, {})
    logged: dict[str, float] = dict(resumed.get("logged", {}))
    if first:
        for _ in range(first):  # the iterators draw from their own seeded generators: replaying is exact
            next(batches)
        torch.set_rng_state(resumed["torch_rng"])
        if progress:
            print(f"{description}: resuming at step {first} of {config.steps} from {snapshot.path}")
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    # The compiled wrapper only runs the forward; weights stay in `model`, so checkpoints keep their key names.
    forward = torch.compile(model) if config.compile else model
    start = time.perf_counter() - resumed.get("seconds", 0.0)
    last_saved = time.perf_counter()

    def save(finished: int) -> None:
        save_snapshot(snapshot, finished, parts, state, {"logged": logged, "seconds": time.perf_counter() - start})

    stops = StopRequests() if snapshot is not None else contextlib.nullcontext()
    bar = tqdm(range(first, config.steps), initial=first, total=config.steps, desc=description, disable=not progress)
    with stops:
        for step in bar:
            batch = next(batches)
            with accelerator.autocast():
                try:
                    loss, logged = loss_fn(forward, batch, step)
                # compile failures surface at the first call, typed by backend
                except Exception as error:  # noqa: BLE001
                    if forward is model or step > 0:
                        raise
                    # e.g. no C++ compiler for the inductor backend: the same training, only slower
                    warnings.warn(f"torch.compile failed ({type(error).__name__}: {error}); training without it")
                    forward = model
                    loss, logged = loss_fn(forward, batch, step)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.grad_clip:
                accelerator.clip_grad_norm_(trainable, config.grad_clip)
            optimizer.step()
            schedule.step()
            if after_step is not None:
                after_step(step)
            if step % 10 == 0:
                bar.set_postfix({k: f"{v:.4g}" for k, v in logged.items()})
            if snapshot is not None and (stops.requested or step + 1 == config.steps
                                         or time.perf_counter() - last_saved >= snapshot.every_seconds):
                save(step + 1)
                last_saved = time.perf_counter()
                if stops.requested and step + 1 < config.steps:
                    raise TrainingInterrupted(f"{description} stopped after step {step + 1} of {config.steps}; "
                                              f"rerun the same command to resume from {snapshot.path}")
    model.eval()
    return {**logged, "train_seconds": time.perf_counter() - start}


class WeightAverage:
    """An exponential moving average of a network's parameters (`averaged = d * averaged
    + (1 - d) * current` after every optimizer step). With `update_after_step=None`, d = decay
    throughout, as MAR's `update_ema` keeps it. With a step count, d follows open-muse's / diffusers'
    `EMAModel.get_decay` (UnlockMGM `muse/modeling_ema.py`): for optimizer step n (1-based) and
    k = n - update_after_step - 1, d = 0 (a plain copy) while k <= 0, then min((1 + k) / (10 + k), decay).
    Pass `update` as `train(..., after_step=...)`, then `copy_to(network)` for the averaged weights."""

    def __init__(self, network: torch.nn.Module, decay: float, update_after_step: int | None = None):
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay {decay}: must be in (0, 1)")
        self.decay = decay
        self.update_after_step = update_after_step
        self.network = network
        self.averaged = [p.detach().clone() for p in network.parameters()]

    def decay_at(self, step: int) -> float:
        """The decay applied after optimizer step `step` (0-based, as `train` counts)."""
        if self.update_after_step is None:
            return self.decay
        k = step + 1 - self.update_after_step - 1
        return 0.0 if k <= 0 else min((1 + k) / (10 + k), self.decay)

    @torch.no_grad()
    def update(self, step: int = 0) -> None:
        weight = 1 - self.decay_at(step)
        for averaged, current in zip(self.averaged, self.network.parameters()):
            averaged.lerp_(current.detach(), weight)

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        return {"averaged": [averaged.clone() for averaged in self.averaged]}

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, list[torch.Tensor]]) -> None:
        for averaged, saved in zip(self.averaged, state["averaged"], strict=True):
            averaged.copy_(saved)

    @torch.no_grad()
    def copy_to(self, network: torch.nn.Module) -> None:
        for averaged, target in zip(self.averaged, network.parameters()):
            target.copy_(averaged)


def save_checkpoint(path: str | Path, model: torch.nn.Module, config: Any, extra: dict | None = None) -> None:
    """Weights as safetensors with the architecture config (and anything else) in metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"config": json.dumps(dataclasses.asdict(config)), **{k: json.dumps(v) for k, v in (extra or {}).items()}}
    temporary = path.with_name(f".{path.name}.tmp")
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}  # clone: tied weights share storage
    save_file(state, str(temporary), metadata=metadata)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, model: torch.nn.Module) -> torch.nn.Module:
    """Strict load: any missing or unexpected key is an error."""
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()
