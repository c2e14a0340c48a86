"""Reimplementations of masked generative image models (importable without `bench`).

Shape letters used in comments throughout the package:

    B  batch            L  tokens in a sequence      h x w  token grid (L = h * w)
    V  vocabulary       D  model width               C  channels
    H x W  image height and width in pixels

Images cross package boundaries as uint8 tensors of shape (B, 3, H, W) unless a
docstring says otherwise; masks use True for *masked / unknown* (as in diffusers'
`unknown_map`).
"""

__version__ = "0.1.0"
