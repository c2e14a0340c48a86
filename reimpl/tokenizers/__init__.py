"""Stage-1 tokenizers: images <-> discrete token grids (or continuous latents)."""

from reimpl.registry import Registry

# family name -> builder(architecture: Mapping) -> tokenizer module
TOKENIZERS: Registry = Registry("tokenizer family")
