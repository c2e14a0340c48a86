"""muse-maskgit-pytorch 0.3.5 `Transformer` / `MaskGitTransformer` / `TokenCritic` state
dicts -> `MuseNetwork` (reimpl/networks/muse.py). The layouts match one to one:

  token_emb, pos_emb, text_embed_proj      -> token_embeddings, position_embeddings, text_projection
  transformer_blocks.layers.{i}.0 / .1     -> blocks.{i}.self_attention / .cross_attention
  transformer_blocks.layers.{i}.2.{0,1,3,4} -> blocks.{i}.feed_forward.{norm_in, proj_in, norm_inner, proj_out}
  transformer_blocks.norm.gamma            -> norm.gamma
  self_cond_to_init_embed.{0,1,3,4}        -> self_cond_projection.*   (when self_cond)
  to_logits                                -> to_logits

`text_embed_proj` is an Identity when the T5 width equals `dim`: the converter then writes an
identity matrix. Ignored: LayerNorm `beta` buffers (always zero) and `Transformer.norm`,
which 0.3.5 defines but never calls.
"""

from __future__ import annotations

from typing import Mapping

import torch

from reimpl.convert.common import KeyConsumer, take_expected
from reimpl.networks.muse import MuseConfig, MuseNetwork

_FEED_FORWARD = {"0.gamma": "norm_in.gamma", "1.weight": "proj_in.weight", "3.gamma": "norm_inner.gamma",
                 "4.weight": "proj_out.weight"}
_ATTENTION = ("norm.gamma", "null_kv", "to_q.weight", "to_kv.weight", "q_scale", "k_scale", "to_out.weight")


def muse_maskgit_key_map(config: MuseConfig) -> dict[str, str]:
    """Our key -> the 0.3.5 key, for every parameter of a MuseNetwork with this config."""
    keys = {"token_embeddings.weight": "token_emb.weight", "position_embeddings.weight": "pos_emb.weight",
            "norm.gamma": "transformer_blocks.norm.gamma", "to_logits.weight": "to_logits.weight",
            "text_projection.weight": "text_embed_proj.weight"}
    for i in range(config.depth):
        for ours, index in (("self_attention", 0), ("cross_attention", 1)):
            for name in _ATTENTION:
                keys[f"blocks.{i}.{ours}.{name}"] = f"transformer_blocks.layers.{i}.{index}.{name}"
        for theirs, ours in _FEED_FORWARD.items():
            keys[f"blocks.{i}.feed_forward.{ours}"] = f"transformer_blocks.layers.{i}.2.{theirs}"
    if config.self_conditioning:
        for theirs, ours in _FEED_FORWARD.items():
            keys[f"self_cond_projection.{ours}"] = f"self_cond_to_init_embed.{theirs}"
    return keys


def convert_muse_maskgit(state_dict: Mapping[str, torch.Tensor], config: MuseConfig) -> dict[str, torch.Tensor]:
    if config.cond_num_tokens:
        raise ValueError("0.3.5 embeds low-res tokens with token_emb itself; convert base stages only")
    with torch.device("meta"):
        expected = MuseNetwork(config).state_dict()
    source = dict(state_dict)
    if "text_embed_proj.weight" not in source:  # nn.Identity when the T5 width equals dim
        source["text_embed_proj.weight"] = torch.eye(config.width)
    keys = KeyConsumer(source, ignored={
        "norm.": "Transformer.norm is defined but never called in 0.3.5",
        "self_cond_to_init_embed.": "self-conditioning is off in this config",
    })
    for key in [k for k in source if k.endswith(".beta")]:
        keys.pop(key)  # LayerNorm's zero bias buffers; ours are not persistent
    renamed = {ours: keys.pop(theirs) for ours, theirs in muse_maskgit_key_map(config).items()}
    state = take_expected(KeyConsumer(renamed), expected)
    keys.finish()
    return state
