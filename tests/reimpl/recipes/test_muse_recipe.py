import torch

from reimpl.models.muse import MuseCascade
from reimpl.recipes.loop import OptimConfig
from reimpl.recipes.muse import MuseTrainConfig, cosine_masks, train_muse

ARCHITECTURE = {
    "text": {"vocabulary": ["a", "red", "blue", "circle"], "width": 16, "depth": 1, "heads": 2, "ff_width": 32, "max_length": 5},
    "base": {"codebook_size": 8, "num_tokens": 4, "width": 32, "depth": 1, "heads": 2, "head_dim": 16, "resolution": 8},
    "superres": {"codebook_size": 8, "num_tokens": 16, "width": 32, "depth": 1, "heads": 2, "head_dim": 16, "resolution": 16,
                 "cond_codebook_size": 8, "cond_num_tokens": 4, "self_conditioning": True},
    "critic": {"depth": 1},
}


def test_cosine_masks_match_the_reference_counts():
    generator = torch.Generator().manual_seed(0)
    masks = cosine_masks(4000, 16, generator)
    counts = masks.sum(-1).float()
    assert counts.min() >= 1 and counts.max() <= 16
    # E[round(16 cos(pi t / 2))] for t ~ U(0, 1) is about 16 * 2 / pi = 10.2
    assert abs(counts.mean().item() - 16 * 2 / torch.pi) < 0.3


def test_cascade_learns_text_dependent_tokens():
    torch.manual_seed(0)
    cascade = MuseCascade(ARCHITECTURE)
    red, blue = torch.full((4,), 1), torch.full((4,), 5)

    def batches():
        while True:
            yield {"texts": ["a red circle", "a blue circle"] * 4,
                   "base": torch.stack([red, blue] * 4), "lowres": torch.stack([red, blue] * 4),
                   "superres": torch.stack([torch.full((16,), 2), torch.full((16,), 6)] * 4)}

    config = MuseTrainConfig(optim=OptimConfig(steps=80, batch_size=8, learning_rate=3e-3), cond_drop_prob=0.1)
    logged = train_muse(cascade, batches(), config, progress=False)
    assert logged["acc"] > 0.9 and logged["sr_acc"] > 0.9
    assert {"critic", "sr_critic"} <= set(logged)
    with torch.no_grad():
        conditions = cascade.encode_text(["a blue circle"])
        tokens = torch.full((1, 4), cascade.base.network.mask_token_id)
        assert (cascade.base(tokens, conditions).argmax(-1) == 5).all()
