import torch

from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork
from reimpl.networks.toast import ToastMaskGit
from reimpl.recipes.loop import OptimConfig
from reimpl.recipes.toast import ToastTrainConfig, corrupt, train_toast


def test_corruption_substitutes_unmasked_positions_and_one_masked_one_in_a_fully_masked_row():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 16, (256, 64), generator=generator)
    substitutes = torch.full_like(ids, 15)
    inputs, substituted, targets = corrupt(ids, substitutes, 99, 0.3, generator)
    masked = torch.where(substituted, targets, inputs) == 99
    unmasked = 64 - masked.sum(-1)
    full = unmasked == 0
    assert 5 < int(full.sum()) < 60 and (masked.sum(-1) >= 1).all()  # cos(pi/2 u) rounds to 1 for u < 0.078
    partial = ~full[:, None]
    assert not (substituted & masked & partial).any()
    assert torch.equal(substituted.sum(-1), torch.where(full, 1, (unmasked * 0.3).round().clamp(min=1).long()))
    assert (inputs[substituted] == 15).all()
    # targets: the true token where an unmasked token was replaced, [MASK] in a fully masked row
    assert torch.equal(targets[substituted & partial], ids[substituted & partial])
    assert (targets[substituted & full[:, None]] == 99).all()
    kept = ~masked & ~substituted
    assert torch.equal(inputs[kept], ids[kept])


def test_only_toast_trains_and_the_correction_loss_falls():
    torch.manual_seed(0)
    config = MaskGitConfig(codebook_size=16, num_classes=3, num_tokens=16, width=32, depth=2, heads=2, mlp_width=64,
                           dropout=0.0, null_class=True)
    base = MaskGitNetwork(config)
    for parameter in base.parameters():  # an expressive frozen base (its 0.02 init gives near-uniform logits)
        torch.nn.init.normal_(parameter, std=0.3)
    model = ToastMaskGit(base)
    frozen = {k: v.clone() for k, v in base.state_dict().items()}
    # One token per class: the blank second pass of a *random* frozen base mixes positions almost
    # uniformly, so only what the class anchor carries can be learnt through the top-down signals.
    grids = torch.tensor([1, 7, 12])[:, None].expand(3, 16)

    def batches():
        g = torch.Generator().manual_seed(1)
        while True:
            labels = torch.randint(0, 3, (16,), generator=g)
            yield grids[labels], labels

    optim = OptimConfig(steps=200, batch_size=16, learning_rate=1e-2, betas=(0.9, 0.96), warmup_steps=10, grad_clip=None)
    first = train_toast(model, batches(), ToastTrainConfig(optim=OptimConfig(**{**optim.__dict__, "steps": 1})), False)
    last = train_toast(model, batches(), ToastTrainConfig(optim=optim), False)
    assert last["loss"] < first["loss"] - 0.1
    assert last["fixed"] > first["fixed"] + 0.1  # substituted tokens corrected back to the truth
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in frozen.items())
