"""checkpoints.yaml -> typed cards; local file resolution, sha256 checks, downloads.

Code is registered, cards are data: a model card names its family (a registered builder)
and carries everything needed to rebuild the model and judge its numbers. The loader
rejects unknown fields, so a typo in the YAML fails at start-up, not mid-run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import typing
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

import yaml

from bench.errors import BadCardError, ChecksumMismatchError, MissingWeightsError, UnknownNameError
from reimpl.registry import did_you_mean

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR_ENV = "MGM_CACHE_DIR"


def checkpoints_yaml() -> Path:
    """The card file: $MGM_CHECKPOINTS_YAML, else checkpoints.yaml at the repository root."""
    return Path(os.environ.get("MGM_CHECKPOINTS_YAML", REPO_ROOT / "checkpoints.yaml"))


def cache_dir() -> Path:
    """Where downloads land: $MGM_CACHE_DIR, else ~/.cache/mgm-bench."""
    return Path(os.environ.get(CACHE_DIR_ENV, Path.home() / ".cache" / "mgm-bench"))


@dataclasses.dataclass(frozen=True)
class FileSpec:
    role: str  # weights | transformer | tokenizer | ema | reference-stats
    format: str  # safetensors | torch | jax-msgpack | diffusers | npz
    path: str | None = None  # repo-relative, for artefacts the project made and committed
    url: str | None = None
    filename: str | None = None
    sha256: str | None = None  # of the file as downloaded / committed
    bytes: int | None = None
    converter: str | None = None
    env: str | None = None  # env var that may point at a local copy
    note: str | None = None

    @property
    def name(self) -> str:
        return self.filename or Path(self.path or self.url or self.role).name


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """What a card's numbers are measured against: the metric's identity."""

    dataset: str
    resolution: int
    feature_net: str
    reference_split: str = "reference"
    regime: str | None = None  # e.g. 'adm-virtual-imagenet256' for real benchmarks
    resize: str | None = None
    stats_sha256: str | None = None
    prompt_split: str | None = None  # text models: the dataset split whose captions are the prompts
    metrics: tuple[str, ...] = ()  # the card's default metric set (empty: the suite's default)


@dataclasses.dataclass(frozen=True)
class Published:
    metric: str
    value: float
    source: str
    num_samples: int | None = None
    reference: str | None = None
    sampler_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    description: str
    status: str  # builtin | trained-here | converted | unavailable-offline
    benchmark: Benchmark
    num_classes: int | None = None
    architecture: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tokenizer: Mapping[str, Any] | None = None
    files: tuple[FileSpec, ...] = ()
    sampler: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    published: tuple[Published, ...] = ()
    tolerance: Mapping[str, float] = dataclasses.field(default_factory=dict)
    paper: Mapping[str, Any] | None = None
    official: Mapping[str, Any] | None = None
    recipe: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    remake: str | None = None
    quirks: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class TokenizerCard:
    name: str
    family: str  # registered in reimpl.tokenizers.TOKENIZERS
    description: str
    status: str
    benchmark: Benchmark
    architecture: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    files: tuple[FileSpec, ...] = ()
    recipe: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    published: tuple[Published, ...] = ()
    paper: Mapping[str, Any] | None = None
    official: Mapping[str, Any] | None = None
    remake: str | None = None
    quirks: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class FeatureNetCard:
    name: str
    description: str
    status: str
    files: tuple[FileSpec, ...] = ()
    remake: str | None = None
    published: tuple[Published, ...] = ()
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class UnreleasedCard:
    """Published results of a model whose weights were never released (MUSE): kept beside
    the runnable cards so reports can set reproductions of its recipe next to them."""

    name: str
    family: str
    description: str
    published: tuple[Published, ...] = ()
    paper: Mapping[str, Any] | None = None
    official: Mapping[str, Any] | None = None
    note: str | None = None


STATUSES = ("builtin", "trained-here", "converted", "unavailable-offline")


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate a card dataclass from YAML data, rejecting unknown or missing fields."""
    if not isinstance(data, Mapping):
        raise BadCardError(f"{where}: expected a mapping, got {type(data).__name__}", hint=f"fix {checkpoints_yaml()}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise BadCardError(
            f"{where}: unknown field {unknown[0]!r}{did_you_mean(unknown[0], names)}",
            hint=f"valid fields: {', '.join(names)} (edit {checkpoints_yaml().name})",
        )
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if hint is Benchmark:
            value = _build(Benchmark, value, f"{where}.{name}")
        elif typing.get_origin(hint) is tuple and typing.get_args(hint)[0] in (FileSpec, Published):
            item_cls = typing.get_args(hint)[0]
            value = tuple(_build(item_cls, item, f"{where}.{name}[{i}]") for i, item in enumerate(value or ()))
        elif typing.get_origin(hint) is tuple:
            value = tuple(value or ())
        values[name] = value
    try:
        card = cls(**values)
    except TypeError as error:
        raise BadCardError(f"{where}: {error}", hint=f"fix {checkpoints_yaml().name}") from None
    status = getattr(card, "status", None)
    if status is not None and status not in STATUSES:
        raise BadCardError(f"{where}: status {status!r} is not one of {STATUSES}", hint="fix the card")
    return card


def load_cards() -> tuple[dict[str, ModelCard], dict[str, FeatureNetCard]]:
    """Parse and validate the whole card file: (model cards, feature-net cards)."""
    cards = load_all_cards()
    return cards["models"], cards["feature_nets"]


def load_all_cards() -> dict[str, dict[str, Any]]:
    """Every section of the card file: models, tokenizers, feature_nets, unreleased."""
    path = checkpoints_yaml()
    stat = path.stat() if path.is_file() else None
    return _load_cards(path, stat.st_mtime_ns if stat else None)


SECTIONS = {"models": ModelCard, "tokenizers": TokenizerCard, "feature_nets": FeatureNetCard,
            "unreleased": UnreleasedCard}


@functools.lru_cache(maxsize=4)
def _load_cards(path: Path, mtime_ns: int | None) -> dict[str, dict[str, Any]]:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise BadCardError(f"cannot read {path}: {error}", hint="restore checkpoints.yaml from git") from None
    allowed = {"schema_version", *SECTIONS}
    if not isinstance(raw, dict) or set(raw) - allowed:
        raise BadCardError(f"{path}: top level must hold only {sorted(allowed)}", hint="fix checkpoints.yaml")
    return {
        section: {
            name: _build(cls, {"name": name, **body}, f"{section}.{name}") for name, body in (raw.get(section) or {}).items()
        }
        for section, cls in SECTIONS.items()
    }


def _lookup(section: str, kind: str, name: str) -> Any:
    cards = load_all_cards()[section]
    if name not in cards:
        raise UnknownNameError(
            f"unknown {kind} {name!r}{did_you_mean(name, sorted(cards))}",
            hint=f"choose one of: {', '.join(sorted(cards))} (cards live in {checkpoints_yaml().name})",
        )
    return cards[name]


def get_card(name: str) -> ModelCard:
    return _lookup("models", "model", name)


def get_tokenizer_card(name: str) -> TokenizerCard:
    return _lookup("tokenizers", "tokenizer", name)


def get_feature_net_card(name: str) -> FeatureNetCard:
    return _lookup("feature_nets", "feature network", name)


# ----------------------------------------------------------------------------------------
# Files: resolve, verify, download
# ----------------------------------------------------------------------------------------

def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str | None, what: str) -> str:
    """Hash `path`; fail with a fix when `expected` is set and differs. Returns the hash."""
    actual = sha256_of(path)
    if expected and actual != expected:
        raise ChecksumMismatchError(
            f"{what}: {path} has sha256 {actual}, but checkpoints.yaml expects {expected}",
            hint="the file is corrupt, truncated or a different checkpoint: delete it and download it again "
            "(or remake it with the card's `remake` command and update the sha256 in checkpoints.yaml)",
        )
    return actual


def resolve_file(card_name: str, spec: FileSpec) -> Path:
    """Find a card's file locally (env var, committed path, download cache) and verify it."""
    candidates = []
    if spec.env and os.environ.get(spec.env):
        candidates.append(Path(os.environ[spec.env]))
    if spec.path:
        candidates.append(REPO_ROOT / spec.path)
    candidates.append(cache_dir() / spec.name)
    for candidate in candidates:
        if candidate.is_file():
            verify_sha256(candidate, spec.sha256, f"{card_name} ({spec.role})")
            return candidate
    raise MissingWeightsError(missing_message(card_name, spec, candidates), hint=missing_hint(card_name, spec))


def missing_message(card_name: str, spec: FileSpec, looked_in: list[Path]) -> str:
    return f"{card_name}: {spec.role} file {spec.name} is not on this machine (looked in: {', '.join(map(str, looked_in))})"


def needs_browser(url: str | None) -> bool:
    """Google Drive share links answer plain HTTP with an HTML viewer page, not the file."""
    return bool(url) and "drive.google.com" in url


def missing_hint(card_name: str, spec: FileSpec) -> str:
    steps = []
    if needs_browser(spec.url):
        steps.append(f"download {spec.url} in a browser (or with `gdown`)")
    elif spec.url:
        steps.append(f"download {spec.url} with `python -m bench download {card_name}` (needs internet)")
    if spec.env:
        steps.append(f"or set {spec.env}=/path/to/{spec.name}")
    steps.append(f"or copy it into {cache_dir()} (set {CACHE_DIR_ENV} to move that folder)")
    if spec.path:
        steps.append(f"or restore {spec.path} from git")
    return "; ".join(steps)


def download(card_name: str, spec: FileSpec, progress: bool = True) -> Path:
    """Resumable HTTP download into the cache (Range requests on a .part file), then sha256."""
    from tqdm import tqdm

    if not spec.url:
        raise MissingWeightsError(f"{card_name}: {spec.role} has no download URL", hint=missing_hint(card_name, spec))
    if needs_browser(spec.url):
        raise MissingWeightsError(f"{card_name}: {spec.url} is a Google Drive share link, which plain HTTP cannot fetch",
                                  hint=missing_hint(card_name, spec))
    target = cache_dir() / spec.name
    if target.is_file():
        verify_sha256(target, spec.sha256, f"{card_name} ({spec.role})")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(spec.url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except (urllib.error.URLError, OSError) as error:
        raise MissingWeightsError(
            f"{card_name}: could not download {spec.url} ({error})", hint=missing_hint(card_name, spec)
        ) from None
    if offset and response.status != 206:  # server ignored the range: start over
        offset = 0
    total = int(response.headers.get("Content-Length", 0)) + offset or None
    with response, open(partial, "ab" if offset else "wb") as out, tqdm(
        total=total, initial=offset, unit="B", unit_scale=True, desc=spec.name, disable=not progress
    ) as bar:
        while block := response.read(1 << 20):
            out.write(block)
            bar.update(len(block))
    verify_sha256(partial, spec.sha256, f"{card_name} ({spec.role})")
    os.replace(partial, target)
    return target


def load_feature_net_weights(name: str, override_path: str | None = None) -> dict:
    """State dict of a project-trained feature network, verified against its card."""
    from safetensors.torch import load_file

    card = get_feature_net_card(name)
    spec = next(f for f in card.files if f.role == "weights")
    if override_path:
        return load_file(str(override_path))
    return load_file(str(resolve_file(name, spec)))
