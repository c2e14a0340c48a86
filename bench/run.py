"""One benchmark run: resolve the config, score the reference, sample, score, record.

Everything that can be wrong with the input (names, overrides, cards, weights, checksums)
is checked before anything is written under results/.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from accelerate import PartialState

import reimpl
from bench.checkpoints import ModelCard, get_card, get_tokenizer_card
from bench.config import RunConfig, apply_overrides, config_hash, to_dict
from bench.convert import local_weights
from bench.execution import autocast, resolve_device
from bench.errors import BadCardError, BadOverrideError
from bench.generate import generate_shards, iter_shard_images, shard_labels_and_seconds, shard_prompts
from bench.metrics.base import HIGHER_IS_BETTER, Metric, MetricInputs
from bench.metrics.features import Features, FeatureNet, extract, reference_statistics, shard_features
from bench.registry import DATASETS, FEATURE_NETS, METRICS, MODELS, SAMPLERS, load_all
from bench.store import SCHEMA_VERSION, StorePaths, atomic_write_json, environment, git_state, now_iso, read_record
from reimpl.models.base import ModelAssets


@dataclasses.dataclass(frozen=True)
class ResolvedRun:
    config: RunConfig
    card: ModelCard
    feature_net_name: str
    sampler_name: str | None
    sampler_config: Mapping[str, Any]
    resolved: Mapping[str, Any]  # what the hash covers, echoed into the record
    config_hash: str
    samples_hash: str  # covers only what changes the images, so new metrics reuse old samples
    overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)  # as given, to derive per-seed runs


def checkpoint_hashes(card: ModelCard) -> dict[str, str | None]:
    hashes = {spec.role: spec.sha256 for spec in card.files}
    if card.tokenizer:
        tokenizer = get_tokenizer_card(card.tokenizer["checkpoint"])
        hashes.update({f"tokenizer/{spec.role}": spec.sha256 for spec in tokenizer.files})
    return hashes


def _validate(config: RunConfig) -> None:
    positive = {
        "num_samples": config.num_samples, "batch_size": config.batch_size, "shard_size": config.shard_size,
        "eval.reference_images": config.eval.reference_images, "eval.batch_size": config.eval.batch_size,
        "eval.precision_recall_k": config.eval.precision_recall_k, "eval.is_splits": config.eval.is_splits,
        "seeds": config.seeds,
    }
    for key, value in positive.items():
        if value <= 0:
            raise BadOverrideError(f"{key}={value} must be positive", hint=f"e.g. {key}=8")
    if "is" in config.metrics and config.num_samples < config.eval.is_splits:
        raise BadOverrideError(
            f"num_samples={config.num_samples} is fewer than eval.is_splits={config.eval.is_splits}",
            hint="raise num_samples or lower eval.is_splits",
        )
    if config.device == "cuda" and not torch.cuda.is_available():
        raise BadOverrideError("device=cuda but no CUDA device is visible", hint="use device=cpu")
    for name in config.metrics:
        metric = METRICS.get(name)
        if metric.needs == "pairs":
            raise BadOverrideError(
                f"metric {name!r} scores (original, reconstruction) pairs, not generated samples",
                hint="reconstruction metrics run on a tokenizer; drop it from metrics=[...]",
            )


def resolve(overrides: Mapping[str, str]) -> ResolvedRun:
    """Overrides -> a fully resolved, validated run and its hash."""
    load_all()
    overrides = {("seeds" if k == "metrics.seeds" else k): v for k, v in overrides.items()}
    sampler_overrides = {k[len("sampler."):]: v for k, v in overrides.items() if k.startswith("sampler.")}
    if "sampler" in overrides:
        raise BadOverrideError("override sampler fields one by one", hint="e.g. sampler.steps=8 sampler.choice_temperature=4.5")
    config = apply_overrides(RunConfig(), {k: v for k, v in overrides.items() if not k.startswith("sampler.")})
    card = get_card(config.model)
    if "metrics" not in overrides and card.benchmark.metrics:
        config = dataclasses.replace(config, metrics=tuple(card.benchmark.metrics))
    if config.device == "auto":
        config = dataclasses.replace(config, device=resolve_device("auto"))
    _validate(config)
    MODELS.get(card.family)
    sampler_name, sampler_config = _resolve_sampler(card, sampler_overrides)
    feature_net_name = config.eval.feature_net or card.benchmark.feature_net
    feature_net_weights = FEATURE_NETS.get(feature_net_name)().weights_identity()
    DATASETS.get(card.benchmark.dataset)
    config = dataclasses.replace(config, sampler=sampler_config)
    resolved = {
        "run": to_dict(config),
        "card": card.name,
        "family": card.family,
        "checkpoint_sha256": checkpoint_hashes(card),
        "sampler_name": sampler_name,
        "feature_net": feature_net_name,
        "feature_net_weights": feature_net_weights,
        "benchmark": to_dict(dataclasses.asdict(card.benchmark)),
        "code_version": reimpl.__version__,
    }
    generation = {
        key: resolved[key] for key in ("card", "family", "checkpoint_sha256", "sampler_name", "code_version")
    }
    generation.update({key: resolved["run"][key]
                       for key in ("num_samples", "seed", "device", "precision", "compile", "sampler")})
    return ResolvedRun(
        config, card, feature_net_name, sampler_name, sampler_config, resolved, config_hash(resolved),
        config_hash(generation), dict(overrides),
    )


def _resolve_sampler(card: ModelCard, overrides: Mapping[str, str]) -> tuple[str | None, dict]:
    """The card's sampler and settings with the sampler.* overrides applied; `sampler.name=X`
    swaps in another registered sampler, starting from X's own defaults."""
    settings = dict(card.sampler)
    name = settings.pop("name", None)
    overrides = dict(overrides)
    if "name" in overrides and name is not None:
        chosen = overrides.pop("name")
        SAMPLERS.get(chosen)  # unknown names fail here, with the registered ones listed
        if chosen != name:
            name, settings = chosen, {}
    if name is None:
        if overrides:
            raise BadOverrideError(
                f"model {card.name!r} draws images directly and has no sampler to configure",
                hint=f"drop the sampler.* overrides ({', '.join('sampler.' + k for k in overrides)})",
            )
        return None, {}
    sampler_cls = SAMPLERS.get(name)
    config = apply_overrides(sampler_cls.Config(**_as_config_kwargs(settings)), overrides, scope=f"sampler {name!r}")
    try:
        sampler_cls(config)  # the sampler checks its own values (step counts, schedule names)
    except ValueError as error:
        raise BadOverrideError(f"sampler {name!r}: {error}", hint="fix the sampler.* override") from None
    return name, to_dict(config)


def _generate(model, labels: torch.Tensor, seeds: list[int], sampler, prompts: tuple, config: RunConfig):
    """One batch of images under the run's autocast precision (a no-op at float32)."""
    with autocast(labels.device, config.precision):
        return model.generate(labels, seeds, sampler, *prompts)


def execute(
    run: ResolvedRun,
    results: Path,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_shard_written: Callable[[int], None] | None = None,
) -> dict:
    """Run (or reuse) the resolved config; return its record."""
    paths = StorePaths(results)
    record_path = paths.record(run.config_hash)
    if record_path.is_file() and not force:
        log(f"reusing {record_path} (pass --force to recompute)")
        return read_record(record_path)
    if run.config.seeds > 1:
        return _execute_seeds(run, results, force, progress, log)
    if run.config.task == "linear-probe":
        return _execute_probe(run, record_path, progress, log)
    started = time.perf_counter()
    config, card = run.config, run.card
    device = config.device

    # Checks that can fail on input come first: weights, checksums, reference data.
    net: FeatureNet = FEATURE_NETS.get(run.feature_net_name)()
    extractor = net.build(device)
    model = MODELS.get(card.family)(card, resolve_assets(card)).to(device)
    if config.compile:
        model.compile_networks()
    sampler = None
    if run.sampler_name is not None:
        sampler_cls = SAMPLERS.get(run.sampler_name)
        sampler = sampler_cls(sampler_cls.Config(**_as_config_kwargs(run.sampler_config)))

    dataset = DATASETS.get(card.benchmark.dataset)(
        card.benchmark.reference_split, config.eval.reference_images, card.benchmark.resolution
    )
    identity = getattr(dataset, "identity", lambda: card.benchmark.dataset)()

    def reference_features():
        batches = (
            torch.stack([dataset[i][0] for i in range(lo, min(lo + config.eval.batch_size, len(dataset)))])
            for lo in range(0, len(dataset), config.eval.batch_size)
        )
        return extract(net, batches, len(dataset), device, progress, "reference features", extractor)

    # One process, or several under `accelerate launch` / torchrun: the main process fills the
    # reference cache first, each process samples and featurises the shards it owns, and the
    # main process gathers the features in shard order, scores them and writes the record.
    processes = PartialState(cpu=device == "cpu")  # cpu=True: gloo across CPU processes
    with processes.main_process_first():
        reference = reference_statistics(
            paths.cache, identity, run.feature_net_name, net, reference_features, config.eval.precision_recall_max
        )

    samples_dir = paths.samples(run.samples_hash)
    if force and samples_dir.exists() and processes.is_main_process:
        shutil.rmtree(samples_dir)
    processes.wait_for_everyone()
    prompts_for = prompt_source(card, config.num_samples) if getattr(model, "conditioning", None) == "text" else None
    shards = generate_shards(
        lambda labels, seeds, *prompts: _generate(model, labels.to(device), seeds, sampler, prompts, config),
        samples_dir, config.num_samples, model.num_classes, config.seed, config.shard_size, config.batch_size,
        progress and processes.is_main_process, on_shard_written, log,
        rank=processes.process_index, world_size=processes.num_processes, prompts_for=prompts_for,
    )
    owned = {k: shard_features(path, run.feature_net_name, net, functools.partial(
                 extract, net, iter_shard_images([path], config.eval.batch_size), None, device, False,
                 "sample features", extractor))
             for k, path in enumerate(shards) if k % processes.num_processes == processes.process_index}
    per_shard = _gather_shard_features(processes, owned)
    processes.wait_for_everyone()
    if not processes.is_main_process:
        processes.wait_for_everyone()  # the main process writes the record
        return read_record(record_path)
    labels, sampling_seconds = shard_labels_and_seconds(shards)
    generated = Features(np.concatenate([per_shard[k].features for k in range(len(shards))]),
                         np.concatenate([per_shard[k].logits for k in range(len(shards))]),
                         {key: np.concatenate([per_shard[k].extra[key] for k in range(len(shards))])
                          for key in per_shard[0].extra})
    prompts = shard_prompts(shards)
    inputs = MetricInputs(
        features=generated.features, logits=generated.logits,
        labels=labels if model.num_classes or (prompts is not None and (labels >= 0).all()) else None,
        reference_mu=reference.mu, reference_sigma=reference.sigma, reference_features=reference.features,
        prompts=prompts, colour_logits=generated.extra.get("colour_logits"), sample_shards=shards,
    )
    metrics: dict[str, dict] = {}
    for name in config.metrics:
        metric: Metric = METRICS.get(name)(config.eval)
        for key, value in metric.compute(inputs).items():
            metrics[key] = {"value": value, "num_samples": config.num_samples, "metric": name}
    record = {
        "schema_version": SCHEMA_VERSION,
        "config_hash": run.config_hash,
        "config": run.resolved,
        "card": card.name,
        "code": git_state(),
        "env": {**environment(device), "world_size": processes.num_processes},
        "inputs_hash": _inputs_hash(config, model.num_classes, reference.key),
        "reference": {
            "dataset": identity, "feature_net": run.feature_net_name, "stats_key": reference.key,
            "num_images": reference.num_images, "regime": card.benchmark.regime,
        },
        "metrics": metrics,
        "timing": {
            "images_per_s": config.num_samples / sampling_seconds if sampling_seconds > 0 else None,
            "sampling_s": sampling_seconds,
            "wall_s": time.perf_counter() - started,
        },
        "samples_hash": run.samples_hash,
        "samples_dir": str(samples_dir),
        "created_at": now_iso(),
    }
    atomic_write_json(record_path, record)
    log(f"wrote {record_path}")
    processes.wait_for_everyone()
    return record


def _execute_probe(run: ResolvedRun, record_path: Path, progress: bool, log: Callable[[str], None]) -> dict:
    """`task=linear-probe`: a probe on the model's frozen encoder and one on a randomly
    initialised twin, trained on the dataset's train split, scored on its test split."""
    from bench.probe import run_linear_probe
    from reimpl.models.base import RepresentationLearner

    config, card = run.config, run.card
    model = MODELS.get(card.family)(card, resolve_assets(card)).to(config.device)
    if not isinstance(model, RepresentationLearner):
        raise BadOverrideError(f"model {card.name!r} ({card.family}) has no encoder representation to probe",
                               hint="task=linear-probe needs a family whose model is a RepresentationLearner "
                                    "(reimpl/models/base.py), e.g. model=toy-mage")
    dataset = DATASETS.get(card.benchmark.dataset)
    train_set = dataset("train", config.probe.train_images, card.benchmark.resolution)
    test_set = dataset("test", config.probe.test_images, card.benchmark.resolution)
    metrics, timing = run_linear_probe(model, train_set, test_set, config.probe, progress)
    record = {
        "schema_version": SCHEMA_VERSION,
        "config_hash": run.config_hash,
        "config": run.resolved,
        "card": card.name,
        "task": "linear-probe",
        "code": git_state(),
        "env": environment(config.device),
        "reference": {"dataset": f"{_identity(train_set, card)} -> {_identity(test_set, card)}", "feature_net": "linear-probe",
                      "num_images": len(test_set), "regime": card.benchmark.regime},
        "metrics": {key: {"value": value, "num_samples": len(test_set), "metric": "linear-probe"}
                    for key, value in metrics.items()},
        "timing": {"images_per_s": None, "sampling_s": 0.0, **timing},
        "created_at": now_iso(),
    }
    atomic_write_json(record_path, record)
    log(f"wrote {record_path}")
    return record


def _identity(dataset: Any, card: ModelCard) -> str:
    return getattr(dataset, "identity", lambda: card.benchmark.dataset)()


def _execute_seeds(run: ResolvedRun, results: Path, force: bool, progress: bool, log: Callable[[str], None]) -> dict:
    """`seeds=N`: N independent single-seed runs (each its own, reusable record), combined
    into one record whose metrics are mean and sample std with every per-seed value kept."""
    seeds = [run.config.seed + k for k in range(run.config.seeds)]
    parts = []
    for seed in seeds:
        log(f"seed {seed} ({seeds.index(seed) + 1}/{len(seeds)})")
        single = resolve({**run.overrides, "seed": str(seed), "seeds": "1"})
        parts.append(execute(single, results, force=force, progress=progress, log=log))
    metrics = {}
    for key, entry in parts[0]["metrics"].items():
        values = [part["metrics"][key]["value"] for part in parts]
        metrics[key] = {**entry, "value": statistics.fmean(values), "std": statistics.stdev(values),
                        "per_seed": values, "seeds": seeds}
    speeds = [p["timing"]["images_per_s"] for p in parts if p["timing"]["images_per_s"]]
    record = {
        **{k: parts[0][k] for k in ("schema_version", "card", "code", "env", "reference")},
        "config_hash": run.config_hash,
        "config": run.resolved,
        "metrics": metrics,
        "timing": {"images_per_s": statistics.fmean(speeds) if speeds else None,
                   "sampling_s": sum(p["timing"]["sampling_s"] for p in parts),
                   "wall_s": sum(p["timing"]["wall_s"] for p in parts)},
        "seed_records": [p["config_hash"] for p in parts],
        "created_at": now_iso(),
    }
    path = StorePaths(results).record(run.config_hash)
    if PartialState().is_main_process:
        atomic_write_json(path, record)
        log(f"wrote {path}")
    return record


def _gather_shard_features(processes: Any, owned: dict[int, Features]) -> dict[int, Features]:
    """Every process's {shard index: features}, merged (all-gathered over gloo/NCCL)."""
    if processes.num_processes == 1:
        return owned
    from accelerate.utils import gather_object

    merged: dict[int, Features] = {}
    for part in gather_object([owned]):
        merged.update(part)
    return merged


def prompt_source(card: ModelCard, num_samples: int) -> Callable[[range], tuple[torch.Tensor, list[str]]]:
    """Sample i of a text model is prompted with caption i of the card's prompt split (its
    class, where the dataset has one, is stored as the sample's label)."""
    split = card.benchmark.prompt_split
    if not split:
        raise BadCardError(f"card {card.name!r} is text-conditioned but names no benchmark.prompt_split",
                           hint="add prompt_split (e.g. test) to the card's benchmark in checkpoints.yaml")
    dataset = DATASETS.get(card.benchmark.dataset)(split, num_samples, card.benchmark.resolution)
    if not hasattr(dataset, "caption"):
        raise BadCardError(f"dataset {card.benchmark.dataset!r} has no captions to prompt {card.name!r} with",
                           hint="prompt text models from a captioned dataset (toy-shapes)")
    label = getattr(dataset, "label", lambda index: -1)

    def prompts_for(indices: range) -> tuple[torch.Tensor, list[str]]:
        return torch.tensor([label(i) for i in indices], dtype=torch.long), [dataset.caption(i) for i in indices]

    return prompts_for


def resolve_assets(card: ModelCard) -> ModelAssets:
    """Local, checksum-verified (and, for official formats, converted) files of the card and
    of the tokenizer card it names."""
    files = {spec.role: local_weights(card.name, spec, card.architecture) for spec in card.files}
    if not card.tokenizer:
        return ModelAssets(files)
    tokenizer = get_tokenizer_card(card.tokenizer["checkpoint"])
    for spec in tokenizer.files:
        role = "tokenizer" if spec.role == "weights" else spec.role
        files[role] = local_weights(tokenizer.name, spec, tokenizer.architecture)
    return ModelAssets(files, tokenizer.family, tokenizer.architecture)


def _as_config_kwargs(settings: Mapping[str, Any]) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}


def _inputs_hash(config: RunConfig, num_classes: int | None, reference_key: str) -> str:
    blob = f"{config.seed}/{config.num_samples}/{num_classes}/{reference_key}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def format_table(record: dict, card: ModelCard | None = None) -> str:
    """A plain-text table of one record's metrics beside the card's published numbers."""
    published = {p.metric: p.value for p in (card.published if card else ())}
    rows = [("metric", "ours", "published", "n")]
    order = {key: i for i, key in enumerate(HIGHER_IS_BETTER)}
    for key, entry in sorted(record["metrics"].items(), key=lambda item: order.get(item[0], len(order))):
        ref = published.get(key)
        ours = f"{entry['value']:.4f}" + (f" ± {entry['std']:.4f} ({len(entry['per_seed'])} seeds)" if "std" in entry else "")
        rows.append((key, ours, f"{ref:.4f}" if ref is not None else "-", str(entry["num_samples"])))
    speed = record["timing"]["images_per_s"]
    rows.append(("images/s", f"{speed:.1f}" if speed else "-", "-", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{record['card']}  (record {record['config_hash']}, reference {record['reference']['dataset']}, "
             f"features {record['reference']['feature_net']})"]
    for j, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)

