"""Model families: each module binds tokenizer + network + default sampler into a
`GenerativeModel` and registers its builder in `MODELS` under the family name that
checkpoints.yaml cards refer to."""

from reimpl.registry import Registry

MODELS: Registry = Registry("model family")
