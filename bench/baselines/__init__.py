"""Trivial baselines that give toy-benchmark numbers their meaning (../shared/spec/evaluation.md):
real held-out images (the floor) and one mean image per class (mode collapse). Baselines
that need a tokenizer (reconstructions, random token grids) live with the tokenizer's family."""
