"""Read Flax msgpack checkpoints (`flax.serialization.to_bytes`) without JAX or Flax.

Format (flax/serialization.py): a msgpack map of the state dict; arrays are msgpack ext
type 1 (ndarray) or 3 (numpy scalar) whose payload is msgpack (shape, dtype name, C-order
bytes); arrays larger than ~1 GiB are split into {'__msgpack_chunked_array__': True,
'shape': {...}, 'chunks': {...}} with tuples stored as {'0': .., '1': ..} maps. bfloat16
payloads are returned as torch.bfloat16 tensors (NumPy has no such dtype).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

NDARRAY, NATIVE_COMPLEX, NPSCALAR = 1, 2, 3


def _array_from_payload(payload: bytes) -> Any:
    import msgpack

    shape, dtype_name, buffer = msgpack.unpackb(payload, raw=True)
    name = dtype_name.decode() if isinstance(dtype_name, bytes) else dtype_name
    if name == "bfloat16":
        raw = np.frombuffer(buffer, dtype=np.uint16).reshape(shape)
        return torch.from_numpy(raw.copy()).view(torch.bfloat16)
    return np.frombuffer(buffer, dtype=np.dtype(name)).reshape(shape)


def _ext_hook(code: int, payload: bytes) -> Any:
    import msgpack

    if code in (NDARRAY, NPSCALAR):
        return _array_from_payload(payload)
    if code == NATIVE_COMPLEX:
        real, imag = msgpack.unpackb(payload)
        return complex(real, imag)
    return msgpack.ExtType(code, payload)


def _tuple_of(mapping: dict) -> tuple:
    return tuple(mapping[str(i)] for i in range(len(mapping)))


def _unchunk(tree: Any) -> Any:
    if isinstance(tree, dict):
        if tree.get("__msgpack_chunked_array__"):
            shape = _tuple_of(tree["shape"])
            return np.concatenate(_tuple_of(tree["chunks"])).reshape(shape)
        return {key: _unchunk(value) for key, value in tree.items()}
    return tree


def read_flax_msgpack(path: str | Path) -> dict:
    """The nested state dict of a Flax msgpack file (for MaskGIT: {'params': {...}})."""
    import msgpack

    data = Path(path).read_bytes()
    return _unchunk(msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False))


def write_flax_msgpack(tree: dict, path: str | Path) -> None:
    """Write a state dict in the same format (used by tests to build official-layout files)."""
    import msgpack

    def default(obj):
        if isinstance(obj, np.ndarray):
            payload = msgpack.packb((obj.shape, obj.dtype.name, obj.tobytes("C")), use_bin_type=True)
            return msgpack.ExtType(NDARRAY, payload)
        raise TypeError(f"cannot serialize {type(obj)}")

    Path(path).write_bytes(msgpack.packb(tree, default=default, strict_types=True))
