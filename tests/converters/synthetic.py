"""Builds synthetic PyTorch state dicts key by key, in whatever official naming a test spells
out, with random values (so a misplaced tensor shows up in value checks)."""

import torch


class StateDictBuilder:
    def __init__(self, seed: int = 0):
        self.generator = torch.Generator().manual_seed(seed)
        self.state: dict[str, torch.Tensor] = {}

    def put(self, name: str, *shape: int) -> None:
        self.state[name] = torch.randn(*shape, generator=self.generator)

    def conv(self, prefix: str, c_in: int, c_out: int, kernel: int, bias: bool = True) -> None:
        self.put(f"{prefix}.weight", c_out, c_in, kernel, kernel)
        if bias:
            self.put(f"{prefix}.bias", c_out)

    def norm(self, prefix: str, channels: int) -> None:
        self.put(f"{prefix}.weight", channels)
        self.put(f"{prefix}.bias", channels)

    def resnet(self, prefix: str, c_in: int, c_out: int, bias: bool = True, shortcut_in: int | None = None) -> None:
        """taming-style ResnetBlock (norm1, conv1, norm2, conv2, nin_shortcut when widths differ)."""
        self.norm(f"{prefix}.norm1", c_in)
        self.conv(f"{prefix}.conv1", c_in, c_out, 3, bias)
        self.norm(f"{prefix}.norm2", c_out)
        self.conv(f"{prefix}.conv2", c_out, c_out, 3, bias)
        if c_in != c_out:
            self.conv(f"{prefix}.nin_shortcut", shortcut_in or c_in, c_out, 1, bias)

    def attention(self, prefix: str, channels: int) -> None:
        """taming-style AttnBlock (norm, 1x1 q/k/v/proj_out)."""
        self.norm(f"{prefix}.norm", channels)
        for name in ("q", "k", "v", "proj_out"):
            self.conv(f"{prefix}.{name}", channels, channels, 1)

    def linear(self, prefix: str, c_in: int, c_out: int) -> None:
        self.put(f"{prefix}.weight", c_out, c_in)
        self.put(f"{prefix}.bias", c_out)

    def vit_block(self, prefix: str, dim: int, mlp_ratio: int = 4) -> None:
        """timm `Block` with a fused, biased qkv (MAE, MAGE, MAR, eMIGM)."""
        self.norm(f"{prefix}.norm1", dim)
        self.linear(f"{prefix}.attn.qkv", dim, 3 * dim)
        self.linear(f"{prefix}.attn.proj", dim, dim)
        self.norm(f"{prefix}.norm2", dim)
        self.linear(f"{prefix}.mlp.fc1", dim, mlp_ratio * dim)
        self.linear(f"{prefix}.mlp.fc2", mlp_ratio * dim, dim)
