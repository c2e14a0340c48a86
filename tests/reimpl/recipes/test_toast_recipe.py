import torch

from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork
from reimpl.networks.toast import ToastMaskGit
from reimpl.recipes.loop import OptimConfig
from reimpl.recipes.toast import ToastTrainConfig, corrupt, train_toast


def test_corruption_masks_then_substitutes_only_unmasked_positions():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 16, (256, 64), generator=generator)
    substitutes = torch.full_like(ids, 15)
    inputs, substituted = corrupt(ids, substitutes, 99, 0.3, generator)
    masked = inputs == 99
    assert (masked.sum(-1) >= 1).all()
    assert not (substituted & masked).any()
    unmasked = 64 - masked.sum(-1)
    expected = torch.where(unmasked > 0, (unmasked * 0.3).round().clamp(min=1), torch.zeros_like(unmasked))
    assert torch.equal(substituted.sum(-1), expected.long())
    assert (inputs[substituted] == 15).all()
    assert torch.equal(inputs[~masked & ~substituted], ids[~masked & ~substituted])


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
