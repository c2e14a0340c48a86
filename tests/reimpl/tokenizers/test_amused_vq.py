import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="the aMUSEd VQ runs through diffusers (pip install -e '.[hf]')")

from reimpl.tokenizers.amused_vq import AMUSED_VQ_CONFIGS, build_amused_vq  # noqa: E402


def test_round_trip_matches_diffusers_vqmodel_directly():
    torch.manual_seed(0)
    tokenizer = build_amused_vq({"preset": "toy-amused-vq"}).eval()
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    ids = tokenizer.encode(images)
    assert ids.shape == (2, 8, 8) and int(ids.max()) < 64
    decoded = tokenizer.decode(ids)
    assert decoded.dtype == torch.uint8 and decoded.shape == (2, 3, 16, 16)
    vq = tokenizer.vq
    with torch.no_grad():  # diffusers' quantized latents straight into its decoder, no ids in between
        quantized, _, _ = vq.quantize(vq.encode(images.float() / 255).latents)
        reference = vq.decoder(vq.post_quant_conv(quantized))
    assert torch.equal(decoded, (reference.clamp(0, 1) * 255).round().to(torch.uint8))


def test_diffusers_keys_load_without_prefix():
    tokenizer = build_amused_vq({"preset": "toy-amused-vq"})
    state = {key[len("vq."):]: value for key, value in tokenizer.state_dict().items()}
    tokenizer.load_state_dict(state, strict=True)
    assert AMUSED_VQ_CONFIGS["amused-vq-256"]["num_vq_embeddings"] == 8192
