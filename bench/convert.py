"""Official checkpoints -> this project's safetensors, once, cached beside the download.

A card file with a `converter` is downloaded (or found locally) in its official format,
converted by the named reimpl converter, and written as `<card>.<role>.safetensors` in the
cache folder; the record keeps the official file's sha256 from the card.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from bench.checkpoints import FileSpec, cache_dir, resolve_file


def converted_path(card_name: str, spec: FileSpec) -> Path:
    return cache_dir() / "converted" / f"{card_name}.{spec.role}.safetensors"


def convert_file(card_name: str, spec: FileSpec, architecture: Mapping[str, Any], force: bool = False) -> Path:
    from safetensors.torch import save_file

    from reimpl.convert import CONVERTERS

    target = converted_path(card_name, spec)
    if target.is_file() and not force:
        return target
    source = resolve_file(card_name, spec)  # raises the actionable offline error
    state = CONVERTERS.get(spec.converter)(source, dict(architecture))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, str(temporary), metadata={"source_sha256": str(spec.sha256)})
    os.replace(temporary, target)
    return target


def local_weights(card_name: str, spec: FileSpec, architecture: Mapping[str, Any]) -> Path:
    """The file a builder loads: the verified file itself, or its converted copy."""
    if spec.converter:
        return convert_file(card_name, spec, architecture)
    return resolve_file(card_name, spec)
