"""Official JAX MaskGIT checkpoints (google-research/maskgit; Flax msgpack, `{'params': ...}`)
-> this package's VQGANTokenizer and MaskGitNetwork state dicts.

Key map and tensor layouts follow ../shared/spec/maskgit.md §1.2 and §2 (checked against
the parameter listings of the hmorimitsu/maskgit-torch conversion notebooks and open-muse's
scripts/convert_maskgit_vqgan.py): conv kernels HWIO -> OIHW, Dense kernels transposed,
LayerNorm/GroupNorm `scale` -> `weight`, attention kernels (D, heads, head_dim) folded to
(D, D). Flax names modules by creation order, so indices are parsed, never sorted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from reimpl.convert.common import KeyConsumer, conv_kernel, dense_kernel, flatten, to_tensor
from reimpl.convert.flax_msgpack import read_flax_msgpack
from reimpl.networks.maskgit import MaskGitConfig
from reimpl.tokenizers.vqgan import VQGANConfig


def _params(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    tree = read_flax_msgpack(source) if isinstance(source, (str, Path)) else source
    tree = tree.get("params", tree)
    return flatten(tree)


def _norm(keys: KeyConsumer, src: str, dst: str, out: dict) -> None:
    out[f"{dst}.weight"] = to_tensor(keys.pop(f"{src}.scale"))
    out[f"{dst}.bias"] = to_tensor(keys.pop(f"{src}.bias"))


def _conv(keys: KeyConsumer, src: str, dst: str, out: dict, bias: bool) -> None:
    out[f"{dst}.weight"] = conv_kernel(keys.pop(f"{src}.kernel"))
    if bias:
        out[f"{dst}.bias"] = to_tensor(keys.pop(f"{src}.bias"))


def _resblock(keys: KeyConsumer, src: str, dst: str, out: dict) -> None:
    _norm(keys, f"{src}.GroupNorm_0", f"{dst}.norm1", out)
    _conv(keys, f"{src}.Conv_0", f"{dst}.conv1", out, bias=False)
    _norm(keys, f"{src}.GroupNorm_1", f"{dst}.norm2", out)
    _conv(keys, f"{src}.Conv_1", f"{dst}.conv2", out, bias=False)
    if keys.has(f"{src}.Conv_2.kernel"):
        _conv(keys, f"{src}.Conv_2", f"{dst}.nin_shortcut", out, bias=False)


def convert_maskgit_jax_tokenizer(source, config: VQGANConfig = VQGANConfig()) -> dict:
    """Official `tokenizer_imagenet{256,512}_checkpoint` -> VQGANTokenizer state dict."""
    keys = KeyConsumer(_params(source))
    out: dict = {}
    levels, blocks = len(config.channel_multipliers), config.num_res_blocks
    _conv(keys, "encoder.Conv_0", "encoder.conv_in", out, bias=False)
    for k in range(levels * blocks):
        _resblock(keys, f"encoder.ResBlock_{k}", f"encoder.down.{k // blocks}.block.{k % blocks}", out)
    for j in range(blocks):
        _resblock(keys, f"encoder.ResBlock_{levels * blocks + j}", f"encoder.mid.{j}", out)
    _norm(keys, "encoder.GroupNorm_0", "encoder.norm_out", out)
    _conv(keys, "encoder.Conv_1", "encoder.conv_out", out, bias=True)

    _conv(keys, "decoder.Conv_0", "decoder.conv_in", out, bias=True)
    for j in range(blocks):
        _resblock(keys, f"decoder.ResBlock_{j}", f"decoder.mid.{j}", out)
    for k in range(levels * blocks):  # coarsest level first
        level = levels - 1 - k // blocks
        _resblock(keys, f"decoder.ResBlock_{blocks + k}", f"decoder.up.{level}.block.{k % blocks}", out)
    for i in range(1, levels):  # Conv_1.. are the upsampling convs of levels L-1 .. 1
        _conv(keys, f"decoder.Conv_{i}", f"decoder.up.{levels - i}.upsample_conv", out, bias=True)
    _conv(keys, f"decoder.Conv_{levels}", "decoder.conv_out", out, bias=True)
    _norm(keys, "decoder.GroupNorm_0", "decoder.norm_out", out)
    out["quantize.embedding.weight"] = to_tensor(keys.pop("quantizer.codebook"))
    keys.finish()
    return out


def _attention_kernel(kernel: Any, is_output: bool) -> Any:
    """q/k/v (D, heads, head_dim) or out (heads, head_dim, D) -> torch Linear weight (out, in)."""
    kernel = np.asarray(kernel)
    if is_output:
        return dense_kernel(kernel.reshape(-1, kernel.shape[-1]))  # (h*hd, D): in = heads x head_dim
    return dense_kernel(kernel.reshape(kernel.shape[0], -1))  # (D, h*hd)


def infer_transformer_config(params: Mapping[str, Any], **overrides: Any) -> MaskGitConfig:
    """Read sizes from the tensors (the head count from the (D, heads, head_dim) kernels,
    since the paper's '8 heads' disagrees with the released checkpoint's 16)."""
    words = np.asarray(params["Embed_0.word_embeddings.embedding"]).shape
    positions = np.asarray(params["Embed_0.position_embeddings.embedding"]).shape
    query = np.asarray(params["TransformerLayer_0.Attention_0.self_attention.query.kernel"]).shape
    mlp = np.asarray(params["TransformerLayer_0.Mlp_0.intermediate_output.kernel"]).shape
    depth = len({k.split(".")[0] for k in params if k.startswith("TransformerLayer_")})
    fields = dict(
        width=words[1], num_tokens=positions[0] - 1, heads=query[1], mlp_width=mlp[1], depth=depth,
    )
    fields.update(overrides)
    config = MaskGitConfig(**fields)
    if config.vocab_size != words[0]:
        raise ValueError(f"vocabulary {words[0]} != codebook + classes + specials = {config.vocab_size}")
    return config


def convert_maskgit_jax_transformer(source, **config_overrides: Any) -> tuple[dict, MaskGitConfig]:
    """Official `maskgit_imagenet{256,512}_checkpoint` -> (MaskGitNetwork state dict, config)."""
    params = _params(source)
    config = infer_transformer_config(params, **config_overrides)
    keys = KeyConsumer(params)
    out: dict = {
        "word_embeddings.weight": to_tensor(keys.pop("Embed_0.word_embeddings.embedding")),
        "position_embeddings.weight": to_tensor(keys.pop("Embed_0.position_embeddings.embedding")),
    }
    _norm(keys, "Embed_0.embeddings_ln", "embedding_norm", out)
    for i in range(config.depth):
        src, dst = f"TransformerLayer_{i}", f"layers.{i}"
        for name in ("query", "key", "value", "out"):
            attention = f"{src}.Attention_0.self_attention.{name}"
            out[f"{dst}.attention.{name}.weight"] = _attention_kernel(keys.pop(f"{attention}.kernel"), name == "out")
            out[f"{dst}.attention.{name}.bias"] = to_tensor(np.asarray(keys.pop(f"{attention}.bias")).reshape(-1))
        _norm(keys, f"{src}.Attention_0.attention_output_ln", f"{dst}.attention_norm", out)
        for name, target in (("intermediate_output", "intermediate"), ("layer_output", "output")):
            out[f"{dst}.{target}.weight"] = dense_kernel(keys.pop(f"{src}.Mlp_0.{name}.kernel"))
            out[f"{dst}.{target}.bias"] = to_tensor(keys.pop(f"{src}.Mlp_0.{name}.bias"))
        _norm(keys, f"{src}.Mlp_0.layer_output_ln", f"{dst}.mlp_norm", out)
    out["head_dense.weight"] = dense_kernel(keys.pop("MlmLayer_0.mlm_dense.kernel"))
    out["head_dense.bias"] = to_tensor(keys.pop("MlmLayer_0.mlm_dense.bias"))
    _norm(keys, "MlmLayer_0.mlm_ln", "head_norm", out)
    out["head_bias"] = to_tensor(keys.pop("MlmLayer_0.mlm_bias.bias"))
    keys.finish()
    return out, config
