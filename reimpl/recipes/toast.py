"""TOAST fine-tuning for self-guidance (JiwanHur/UnlockMGM `training/ft_maskgit_org_toast.py`,
`MaskGitTransformerTOAST.gen_corr_loss_toast`; unlockmgm_eval.md §1.5).

Only the TOAST parameters train; the MaskGIT transformer and its head stay frozen. Per batch:
1. mask round(L cos(pi/2 u)) (>= 1) random positions of the true tokens, u ~ U[0, 1) per row;
2. replace round(0.3 * #unmasked) (>= 1) random unmasked positions by tokens drawn from the
   frozen base model's prediction for an all-[MASK] image of the class. The positions are the
   lowest of uniform scores with masked positions scored last, so a fully masked row (cos(pi/2 u)
   rounds to L) still gets one substitution, at a masked position, whose target is the [MASK] id:
   the official target is the corrupted input's token there, not the true one
   (`final_labels = where(substitute_mask, image_tokens, -100)` on the masked input). The official code draws
   from softmax(p) of the probabilities p, not from p (`torch.multinomial(l.softmax(-1))` on
   `exp(log_softmax(...))`), which is nearly uniform over the codebook; `substitute_from` picks
   that (`official`) or the base distribution itself (`base`);
3. run the TOAST pass on the corrupted sequence; cross-entropy with label smoothing 0.1 over the
   whole vocabulary, at the substituted positions only (a correction loss after CMLMC);
4. plus the variational feedback loss: sum over layers of MSE(W1_l(out_l), in_l), times 0.1.
Official optimiser: Adam (0.9, 0.96), lr 1e-4, no weight decay, no clipping, 5000 warm-up steps
then one cosine cycle to 0 at 50,000 steps (the YAML's `num_cycles: 6` never reaches the
scheduler), batch 256 (64 per GPU x 4), bf16 mixed precision (accelerate), and an EMA of the
TOAST weights, decay 0.9999, updating from step 5000 (`update_after_step` = the warm-up; see
`WeightAverage`): the released `ema_model` and so the weights saved here are the EMA.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Literal

import torch
import torch.nn.functional as F

from reimpl.networks.toast import ToastMaskGit
from reimpl.recipes.loop import OptimConfig, WeightAverage, train
from reimpl.recipes.snapshot import Snapshot


@dataclasses.dataclass(frozen=True)
class ToastTrainConfig:
    optim: OptimConfig = OptimConfig(
        steps=50_000, batch_size=256, learning_rate=1e-4, betas=(0.9, 0.96), weight_decay=0.0, warmup_steps=5000,
        grad_clip=None, seed=208, mixed_precision="bf16",
    )
    ema_decay: float = 0.9999  # 0: save the trained weights themselves
    ema_update_after_step: int = 5000
    substitution_rate: float = 0.3
    substitute_from: Literal["official", "base"] = "official"
    label_smoothing: float = 0.1


def corrupt(ids: torch.Tensor, substitutes: torch.Tensor, mask_id: int, rate: float,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input ids with masks and substitutions (B, L), substituted positions (B, L) bool, their
    targets (B, L): the true token, or the [MASK] id where a masked position was substituted)."""
    batch, length = ids.shape
    mask_ratio = torch.cos(math.pi / 2 * torch.rand(batch, generator=generator))
    num_masked = (length * mask_ratio).round().clamp(min=1)
    masked = torch.rand(batch, length, generator=generator).argsort(-1).argsort(-1) < num_masked[:, None]
    num_substitute = ((length - num_masked) * rate).round().clamp(min=1)
    order = torch.rand(batch, length, generator=generator).masked_fill(masked, 2.0)  # masked positions sort last
    substituted = order.argsort(-1).argsort(-1) < num_substitute[:, None]
    inputs = torch.where(masked, mask_id, ids)
    return torch.where(substituted, substitutes, inputs), substituted, inputs


def train_toast(model: ToastMaskGit, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], config: ToastTrainConfig,
                progress: bool = True, snapshot: Snapshot | None = None) -> dict[str, float]:
    """batches yields (token ids (B, L), labels (B,)); only model.toast trains."""
    generator = torch.Generator().manual_seed(config.optim.seed)
    base = model.base  # frozen; like the official loop it stays in train mode (dropout on where configured)

    def loss_fn(module, batch, step):
        ids, labels = batch
        with torch.no_grad():
            blank = torch.full_like(ids, model.mask_token_id)
            probs = base(blank, labels).softmax(-1)  # (B, L, K)
            weights = probs.softmax(-1) if config.substitute_from == "official" else probs
            gumbel = -torch.log(-torch.log(torch.rand(weights.shape, generator=generator).clamp(1e-20, 1 - 1e-7)))
            substitutes = (weights.log() + gumbel).argmax(-1)
            inputs, substituted, targets = corrupt(ids, substitutes, model.mask_token_id, config.substitution_rate,
                                                   generator)
            hidden = base.hidden_states(torch.cat([base.class_tokens(labels)[:, None], inputs], dim=1))
        aux_hidden, trace = model.toast_pass(hidden, labels, keep_trace=True)
        logits = base.head(aux_hidden[:, 1:])  # (B, L, vocab): the official loss spans the whole vocabulary
        correction = F.cross_entropy(logits[substituted], targets[substituted], label_smoothing=config.label_smoothing)
        variational = model.variational_loss(trace)
        fixed = (logits[substituted].argmax(-1) == targets[substituted]).float().mean()
        return correction + variational, {"loss": correction.item(), "var": variational.item(), "fixed": fixed.item()}

    ema = WeightAverage(model.toast, config.ema_decay, config.ema_update_after_step) if config.ema_decay else None
    logged = train(model, loss_fn, batches, config.optim, parameters=list(model.toast.parameters()),
                   progress=progress, description="train toast", snapshot=snapshot,
                   after_step=ema.update if ema else None,
                   state={"generator": generator, **({"ema": ema} if ema else {})})
    if ema:
        ema.copy_to(model.toast)
    return logged
