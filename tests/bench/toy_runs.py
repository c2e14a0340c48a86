"""Shared by the slow toy-quality tests: run one configuration through the real harness and
return its metric entries."""

from __future__ import annotations

from pathlib import Path

from bench.config import parse_overrides
from bench.run import execute, resolve


def metric_entries(results: Path, *overrides: str) -> dict[str, dict]:
    """-> {metric: {"value": ..., "std": ... (multi-seed runs)}} of the record `overrides` produce."""
    record = execute(resolve(parse_overrides(list(overrides))), results, progress=False, log=print)
    print(overrides, {key: entry["value"] for key, entry in record["metrics"].items()})
    return record["metrics"]


def metric_values(results: Path, *overrides: str) -> dict[str, float]:
    return {key: entry["value"] for key, entry in metric_entries(results, *overrides).items()}
