"""Typed run configuration and `key.sub=value` overrides.

Override keys are exactly the dataclass field paths (`num_samples=2000`,
`eval.reference_images=5000`, `sampler.steps=8`), so the help text and the error
suggestions come from the dataclasses themselves. Values are parsed as YAML scalars or
lists (`metrics=[fid,is]`) and coerced to the field's type; unknown keys fail with the
valid ones listed. A CLI value always wins, `0` and `false` included.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import json
import types
import typing
from typing import Any, Literal, Mapping, get_args, get_origin

import yaml

from bench.errors import BadOverrideError
from reimpl.registry import did_you_mean

DEFAULT_METRICS = ("fid", "is", "precision-recall", "accuracy")


def field(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with a one-line help string (shown by `bench run --help`)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple or default_factory for mutable defaults")
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    reference_images: int = field(10_000, "real images behind the reference statistics")
    feature_net: str | None = field(None, "feature network; None takes the card's")
    batch_size: int = field(250, "images per feature-extraction batch")
    precision_recall_k: int = field(3, "k of the k-NN manifolds (Kynkaanniemi et al. 2019)")
    precision_recall_max: int = field(5_000, "at most this many samples per side enter precision/recall")
    is_splits: int = field(10, "splits for the Inception Score mean and std")
    fid_bootstrap: int = field(0, "bootstrap resamples for a 95% FID interval (0: none)")


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """`task=linear-probe` settings (bench/probe.py; LTH14/mage main_linprobe.py defaults)."""

    train_images: int = field(5_000, "labelled images the probe trains on (dataset train split)")
    test_images: int = field(2_000, "held-out images it is scored on (dataset test split)")
    epochs: int = field(90, "passes over the training features (main_linprobe.py: 90)")
    warmup_epochs: int = field(10, "linear warm-up epochs (main_linprobe.py: 10)")
    batch_size: int = field(256, "features per step")
    base_learning_rate: float = field(0.1, "blr; lr = blr x batch_size / 256 (main_linprobe.py: 0.1 for ViT-B)")
    feature_batch_size: int = field(250, "images per encoder forward")
    random_init_seed: int = field(0, "seed of the randomly initialised encoder the probe is compared with")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    model: str = field("toy-maskgit", "card name in checkpoints.yaml (see `python -m bench list`)")
    task: Literal["generate", "linear-probe"] = field(
        "generate", "generate: sample and score images; linear-probe: probe the model's encoder (MAGE)"
    )
    num_samples: int = field(2_000, "images to generate and score")
    seed: int = field(0, "run seed; image i is drawn from a seed derived from (seed, i)")
    seeds: int = field(1, "independent runs at seed, seed+1, ...; metrics report mean and std (alias metrics.seeds)")
    metrics: tuple[str, ...] = field(DEFAULT_METRICS, "metric names to compute")
    batch_size: int = field(100, "images per generation batch (does not change the images)")
    shard_size: int = field(500, "images per sample shard on disk (the unit of resuming)")
    device: Literal["auto", "cpu", "cuda"] = field("auto", "where to sample and extract features (auto: cuda when present)")
    precision: Literal["float32", "bfloat16", "float16"] = field(
        "float32", "autocast dtype of the network forwards while sampling (a GPU speed option)")
    compile: bool = field(False, "torch.compile the network forwards (a GPU speed option)")
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig, metadata={"help": "evaluation settings"})
    probe: ProbeConfig = dataclasses.field(default_factory=ProbeConfig, metadata={"help": "linear-probe settings"})
    sampler: Mapping[str, Any] = dataclasses.field(
        default_factory=dict, metadata={"help": "sampler overrides, checked against the sampler's own config"}
    )


# Fields that change how fast or where results are written, never what they are.
NON_SEMANTIC_KEYS = ("batch_size", "shard_size", "eval.batch_size", "probe.feature_batch_size")


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    type: Any  # the resolved annotation, not the string one
    help: str


def field_paths(cls: type, prefix: str = "") -> dict[str, FieldInfo]:
    """All leaf field paths of a (nested) config dataclass."""
    paths = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            paths.update(field_paths(hints[f.name], path + "."))
        elif get_origin(hints[f.name]) is not collections.abc.Mapping:  # mappings are filled key by key (sampler.*)
            paths[path] = FieldInfo(hints[f.name], f.metadata.get("help", ""))
    return paths


def parse_overrides(tokens: list[str]) -> dict[str, str]:
    """`['a.b=1', 'c=x']` -> {'a.b': '1', 'c': 'x'}; malformed tokens fail."""
    overrides: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key or any(ch.isspace() for ch in key):
            raise BadOverrideError(
                f"malformed override {token!r}",
                hint="write overrides as key=value with no spaces around '=', e.g. num_samples=2000 sampler.steps=8",
            )
        if key in overrides:
            raise BadOverrideError(f"override {key!r} given twice", hint="give each key once")
        overrides[key] = value
    return overrides


def coerce(value: str, target: Any, key: str) -> Any:
    """Parse a command-line string into `target` (a resolved type annotation)."""
    parsed = yaml.safe_load(value) if value != "" else ""
    origin, args = get_origin(target), get_args(target)
    if origin in (typing.Union, types.UnionType):
        if parsed is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, key)
            except BadOverrideError as error:
                errors.append(str(error))
        raise BadOverrideError(f"{key}={value!r}: {errors[0]}")
    if origin is Literal:
        if parsed not in args:
            raise BadOverrideError(
                f"{key}={value!r} is not allowed", hint=f"choose one of: {', '.join(map(str, args))}"
            )
        return parsed
    if origin in (tuple, list):
        items = parsed if isinstance(parsed, list) else [parsed]
        return tuple(coerce(str(item), args[0], key) for item in items)
    if target is bool:
        if isinstance(parsed, bool):
            return parsed
        raise BadOverrideError(f"{key}={value!r} is not a boolean", hint="use true or false")
    if target is int:
        if isinstance(parsed, int) and not isinstance(parsed, bool):
            return parsed
        raise BadOverrideError(f"{key}={value!r} is not an integer", hint=f"e.g. {key}=8")
    if target is float:
        if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            return float(parsed)
        raise BadOverrideError(f"{key}={value!r} is not a number", hint=f"e.g. {key}=4.5")
    if target is str:
        return value
    if target is typing.Any:
        return parsed
    raise BadOverrideError(f"{key}: cannot parse a value of type {target}")


def apply_overrides(config: Any, overrides: Mapping[str, str], scope: str = "") -> Any:
    """Return a copy of the dataclass `config` with dotted-path overrides applied."""
    paths = field_paths(type(config))
    for key, value in overrides.items():
        if key not in paths:
            valid = sorted(paths)
            raise BadOverrideError(
                f"unknown {scope + ' ' if scope else ''}key {key!r}{did_you_mean(key, valid)}",
                hint=f"valid keys: {', '.join(valid)}" + (", sampler.<field>" if "sampler" in paths_of_mappings(config) else ""),
            )
        config = _replace_path(config, key.split("."), coerce(value, paths[key].type, key))
    return config


def paths_of_mappings(config: Any) -> list[str]:
    hints = typing.get_type_hints(type(config))
    return [f.name for f in dataclasses.fields(config) if get_origin(hints[f.name]) is collections.abc.Mapping]


def _replace_path(config: Any, parts: list[str], value: Any) -> Any:
    if len(parts) == 1:
        return dataclasses.replace(config, **{parts[0]: value})
    child = getattr(config, parts[0])
    return dataclasses.replace(config, **{parts[0]: _replace_path(child, parts[1:], value)})


def to_dict(config: Any) -> Any:
    """Plain JSON-able data (tuples become lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in sorted(config.items())}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    return config


def config_hash(resolved: Mapping[str, Any]) -> str:
    """sha256 (first 16 hex) of the canonical JSON of a resolved config, minus the keys
    that never change results."""
    semantic = json.loads(json.dumps(resolved, sort_keys=True))
    for key in NON_SEMANTIC_KEYS:
        node = semantic.get("run", semantic)
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.get(parent, {})
        node.pop(leaf, None)
    blob = json.dumps(semantic, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def describe(cls: type = RunConfig) -> str:
    """One line per override key: path, default and help."""
    lines = []
    defaults = cls()
    for path, f in field_paths(cls).items():
        default: Any = defaults
        for part in path.split("."):
            default = getattr(default, part)
        lines.append(f"  {path:<28} {f.help} (default: {to_dict(default)})")
    return "\n".join(lines)
