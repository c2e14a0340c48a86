"""LlamaGen VQ checkpoints (FoundationVision/LlamaGen `vq_ds16_c2i.pt`, `{'model': state_dict}`)
-> TamingVQGANTokenizer. LlamaGen names taming's blocks differently (tokenizer_image/vq_model.py):
`conv_blocks.{i}.res.{j}` / `.attn.{j}` / `.downsample` / `.upsample`, `mid.{0,1,2}`, and its
decoder stores levels coarsest first. The `quantize.codebook_used` buffer is usage bookkeeping."""

from __future__ import annotations

import re
from typing import Any, Mapping

from reimpl.convert.taming import to_taming_layout
from reimpl.tokenizers.taming_vqgan import TamingVQGANConfig

IGNORED = {"quantize.codebook_used": "training-time codebook-usage statistics, not a weight"}
MID = {"0": "block_1", "1": "attn_1", "2": "block_2"}


def llamagen_to_taming_name(key: str, levels: int) -> str:
    """One LlamaGen key -> the taming name our module uses."""
    key = re.sub(r"^(encoder|decoder)\.mid\.([012])\.", lambda m: f"{m[1]}.mid.{MID[m[2]]}.", key)
    match = re.match(r"^(encoder|decoder)\.conv_blocks\.(\d+)\.(res|attn|downsample|upsample)(.*)$", key)
    if not match:
        return key
    side, index, part, rest = match[1], int(match[2]), match[3], match[4]
    level = index if side == "encoder" else levels - 1 - index  # decoder blocks are stored coarsest first
    group = "down" if side == "encoder" else "up"
    return f"{side}.{group}.{level}.{'block' if part == 'res' else part}{rest}"


def convert_llamagen_vq(checkpoint: Mapping[str, Any], config: TamingVQGANConfig) -> dict:
    state = checkpoint.get("model", checkpoint)
    levels = len(config.ch_mult)
    renamed = {llamagen_to_taming_name(key, levels): value for key, value in state.items()}
    return to_taming_layout(renamed, config, IGNORED)
