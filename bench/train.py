"""`python -m bench train ...`: remake the artefacts the project commits.

    python -m bench train feature-net [epochs=3 ...]
    python -m bench train model=toy-vqgan [optim.steps=3000 ...]
    python -m bench train model=toy-maskgit [...]
    python -m bench train model=toy-mage [...]
    python -m bench train model=toy-kl / toy-emigm / toy-mar [...]

A card's `recipe` names the recipe and its settings; overrides change them for one run.
Weights go to the card's committed path (or --out) with a JSON report beside them; the
printed sha256 is what checkpoints.yaml must list to adopt them. An interrupted run (Ctrl-C,
SIGTERM, a crash) leaves `<out>.resume.pt`, refreshed every 5 minutes: the same command resumes
from it and ends with the weights an uninterrupted run gives; it is removed once the weights are
written.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from bench.checkpoints import REPO_ROOT, get_feature_net_card, load_all_cards, resolve_file, sha256_of
from bench.config import apply_overrides, field, to_dict
from bench.errors import BadOverrideError, UnknownNameError
from reimpl.recipes.snapshot import Snapshot
from reimpl.registry import did_you_mean


@dataclasses.dataclass(frozen=True)
class FeatureNetTrainConfig:
    train_images: int = field(24_000, "toy training images (drawn, never stored)")
    test_images: int = field(4_000, "held-out toy images per resolution for the accuracy report")
    epochs: int = field(3, "passes over the training images")
    batch_size: int = field(128, "images per step")
    learning_rate: float = field(3e-3, "peak AdamW learning rate of the one-cycle schedule")
    seed: int = field(0, "seed of the data draw, the initialisation and the batch order")


def _finish(target: Path, report: dict, expected_sha256: str | None, card_path: str) -> None:
    digest, size = sha256_of(target), target.stat().st_size
    report = {**report, "sha256": digest, "bytes": size}
    target.with_suffix(".json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {target} ({size} bytes, sha256 {digest})")
    if digest != expected_sha256:
        print(f"note: checkpoints.yaml lists sha256 {expected_sha256} for {card_path}; update its sha256 and bytes "
              "to adopt these weights")


def train_feature_net_command(overrides: Mapping[str, str], out: str | None, progress: bool) -> int:
    from safetensors.torch import save_file

    from bench.metrics.feature_net import NAME, train_feature_net

    config = apply_overrides(FeatureNetTrainConfig(), overrides, scope="train feature-net")
    net, metrics = train_feature_net(progress=progress, **dataclasses.asdict(config))
    spec = next(f for f in get_feature_net_card(NAME).files if f.role == "weights")
    target = Path(out) if out else REPO_ROOT / spec.path
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(temporary), metadata={"config": json.dumps(to_dict(config))})
    os.replace(temporary, target)
    print(f"held-out accuracy: {metrics['test_accuracy']:.4f} (32 px), {metrics['test_accuracy_64px']:.4f} (64 px); "
          f"colour accuracy {metrics['test_colour_accuracy']:.4f}")
    _finish(target, {"config": to_dict(config), "metrics": metrics}, spec.sha256, f"feature_nets.{NAME}")
    return 0


# ----------------------------------------------------------------------------------------
# Card recipes
# ----------------------------------------------------------------------------------------

def toy_image_pool(card: Any, num_images: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) training images of the card's benchmark dataset (toy train split)."""
    from bench.registry import DATASETS

    dataset = DATASETS.get(card.benchmark.dataset)("train", num_images, card.benchmark.resolution)
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def random_batches(pool: torch.Tensor, batch_size: int, seed: int, *extra: torch.Tensor) -> Iterator:
    generator = torch.Generator().manual_seed(seed)
    while True:
        picks = torch.randint(len(pool), (batch_size,), generator=generator)
        yield (pool[picks], *(e[picks] for e in extra)) if extra else pool[picks]


def _nested(config_cls: type, settings: Mapping[str, Any]) -> Any:
    """Build a (nested) recipe dataclass from a card's recipe mapping."""

    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            flat[prefix[:-1]] = json.dumps(value) if not isinstance(value, str) else value

    walk("", settings)
    return apply_overrides(config_cls(), flat, scope="recipe")


def train_vqgan_card(card: Any, settings: Mapping[str, Any], out: Path, progress: bool,
                     snapshot: Snapshot | None = None) -> dict:
    from reimpl.recipes.loop import save_checkpoint
    from reimpl.recipes.vqgan import VQTrainConfig, recipe_notes, train_vqgan
    from reimpl.tokenizers import TOKENIZERS

    settings = dict(settings)
    train_images = int(settings.pop("train_images", 20_000))
    config = _nested(VQTrainConfig, settings)
    torch.manual_seed(config.optim.seed)
    tokenizer = TOKENIZERS.get(card.family)(card.architecture)
    pool = toy_image_pool(card, train_images)
    batches = (b.float() / 255.0 for b in random_batches(pool, config.optim.batch_size, config.optim.seed))
    logged = train_vqgan(tokenizer, batches, config, progress, snapshot)
    save_checkpoint(out, tokenizer, tokenizer.config, {"recipe": to_dict(config)})
    return {"recipe": to_dict(config), "train_images": train_images, "final": logged, "notes": recipe_notes(config)}


def train_maskgit_card(card: Any, settings: Mapping[str, Any], out: Path, progress: bool,
                     snapshot: Snapshot | None = None) -> dict:
    from reimpl.models.maskgit import network_config
    from reimpl.networks.maskgit import MaskGitNetwork
    from reimpl.recipes.loop import save_checkpoint
    from reimpl.recipes.maskgit import MaskGitTrainConfig, train_maskgit

    settings = dict(settings)
    train_images = int(settings.pop("train_images", 20_000))
    config = _nested(MaskGitTrainConfig, settings)
    ids, labels, tokenizer_sha256 = _card_token_data(card, train_images)
    torch.manual_seed(config.optim.seed)
    network = MaskGitNetwork(network_config(card.architecture))
    batches = random_batches(ids, config.optim.batch_size, config.optim.seed, labels)
    logged = train_maskgit(network, batches, config, progress, snapshot)
    save_checkpoint(out, network, network.config, {"recipe": to_dict(config)})
    return {"recipe": to_dict(config), "train_images": train_images, "final": logged,
            "tokenizer_sha256": tokenizer_sha256}


def train_muse_card(card: Any, settings: Mapping[str, Any], out: Path, progress: bool,
                     snapshot: Snapshot | None = None) -> dict:
    """The text encoder and every stage of a toy MUSE cascade, trained together on the toy
    captions: the base stage on tokens of the images area-downsampled to its resolution, the
    super-res stage on full-resolution tokens given the base-resolution tokens."""
    from bench.registry import DATASETS
    from reimpl.models.muse import MuseCascade, downsample_images
    from reimpl.recipes.loop import save_checkpoint
    from reimpl.recipes.muse import MuseTrainConfig, train_muse

    settings = dict(settings)
    train_images = int(settings.pop("train_images", 20_000))
    config = _nested(MuseTrainConfig, settings)
    tokenizer, tokenizer_sha256 = _card_tokenizer(card)
    pool = toy_image_pool(card, train_images)
    dataset = DATASETS.get(card.benchmark.dataset)("train", train_images, card.benchmark.resolution)
    captions = [dataset.caption(i) for i in range(train_images)]
    torch.manual_seed(config.optim.seed)
    cascade = MuseCascade(card.architecture)

    def encode(images: torch.Tensor) -> torch.Tensor:  # uint8 (N, 3, H, W) -> (N, L) ids
        return torch.cat([tokenizer.encode(images[i : i + 500]).flatten(1) for i in range(0, len(images), 500)])

    base_ids = encode(downsample_images(pool, cascade.base.resolution))
    full_ids = encode(pool) if cascade.superres is not None else base_ids
    order = random_batches(torch.arange(train_images), config.optim.batch_size, config.optim.seed)
    batches = ({"texts": [captions[i] for i in picks.tolist()], "base": base_ids[picks], "superres": full_ids[picks],
                "lowres": base_ids[picks]} for picks in order)
    logged = train_muse(cascade, batches, config, progress, snapshot)
    save_checkpoint(out, cascade, config, {"recipe": to_dict(config)})
    return {"recipe": to_dict(config), "train_images": train_images, "final": logged,
            "tokenizer_sha256": tokenizer_sha256}


def train_mage_card(card: Any, settings: Mapping[str, Any], out: Path, progress: bool,
                     snapshot: Snapshot | None = None) -> dict:
    """MAGE pre-training on the frozen tokenizer's ids of the toy train split (no labels: the
    recipe is self-supervised)."""
    from reimpl.models.mage import network_config
    from reimpl.networks.mage import MageNetwork
    from reimpl.recipes.loop import save_checkpoint
    from reimpl.recipes.mage import MageTrainConfig, train_mage

    settings = dict(settings)
    train_images = int(settings.pop("train_images", 20_000))
    config = _nested(MageTrainConfig, settings)
    ids, _, tokenizer_sha256 = _card_token_data(card, train_images)  # no labels: self-supervised
    torch.manual_seed(config.optim.seed)
    network = MageNetwork(network_config(card.architecture))
    batches = random_batches(ids, config.optim.batch_size, config.optim.seed)
    logged = train_mage(network, batches, config, progress, snapshot)
    save_checkpoint(out, network, network.config, {"recipe": to_dict(config)})
    return {"recipe": to_dict(config), "train_images": train_images, "final": logged,
            "tokenizer_sha256": tokenizer_sha256}


def train_toast_card(card: Any, settings: Mapping[str, Any], out: Path, progress: bool,
                     snapshot: Snapshot | None = None) -> dict:
    """TOAST on the card's frozen base MaskGIT (its `transformer` file), on the toy train split."""
    from reimpl.models.maskgit import network_config
    from reimpl.models.unlockmgm import toast_config
    from reimpl.networks.maskgit import MaskGitNetwork
    from reimpl.networks.toast import ToastMaskGit
    from reimpl.recipes.loop import load_checkpoint, save_checkpoint
    from reimpl.recipes.toast import ToastTrainConfig, train_toast

    settings = dict(settings)
    train_images = int(settings.pop("train_images", 20_000))
    config = _nested(ToastTrainConfig, settings)
    ids, labels, tokenizer_sha256 = _card_token_data(card, train_images)
    base_spec = next(f for f in card.files if f.role == "transformer")
    base = MaskGitNetwork(network_config({k: v for k, v in card.architecture.items() if k != "toast"}))
    load_checkpoint(resolve_file(card.name, base_spec), base)
    torch.manual_seed(config.optim.seed)
    model = ToastMaskGit(base, toast_config(card.architecture))
    batches = random_batches(ids, config.optim.batch_size, config.optim.seed, labels)
    logged = train_toast(model, batches, config, progress, snapshot)
    save_checkpoint(out, model.toast, model.toast.config, {"recipe": to_dict(config)})
    return {"recipe": to_dict(config), "train_images": train_images, "final": logged,
            "tokenizer_sha256": tokenizer_sha256, "base_sha256": base_spec.sha256}


def train_kl_vae_card(card: Any, settings: Mapping[str, Any], out: Path, progress: bool,
                     snapshot: Snapshot | None = None) -> dict:
    """The KL autoencoder on the toy train split at scale 1; the measured latent scale is reported
    for the card's `architecture.scale_factor`."""
    from reimpl.recipes.kl_vae import KLTrainConfig, latent_std, recipe_notes, train_kl_vae
    from reimpl.recipes.loop import save_checkpoint
    from reimpl.tokenizers import TOKENIZERS

    settings = dict(settings)
    train_images = int(settings.pop("train_images", 20_000))
    config = _nested(KLTrainConfig, settings)
    torch.manual_seed(config.optim.seed)
    tokenizer = TOKENIZERS.get(card.family)({**card.architecture, "scale_factor": 1.0})
    pool = toy_image_pool(card, train_images)
    batches = (b.float() / 255.0 for b in random_batches(pool, config.optim.batch_size, config.optim.seed))
    logged = train_kl_vae(tokenizer, batches, config, progress, snapshot)
    std = latent_std(tokenizer, pool[:4000])
    save_checkpoint(out, tokenizer, tokenizer.config, {"recipe": to_dict(config)})
    print(f"latent std {std:.4f}: set architecture.scale_factor: {1 / std:.4f} on card {card.name}")
    return {"recipe": to_dict(config), "train_images": train_images, "final": logged, "notes": recipe_notes(config),
            "latent_std": std, "scale_factor": 1 / std}


def train_mar_card(card: Any, settings: Mapping[str, Any], out: Path, progress: bool,
                     snapshot: Snapshot | None = None) -> dict:
    """MAR / eMIGM on cached KL moments of the toy train split and of its horizontal flips (the
    `main_cache.py` cache, drawn at random per image as `CachedFolder` does)."""
    from reimpl.models.mar import network_config
    from reimpl.networks.mar import MarNetwork
    from reimpl.recipes.loop import save_checkpoint
    from reimpl.recipes.mar import MarTrainConfig, train_mar

    settings = dict(settings)
    train_images = int(settings.pop("train_images", 20_000))
    config = _nested(MarTrainConfig, settings)
    tokenizer, tokenizer_sha256 = _card_tokenizer(card)
    pool = toy_image_pool(card, train_images)
    labels = torch.tensor([i % (card.num_classes or 1) for i in range(train_images)])
    with torch.no_grad():
        moments = torch.cat([tokenizer.moments(pool[i : i + 500]) for i in range(0, len(pool), 500)])
        flipped = torch.cat([tokenizer.moments(pool[i : i + 500].flip(-1)) for i in range(0, len(pool), 500)])

    def batches() -> Iterator:
        generator = torch.Generator().manual_seed(config.optim.seed + 1)
        for picks, picked_labels in random_batches(torch.arange(train_images), config.optim.batch_size,
                                                   config.optim.seed, labels):
            flip = (torch.rand(len(picks), generator=generator) < 0.5)[:, None, None, None]
            yield torch.where(flip, flipped[picks], moments[picks]), picked_labels

    torch.manual_seed(config.optim.seed)
    network = MarNetwork(network_config(card.architecture))
    logged = train_mar(network, batches(), config, tokenizer.config.scale_factor, progress, snapshot)
    save_checkpoint(out, network, network.config, {"recipe": to_dict(config)})
    return {"recipe": to_dict(config), "train_images": train_images, "final": logged,
            "tokenizer_sha256": tokenizer_sha256}


def _card_token_data(card: Any, train_images: int) -> tuple[torch.Tensor, torch.Tensor, str | None]:
    """(token ids (N, L), labels (N,), tokenizer sha256): the card's toy train split through its
    trained tokenizer; toy image i has class i mod K."""
    tokenizer, tokenizer_sha256 = _card_tokenizer(card)
    pool = toy_image_pool(card, train_images)
    labels = torch.tensor([i % (card.num_classes or 1) for i in range(train_images)])
    ids = torch.cat([tokenizer.encode(pool[i : i + 500]).flatten(1) for i in range(0, len(pool), 500)])
    return ids, labels, tokenizer_sha256


def _card_tokenizer(card: Any) -> tuple[torch.nn.Module, str | None]:
    """The trained tokenizer a card's stage-2 recipe encodes its images with, and its sha256."""
    from bench.checkpoints import get_tokenizer_card
    from reimpl.recipes.loop import load_checkpoint
    from reimpl.tokenizers import TOKENIZERS

    tokenizer_card = get_tokenizer_card(card.tokenizer["checkpoint"])
    tokenizer = TOKENIZERS.get(tokenizer_card.family)(tokenizer_card.architecture)
    weights = next(f for f in tokenizer_card.files if f.role == "weights")
    load_checkpoint(resolve_file(tokenizer_card.name, weights), tokenizer)
    return tokenizer, weights.sha256


CARD_RECIPES: dict[str, Callable[[Any, Mapping[str, Any], Path, bool, Snapshot | None], dict]] = {
    "vqgan": train_vqgan_card,
    "maskgit": train_maskgit_card,
    "muse": train_muse_card,
    "mage": train_mage_card,
    "toast": train_toast_card,
    "kl-vae": train_kl_vae_card,
    "mar": train_mar_card,
}


def train_card_command(overrides: Mapping[str, str], out: str | None, progress: bool) -> int:
    from bench.registry import load_all

    load_all()
    overrides = dict(overrides)
    name = overrides.pop("model")
    sections = load_all_cards()
    cards = {**sections["models"], **sections["tokenizers"]}
    if name not in cards:
        raise UnknownNameError(f"unknown card {name!r}{did_you_mean(name, sorted(cards))}",
                               hint=f"trainable cards: {', '.join(n for n, c in sorted(cards.items()) if getattr(c, 'recipe', None))}")
    card = cards[name]
    if not card.recipe:
        raise BadOverrideError(f"card {name!r} has no training recipe", hint="train a card whose status is trained-here")
    settings = dict(card.recipe)
    recipe = settings.pop("name")
    for key, value in overrides.items():  # dotted overrides land in the nested settings
        node = settings
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    # A recipe that trains on top of another card's weights names the file it writes (`output_role`).
    output_role = settings.pop("output_role", None)
    spec = next(f for f in card.files if (f.role == output_role if output_role else
                                          f.role in ("weights", "tokenizer", "transformer")))
    target = Path(out) if out else REPO_ROOT / spec.path
    fingerprint = json.dumps({"card": name, "recipe": recipe, "settings": settings}, sort_keys=True, default=str)
    snapshot = Snapshot(target.with_name(f"{target.name}.resume.pt"), fingerprint)
    report = CARD_RECIPES[recipe](card, settings, target, progress, snapshot)
    _finish(target, {"card": name, **report}, spec.sha256, name)
    snapshot.path.unlink(missing_ok=True)
    return 0


TRAIN_TARGETS: dict[str, Callable[[Mapping[str, str], str | None, bool], int]] = {
    "feature-net": train_feature_net_command,
}
