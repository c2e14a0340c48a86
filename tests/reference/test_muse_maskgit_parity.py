"""Our MUSE network against muse-maskgit-pytorch 0.3.5's Transformer with random weights:
convert its state dict, feed both the same tokens, text states and self-conditioning, and
compare logits (conditional and text-dropped)."""

import pytest
import torch

muse = pytest.importorskip("muse_maskgit_pytorch")
transformers = pytest.importorskip("transformers")

from reimpl.convert.muse_maskgit_torch import convert_muse_maskgit  # noqa: E402
from reimpl.networks.muse import MuseConfig, MuseNetwork  # noqa: E402

TEXT_WIDTH = 24


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    """0.3.5 reads the text width from a T5 config at construction; a local one keeps it offline."""
    path = tmp_path_factory.mktemp("t5")
    transformers.T5Config(d_model=TEXT_WIDTH, num_layers=1, num_heads=2, d_kv=12, d_ff=32, vocab_size=50).save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("self_cond", [False, True])
def test_logits_match_lucidrains(t5_dir, self_cond):
    torch.manual_seed(0)
    theirs = muse.MaskGitTransformer(num_tokens=64, seq_len=16, dim=32, depth=2, dim_head=8, heads=4, ff_mult=4,
                                     t5_name=t5_dir, self_cond=self_cond).eval()
    with torch.no_grad():  # non-trivial scales and null key/values, so a swapped tensor shows
        for name, param in theirs.named_parameters():
            if name.endswith(("q_scale", "k_scale", "gamma")):
                param.uniform_(0.5, 1.5)
    config = MuseConfig(codebook_size=64, num_tokens=16, width=32, depth=2, heads=4, head_dim=8, ff_mult=4,
                        text_width=TEXT_WIDTH, self_conditioning=self_cond)
    ours = MuseNetwork(config).eval()
    ours.load_state_dict(convert_muse_maskgit(theirs.state_dict(), config), strict=True)

    tokens = torch.randint(0, 65, (3, 16))
    text = torch.randn(3, 5, TEXT_WIDTH)
    text[0, 3:] = 0  # padding, which 0.3.5 detects as all-zero rows
    valid = (text != 0).any(-1)
    previous = torch.randn(3, 16, 32) if self_cond else None
    with torch.no_grad():
        expected = theirs(tokens, text_embeds=text, self_cond_embed=previous, cond_drop_prob=0.0)
        got = ours(tokens, text, valid, self_cond=previous)
        expected_null = theirs(tokens, text_embeds=text, self_cond_embed=previous, cond_drop_prob=1.0)
        got_null = ours(tokens, text, torch.zeros_like(valid), self_cond=previous)
    assert got.shape == (3, 16, 64)
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(got_null, expected_null, atol=2e-5, rtol=1e-4)
    assert (got - got_null).abs().max() > 1e-3  # the text really changes the logits


def test_converter_rejects_unknown_keys(t5_dir):
    theirs = muse.MaskGitTransformer(num_tokens=64, seq_len=16, dim=32, depth=1, dim_head=8, heads=4,
                                     t5_name=t5_dir)
    config = MuseConfig(codebook_size=64, num_tokens=16, width=32, depth=1, heads=4, head_dim=8, text_width=TEXT_WIDTH)
    state = {**theirs.state_dict(), "extra.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="extra.weight"):
        convert_muse_maskgit(state, config)
