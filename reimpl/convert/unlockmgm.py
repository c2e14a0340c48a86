"""Released UnlockMGM weights -> (MaskGIT transformer, TOAST) state dicts.

`UnlockMGM_imagenet_{256,512}.zip` unpacks to `.../checkpoint-50000/ema_model`, the folder that
`EMAModel.save_pretrained` writes (JiwanHur/UnlockMGM `muse/modeling_ema.py` through open-muse's
`ModelMixin.save_pretrained`, `muse/modeling_utils.py`: WEIGHTS_NAME = `pytorch_model.bin`, with
`config.json` holding the model's config plus the EMA's counters) for open-muse's
`MaskGitTransformerTOAST`; beside it, `checkpoint-50000/pytorch_model.bin` is accelerate's copy of
the raw (non-EMA) weights, which the evaluation scripts do not load and this reader never picks.
diffusers-style names (`diffusion_pytorch_model.bin` / `.safetensors`) are read too. The model (`muse/modeling_transformer_toast.py`; configs
`ft_{256,512}_toast_cls_b256_corr.yaml`: layer_norm_embeddings, use_maskgit_mlp, use_bias, no
encoder LayerNorm). Its MaskGIT part is the official JAX checkpoint as open-muse converted it,
with the MLM output matrix stored as `mlm_layer.to_logits.weight`: that is the tied word-embedding
matrix in the JAX model, so it must equal `embed.word_embeddings.weight` and is checked, not kept.
The TOAST keys keep their official names.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Mapping

import torch

from reimpl.convert.common import KeyConsumer, take_expected
from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork
from reimpl.networks.toast import Toast, ToastConfig, toast_classes

WEIGHT_FILES = ("pytorch_model.bin", "pytorch_model.safetensors",
                "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
CONFIG_FILE = "config.json"
# open-muse config.json key -> the MaskGitConfig value it must equal
CONFIG_CHECKS = {
    "hidden_size": lambda c: c.width, "num_hidden_layers": lambda c: c.depth,
    "num_attention_heads": lambda c: c.heads, "intermediate_size": lambda c: c.mlp_width,
    "vocab_size": lambda c: c.vocab_size, "num_vq_tokens": lambda c: c.num_tokens,
}


def open_muse_to_maskgit_name(key: str) -> str:
    """open-muse MaskGitTransformer key -> MaskGitNetwork key."""
    renames = [
        ("embed.word_embeddings.", "word_embeddings."), ("embed.position_embeddings.", "position_embeddings."),
        ("embed.embeddings_ln.", "embedding_norm."), ("mlm_layer.mlm_dense.", "head_dense."),
        ("mlm_layer.mlm_ln.", "head_norm."), ("mlm_layer.to_logits.bias", "head_bias"),
    ]
    for old, new in renames:
        if key.startswith(old):
            return new + key[len(old):]
    if key.startswith("transformer_layers."):
        _, index, rest = key.split(".", 2)
        rest = (rest.replace("attn_layer_norm.", "attention_norm.").replace("ffn.intermediate_output.", "intermediate.")
                .replace("ffn.layer_output.", "output.").replace("ffn.layer_norm.", "mlp_norm."))
        return f"layers.{index}.{rest}"
    return key


def convert_unlockmgm(state: Mapping[str, torch.Tensor], config: MaskGitConfig,
                      toast_config: ToastConfig = ToastConfig()) -> tuple[dict, dict]:
    """(MaskGitNetwork state dict, Toast state dict); every source key used or checked."""
    keys = KeyConsumer(state)
    with torch.device("meta"):
        expected_toast = Toast(toast_classes(config), config.width, config.depth, toast_config).state_dict()
    toast = take_expected(keys, expected_toast)
    tied = keys.pop("mlm_layer.to_logits.weight")
    renamed = KeyConsumer({open_muse_to_maskgit_name(k): v for k, v in keys.remaining.items()})
    keys.remaining.clear()
    with torch.device("meta"):
        expected = MaskGitNetwork(config).state_dict()
    network = take_expected(renamed, expected)
    renamed.finish()
    keys.finish()
    if not torch.equal(tied.float(), network["word_embeddings.weight"]):
        raise ValueError("mlm_layer.to_logits.weight differs from embed.word_embeddings.weight: this is not an "
                         "open-muse conversion of the tied JAX MaskGIT head (was the head fine-tuned?)")
    return network, toast


def read_release(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(EMA state dict, its config.json or None) from the release zip, an unpacked `ema_model`
    folder, or the weight file itself."""
    path = Path(path)
    if path.is_dir():
        for name in WEIGHT_FILES:
            if (path / name).is_file():
                return read_release(path / name)
        raise FileNotFoundError(f"{path} holds none of {WEIGHT_FILES}")
    if path.name.endswith(WEIGHT_FILES):  # before the zip test: torch.save files are zip archives too
        config = path.with_name(CONFIG_FILE)
        return _load_bytes(path.read_bytes(), path.name), json.loads(config.read_text()) if config.is_file() else None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            weights = [m for name in WEIGHT_FILES for m in names if m.endswith("ema_model/" + name)]
            if not weights:
                raise FileNotFoundError(f"{path} has no ema_model/ with one of {WEIGHT_FILES}")
            config = weights[0].rsplit("/", 1)[0] + "/" + CONFIG_FILE
            return (_load_bytes(archive.read(weights[0]), weights[0]),
                    json.loads(archive.read(config)) if config in names else None)
    return _load_bytes(path.read_bytes(), path.name), None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The EMA weights alone (see `read_release`)."""
    return read_release(path)[0]


def check_release_config(release: Mapping | None, config: MaskGitConfig) -> None:
    """Refuse a release whose config.json describes another architecture than the card's."""
    if release is None:
        return
    wrong = [f"{key}={release[key]} (card: {expected(config)})" for key, expected in CONFIG_CHECKS.items()
             if key in release and release[key] != expected(config)]
    if wrong:
        raise ValueError(f"the checkpoint's config.json does not match the card's architecture: {', '.join(wrong)}; "
                         "is this the 512 release under a 256 card (or the reverse)?")


def _load_bytes(blob: bytes, name: str) -> dict[str, torch.Tensor]:
    if name.endswith(".safetensors"):
        from safetensors.torch import load as load_safetensors

        return load_safetensors(blob)
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
