"""UnlockMGM's TOAST module on a frozen MaskGIT transformer (Hur et al., NeurIPS 2024;
JiwanHur/UnlockMGM `muse/modeling_transformer_toast.py`, ../shared/spec/unlockmgm_eval.md §1.3).

From the base pass's final hidden states h (B, 1 + L, D) and the class:
1. a class anchor a (B, 1, D): `TokenGenerator` sums F factor-weighted (position + class)
   embeddings of size D, then LayerNorm and a Linear;
2. feature selection: h * clamp(cos(h, a), 0, 1), then @ `top_down_transform` (identity at init);
3. top-down decoders, from the last layer to the first: x = W1 x, td[l] = W2 x (bias-free);
4. a second pass of the *same frozen* transformer over an all-[MASK] sequence (the class token is
   masked too: `use_blank_second`; the class enters only through the anchor), where layer l adds
   V(td[l]) to its attention values; then the frozen MLM head.
The logits of that second pass are the "semantically smoothed" auxiliary prediction that
self-guidance steers away from. Parameter names follow the official module.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork


@dataclasses.dataclass(frozen=True)
class ToastConfig:
    factors: int = 16  # `tg_factor`
    variational_weight: float = 0.1  # `lambda_var`: the decoders' feedback-reconstruction loss


def toast_classes(config: MaskGitConfig) -> int:
    """Anchor rows: one per class id the transformer knows (the null class included)."""
    return config.num_classes + int(config.null_class)


class TokenGenerator(nn.Module):
    """One anchor vector per class: sum_f w_f (pos_f + class_f), LayerNorm, Linear."""

    def __init__(self, num_classes: int, width: int, factors: int):
        super().__init__()
        self.width, self.factors = width, factors
        self.mlp_p = nn.Embedding(1, width * factors)
        self.mlp_c = nn.Embedding(num_classes, width * factors)
        self.mlp_f = nn.Embedding(1, factors)
        self.mlp_t = nn.Linear(width, width)
        self.layer_norm = nn.LayerNorm(width)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """labels (B,) -> anchors (B, 1, D). Every class's anchor is computed and then picked, so a
        row's value never depends on the batch it is in (a (B, D) GEMM rounds differently per B)."""
        position = self.mlp_p.weight.view(1, self.width, self.factors)
        per_class = self.mlp_c.weight.view(-1, self.width, self.factors)
        mixed = ((position + per_class) * self.mlp_f.weight.view(1, 1, self.factors)).sum(-1)  # (C, D)
        return self.mlp_t(self.layer_norm(mixed))[labels][:, None]


class DecodeBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)
        self.linear2 = nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.linear(x)
        return x, self.linear2(x)  # (passed down, this layer's top-down signal)


class Toast(nn.Module):
    """The trainable TOAST parameters (41,793,808 for the ImageNet MaskGIT)."""

    def __init__(self, num_classes: int, width: int, depth: int, config: ToastConfig = ToastConfig()):
        super().__init__()
        self.config = config
        self.cls_anchor_gen = TokenGenerator(num_classes, width, config.factors)
        self.top_down_transform = nn.Parameter(torch.eye(width))
        self.decoders = nn.ModuleList(DecodeBlock(width) for _ in range(depth))
        for module in self.modules():  # open-muse `_init_weights`: truncated normal 0.02, zero bias
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def top_down(self, hidden: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
        """Base hidden states (B, 1 + L, D) -> one top-down signal (B, 1 + L, D) per layer."""
        anchor = self.cls_anchor_gen(labels)  # (B, 1, D)
        # cos(h, a) as a product-sum, not a (B, L, D) @ (B, D, 1) bmm, whose kernel (and rounding) changes
        # with the batch size, so that an image never depends on its batch.
        similarity = (F.normalize(hidden, dim=-1) * F.normalize(anchor, dim=-1)).sum(-1, keepdim=True)  # (B, 1+L, 1)
        x = (hidden * similarity.clamp(0, 1)) @ self.top_down_transform
        signals: list[torch.Tensor] = [torch.empty(0)] * len(self.decoders)
        for depth in reversed(range(len(self.decoders))):
            x, signals[depth] = self.decoders[depth](x)
        return signals


class ToastMaskGit(nn.Module):
    """A frozen MaskGIT transformer plus TOAST. `forward(tokens, labels)` is the base model;
    `guidance_pair` returns (base logits, auxiliary logits) from the base pass and the TOAST pass
    that reuses its hidden states (the aux pass depends on the base one, so they run in turn)."""

    def __init__(self, base: MaskGitNetwork, config: ToastConfig = ToastConfig()):
        super().__init__()
        self.base = base
        self.toast = Toast(toast_classes(base.config), base.config.width, base.config.depth, config)
        for parameter in self.base.parameters():
            parameter.requires_grad_(False)

    @property
    def config(self):
        return self.base.config

    @property
    def mask_token_id(self) -> int:
        return self.base.mask_token_id

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.base(tokens, labels)

    def toast_pass(self, hidden: torch.Tensor, labels: torch.Tensor, keep_trace: bool = False):
        """Second pass over an all-[MASK] sequence steered by TOAST -> hidden states (B, 1 + L, D),
        and, with keep_trace, each layer's (input, output) for the variational loss."""
        signals = self.toast.top_down(hidden, labels)
        blank = torch.full(hidden.shape[:2], self.base.mask_token_id, dtype=torch.long, device=hidden.device)
        if not keep_trace:
            return self.base.hidden_states(blank, signals), None
        base = self.base
        positions = torch.arange(blank.shape[1], device=blank.device)
        x = base.dropout(base.embedding_norm(base.word_embeddings(blank) + base.position_embeddings(positions)[None]))
        trace = []
        for depth, layer in enumerate(base.layers):
            out = layer(x, signals[depth])
            trace.append((x, out))
            x = out
        return x, trace

    def guidance_pair(self, tokens: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(base, auxiliary) codebook logits, each (B, L, K)."""
        sequence = torch.cat([self.base.class_tokens(labels)[:, None], tokens], dim=1)
        hidden = self.base.hidden_states(sequence)
        rows = self.config.codebook_size
        base_logits = self.base.head(hidden[:, 1:], rows=rows)
        aux_hidden, _ = self.toast_pass(hidden, labels)
        return base_logits, self.base.head(aux_hidden[:, 1:], rows=rows)

    def variational_loss(self, trace: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """sum_l MSE(W1_l(out_l), in_l), both detached (`var_loss`), times `variational_weight`."""
        losses = [F.mse_loss(self.toast.decoders[depth](out.detach())[0], x.detach())
                  for depth, (x, out) in enumerate(trace)]
        return self.toast.config.variational_weight * sum(losses)
