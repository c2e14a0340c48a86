"""Text encoders for the text-conditioned models.

Real models use frozen pretrained encoders (T5 v1.1 for MUSE as muse-maskgit-pytorch does,
CLIP-L for aMUSEd) loaded through transformers from a local directory; they cannot be
downloaded here, so loading fails with the directory to provide. The toy benchmark uses
`ToyTextEncoder`: a small T5 encoder built from a transformers `T5Config` (random init,
trained with the toy model) over `WordTokenizer`, a closed word vocabulary of the toy captions.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from torch import nn

from reimpl.errors import MissingWeightsError

PAD, END, UNKNOWN = 0, 1, 2  # T5's pad and eos ids; unknown words share one id


class WordTokenizer:
    """Whitespace words -> ids from a fixed vocabulary; (B, S) ids and a validity mask."""

    def __init__(self, vocabulary: list[str], max_length: int = 16):
        self.vocabulary = list(vocabulary)
        self.max_length = max_length
        self.index = {word: i + 3 for i, word in enumerate(self.vocabulary)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary) + 3

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.full((len(texts), self.max_length), PAD, dtype=torch.long)
        for row, text in enumerate(texts):
            words = [self.index.get(word, UNKNOWN) for word in text.lower().split()][: self.max_length - 1]
            ids[row, : len(words) + 1] = torch.tensor(words + [END])
        valid = ids != PAD
        return ids, valid


@dataclasses.dataclass(frozen=True)
class ToyTextConfig:
    vocabulary: tuple[str, ...]
    width: int = 64
    depth: int = 2
    heads: int = 4
    ff_width: int = 128
    max_length: int = 12


class ToyTextEncoder(nn.Module):
    """texts -> states (B, S, width) and validity (B, S); a T5 encoder of transformers."""

    def __init__(self, config: ToyTextConfig):
        super().__init__()
        from transformers import T5Config, T5EncoderModel

        self.config = config
        self.tokenizer = WordTokenizer(list(config.vocabulary), config.max_length)
        t5 = T5Config(
            vocab_size=self.tokenizer.vocab_size, d_model=config.width, d_kv=config.width // config.heads,
            d_ff=config.ff_width, num_layers=config.depth, num_heads=config.heads, dropout_rate=0.0,
            feed_forward_proj="gated-gelu", relative_attention_num_buckets=8, relative_attention_max_distance=16,
            pad_token_id=PAD, eos_token_id=END, decoder_start_token_id=PAD,
        )
        self.encoder = T5EncoderModel(t5)

    @property
    def width(self) -> int:
        return self.config.width

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, valid = self.tokenizer(texts)
        device = self.encoder.shared.weight.device
        ids, valid = ids.to(device), valid.to(device)
        states = self.encoder(input_ids=ids, attention_mask=valid.long()).last_hidden_state  # (B, S, width)
        return states * valid[..., None], valid  # padded positions zeroed, as lucidrains' t5_encode_text does


T5_ENV = "MGM_T5_DIR"


class PretrainedT5Encoder(nn.Module):
    """A frozen T5 encoder (MUSE; lucidrains' default `google/t5-v1_1-base`, max length 256)."""

    def __init__(self, directory: str | Path | None = None, max_length: int = 256):
        super().__init__()
        directory = directory or os.environ.get(T5_ENV)
        if not directory or not Path(directory).is_dir():
            raise MissingWeightsError(
                f"no local T5 encoder (${T5_ENV} is {'unset' if not directory else repr(str(directory))})",
                hint=f"download google/t5-v1_1-base (config.json, model.safetensors, spiece.model) on a machine "
                f"with internet and set {T5_ENV} to that folder",
            )
        from transformers import AutoTokenizer, T5EncoderModel

        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.encoder = T5EncoderModel.from_pretrained(directory).eval().requires_grad_(False)
        self.max_length = max_length

    @property
    def width(self) -> int:
        return self.encoder.config.d_model

    @torch.no_grad()
    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.tokenizer(texts, return_tensors="pt", padding="longest", truncation=True,
                               max_length=self.max_length)
        device = self.encoder.shared.weight.device
        valid = batch.attention_mask.bool().to(device)
        states = self.encoder(input_ids=batch.input_ids.to(device), attention_mask=valid.long()).last_hidden_state
        return states * valid[..., None], valid
