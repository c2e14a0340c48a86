"""Released UnlockMGM weights -> (MaskGIT transformer, TOAST) state dicts.

`UnlockMGM_imagenet_{256,512}.zip` unpacks to `.../checkpoint-50000/ema_model`, a diffusers
`ModelMixin` folder (config.json + `diffusion_pytorch_model.bin` or `.safetensors`) of open-muse's
`MaskGitTransformerTOAST` (JiwanHur/UnlockMGM `muse/modeling_transformer_toast.py`; configs
`ft_{256,512}_toast_cls_b256_corr.yaml`: layer_norm_embeddings, use_maskgit_mlp, use_bias, no
encoder LayerNorm). Its MaskGIT part is the official JAX checkpoint as open-muse converted it,
with the MLM output matrix stored as `mlm_layer.to_logits.weight`: that is the tied word-embedding
matrix in the JAX model, so it must equal `embed.word_embeddings.weight` and is checked, not kept.
The TOAST keys keep their official names.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Mapping

import torch

from reimpl.convert.common import KeyConsumer, take_expected
from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork
from reimpl.networks.toast import Toast, ToastConfig, toast_classes

WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


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


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The EMA weights from the release zip, an unpacked `ema_model` folder, or the weight file."""
    path = Path(path)
    if path.is_dir():
        for name in WEIGHT_FILES:
            if (path / name).is_file():
                return read_state_dict(path / name)
        raise FileNotFoundError(f"{path} holds none of {WEIGHT_FILES}")
    if path.name.endswith(WEIGHT_FILES):  # before the zip test: torch.save files are zip archives too
        return _load_bytes(path.read_bytes(), path.name)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if "ema_model/" in m and m.endswith(WEIGHT_FILES)]
            if not members:
                raise FileNotFoundError(f"{path} has no ema_model/{{{','.join(WEIGHT_FILES)}}}")
            return _load_bytes(archive.read(members[0]), members[0])
    return _load_bytes(path.read_bytes(), path.name)


def _load_bytes(blob: bytes, name: str) -> dict[str, torch.Tensor]:
    if name.endswith(".safetensors"):
        from safetensors.torch import load as load_safetensors

        return load_safetensors(blob)
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
