"""The results store: one JSON record per fully resolved run config, keyed by its hash.

    <results>/records/<config_hash>.json    the record (atomic temp-file + rename)
    <results>/samples/<config_hash>/        uint8 sample shards (resumable)
    <results>/cache/reference/<key>.npz     reference statistics

The root is $MGM_RESULTS_DIR, else ./results.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import torch

import reimpl

SCHEMA_VERSION = 1


def results_root(override: str | Path | None = None) -> Path:
    return Path(override or os.environ.get("MGM_RESULTS_DIR", "results"))


@dataclasses.dataclass(frozen=True)
class StorePaths:
    root: Path

    def record(self, config_hash: str) -> Path:
        return self.root / "records" / f"{config_hash}.json"

    def samples(self, config_hash: str) -> Path:
        return self.root / "samples" / config_hash

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def read_record(path: Path) -> dict:
    """Load one record; a broken file raises ValueError naming it."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable record ({error})") from None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION or "metrics" not in record:
        raise ValueError(f"{path}: not a schema-{SCHEMA_VERSION} run record")
    return record


def load_records(root: Path) -> tuple[list[dict], list[str]]:
    """All readable records under root, plus one message per file that was skipped."""
    records, problems = [], []
    for path in sorted((root / "records").glob("*.json")):
        try:
            records.append(read_record(path))
        except ValueError as error:
            problems.append(str(error))
    return records, problems


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout the code runs from (None outside git)."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"version": reimpl.__version__, "git_sha": sha, "dirty": bool(status) if status is not None else None}


def environment(device: str) -> dict[str, Any]:
    name = torch.cuda.get_device_name() if device == "cuda" and torch.cuda.is_available() else platform.processor() or "cpu"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
        "device_name": name,
        "threads": torch.get_num_threads(),
        "world_size": int(os.environ.get("WORLD_SIZE", 1)),
        "dtype": "float32",
    }


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def iter_record_paths(root: Path) -> Iterator[Path]:
    yield from sorted((root / "records").glob("*.json"))
