"""The seed's muse-maskgit-pytorch usage runs on our implementation: build, train on
(images, texts), generate with cond_scale, cascade base -> super-res."""

import pytest
import torch

from reimpl.compat.muse_maskgit import MaskGit, MaskGitTransformer, Muse, TokenCritic, VQGanVAE
from reimpl.errors import MissingWeightsError
from reimpl.networks.text import ToyTextConfig, ToyTextEncoder

WORDS = ("a", "red", "blue", "circle", "square")


def _text():
    return ToyTextEncoder(ToyTextConfig(vocabulary=WORDS, width=16, depth=1, heads=2, ff_width=32, max_length=6))


def _images(colour, n=4, size=16):
    images = torch.zeros(n, 3, size, size)
    images[:, colour] = 1.0
    return images


def test_seed_readme_spellings_build_the_same_vae():
    seed_style = VQGanVAE(dim=64, codebook_size=32, layers=2, use_vgg_and_gan=False)
    pypi_style = VQGanVAE(dim=64, vq_codebook_size=32, layers=2)
    assert seed_style.codebook_size == pypi_style.codebook_size == 32
    assert seed_style.get_encoded_fmap_size(16) == 4
    _, ids, _ = seed_style.encode(torch.rand(2, 3, 16, 16))
    assert ids.shape == (2, 4, 4)


def test_missing_t5_names_the_folder_to_provide(monkeypatch):
    monkeypatch.delenv("MGM_T5_DIR", raising=False)
    with pytest.raises(MissingWeightsError, match="MGM_T5_DIR"):
        MaskGitTransformer(num_tokens=32, seq_len=16, dim=32, depth=1, t5_name="t5-small")


def test_train_then_generate_follows_the_text():
    torch.manual_seed(0)
    vae = VQGanVAE(dim=64, codebook_size=32, layers=2)
    transformer = MaskGitTransformer(num_tokens=32, seq_len=16, dim=32, depth=2, dim_head=8, heads=4, ff_mult=2,
                                     text_encoder=_text())
    critic = TokenCritic(num_tokens=32, seq_len=16, dim=32, depth=1, dim_head=8, heads=4, text_encoder=_text())
    base = MaskGit(vae=vae, transformer=transformer, image_size=16, cond_drop_prob=0.25, token_critic=critic)
    images = torch.cat([_images(0), _images(2)])  # red, blue
    texts = ["a red square"] * 4 + ["a blue square"] * 4
    with torch.no_grad():  # a VAE whose red and blue images get distinct codes
        vae.model.quantize.embedding.weight.normal_()
    optimizer = torch.optim.Adam(base.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = base(images, texts=texts)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5  # it learns (0.3.5's forward would not: no_grad)

    red_ids, blue_ids = vae.encode(_images(0, 1))[1].flatten(), vae.encode(_images(2, 1))[1].flatten()
    ids = base.generate(["a red square", "a blue square"], cond_scale=3.0, timesteps=6, seeds=[1, 2], return_ids=True)
    assert ids.shape == (2, 4, 4)
    assert (ids[0].flatten() == red_ids).float().mean() > 0.8
    assert (ids[1].flatten() == blue_ids).float().mean() > 0.8
    pixels = base.generate(["a red square"], cond_scale=3.0, timesteps=6, seeds=[1], force_not_use_token_critic=True)
    assert pixels.shape == (1, 3, 16, 16) and 0 <= pixels.min() and pixels.max() <= 1
    again = base.generate(["a red square", "a blue square"], cond_scale=3.0, timesteps=6, seeds=[1, 2], return_ids=True)
    assert torch.equal(ids, again)  # seeds make it reproducible


def test_muse_cascade_runs_base_then_superres():
    torch.manual_seed(0)
    vae = VQGanVAE(dim=64, codebook_size=32, layers=2)
    base = MaskGit(vae=vae, image_size=8, transformer=MaskGitTransformer(
        num_tokens=32, seq_len=4, dim=32, depth=1, dim_head=8, heads=4, text_encoder=_text()))
    superres = MaskGit(vae=vae, image_size=16, cond_image_size=8, transformer=MaskGitTransformer(
        num_tokens=32, seq_len=16, dim=32, depth=1, dim_head=8, heads=4, text_encoder=_text(), cond_num_tokens=4))
    loss = superres(torch.rand(2, 3, 16, 16), texts=["a red circle", "a blue circle"])
    loss.backward()
    assert superres.transformer.network.cond_token_embeddings.weight.grad.abs().sum() > 0
    images = Muse(base=base, superres=superres)(["a red circle", "a blue circle"], cond_scale=3.0, timesteps=4, seeds=[0, 1])
    assert images.shape == (2, 3, 16, 16)
