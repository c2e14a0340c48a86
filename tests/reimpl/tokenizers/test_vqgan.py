import torch

from reimpl.tokenizers.vqgan import VQGAN_CONFIGS, ResBlock, VQGANConfig, VQGANTokenizer


def test_official_config_parameter_count_and_keys():
    with torch.device("meta"):
        tokenizer = VQGANTokenizer(VQGAN_CONFIGS["maskgit-f16-1024"])
    assert sum(p.numel() for p in tokenizer.parameters()) == 54_515_587
    assert sum(p.numel() for p in tokenizer.encoder.parameters()) == 23_775_104
    assert sum(p.numel() for p in tokenizer.decoder.parameters()) == 30_478_339
    keys = tokenizer.state_dict().keys()
    assert len(keys) == 168
    assert "encoder.down.2.block.0.nin_shortcut.weight" in keys and "quantize.embedding.weight" in keys
    assert tokenizer.state_dict()["encoder.down.2.block.0.nin_shortcut.weight"].shape == (256, 256, 1, 1)


def test_shortcut_quirk_drops_the_block_input():
    block = ResBlock(4, 8, VQGANConfig(norm_groups=2)).eval()
    x = torch.randn(1, 4, 6, 6)
    branch = block.conv2(torch.nn.functional.silu(block.norm2(block.conv1(torch.nn.functional.silu(block.norm1(x))))))
    assert torch.allclose(block(x), branch + block.nin_shortcut(branch), atol=1e-6)


def test_round_trip_shapes_and_uint8_io():
    tokenizer = VQGANTokenizer(VQGAN_CONFIGS["toy-f4-256"]).eval()
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    ids = tokenizer.encode(images)
    assert ids.shape == (2, 8, 8) and ids.max() < 256
    decoded = tokenizer.decode(ids)
    assert decoded.dtype == torch.uint8 and decoded.shape == (2, 3, 32, 32)
