import copy

import torch

from reimpl.networks.maskgit import MaskGitConfig, MaskGitNetwork
from reimpl.networks.toast import ToastMaskGit

TINY = MaskGitConfig(codebook_size=16, num_classes=5, num_tokens=9, width=16, depth=2, heads=2, mlp_width=24,
                     dropout=0.0, null_class=True)


def model(seed=0) -> ToastMaskGit:
    torch.manual_seed(seed)
    base = MaskGitNetwork(TINY).eval()
    for p in base.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return ToastMaskGit(base).eval()


def test_base_is_frozen_and_forward_is_the_base_model():
    toast_model = model()
    assert not any(p.requires_grad for p in toast_model.base.parameters())
    assert all(p.requires_grad for p in toast_model.toast.parameters())
    tokens, labels = torch.randint(0, 16, (3, 9)), torch.tensor([0, 4, 5])  # 5 = the null class
    torch.testing.assert_close(toast_model(tokens, labels), toast_model.base(tokens, labels))
    base, aux = toast_model.guidance_pair(tokens, labels)
    torch.testing.assert_close(base, toast_model.base(tokens, labels))
    assert aux.shape == base.shape == (3, 9, 16) and not torch.allclose(aux, base)


def test_second_pass_is_a_blank_sequence_with_top_down_added_to_the_values():
    toast_model = model(1)
    for block in toast_model.toast.decoders:  # zero top-down signals: V(0) is the value bias alone
        torch.nn.init.zeros_(block.linear2.weight)
    tokens, labels = torch.randint(0, 16, (2, 9)), torch.tensor([1, 2])
    _, aux = toast_model.guidance_pair(tokens, labels)
    doubled = copy.deepcopy(toast_model.base)
    for layer in doubled.layers:  # value + V(top_down) = value + bias: the bias enters twice
        layer.attention.value.bias.data *= 2
    blank = torch.full((2, 10), TINY.mask_token_id)  # the class position is masked too
    expected = doubled.head(doubled.hidden_states(blank)[:, 1:], rows=TINY.codebook_size)
    torch.testing.assert_close(aux, expected)
    # ... so the tokens and the class reach the auxiliary prediction only through TOAST.
    other_tokens = torch.randint(0, 16, (2, 9))
    torch.testing.assert_close(toast_model.guidance_pair(other_tokens, labels)[1], aux)


def test_anchor_selects_features_by_cosine_similarity_to_the_class():
    toast_model = model(2)
    hidden = torch.randn(2, 10, 16)
    signals = toast_model.toast.top_down(hidden, torch.tensor([0, 3]))
    assert len(signals) == TINY.depth and all(s.shape == (2, 10, 16) for s in signals)
    anchor = toast_model.toast.cls_anchor_gen(torch.tensor([0, 3]))
    aligned = anchor.expand(2, 10, 16) * 2  # cosine 1: kept whole
    opposed = -aligned  # cosine -1: clamped to 0, so nothing passes
    zero_out = toast_model.toast.top_down(opposed, torch.tensor([0, 3]))
    assert all(s.abs().max() == 0 for s in zero_out)
    assert all(s.abs().max() > 0 for s in toast_model.toast.top_down(aligned, torch.tensor([0, 3])))
