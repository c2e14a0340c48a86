"""Token networks: pure functions from (tokens, condition) to logits; no sampling, no RNG."""
