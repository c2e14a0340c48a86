"""`python -m bench sweep`: the cartesian product of settings, each point one normal run.

    python -m bench sweep model=toy-maskgit sweep.steps=[4,8,12] sweep.guidance=[0,1,3]
    python -m bench sweep model=toy-maskgit sweep.preset=maskgit-standard num_samples=5000

`sweep.<axis>=[v1,v2,...]` adds an axis. An axis is either a run key (`sweep.sampler.steps`,
`sweep.seed`) or a short name the model's sampler declares in its `sweep_axes`
(`steps`, `temperature`, `guidance` for MaskGIT). Every other key=value is fixed for all
points. Every point is resolved (and so validated) before the first image is drawn; a
point whose record exists is reused, and an interrupted point resumes from its shards.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from bench.errors import BadOverrideError
from bench.run import ResolvedRun, execute, resolve
from reimpl.registry import did_you_mean

# Named grids: short axis names as the sampler declares them, or full run keys.
PRESETS: dict[str, dict[str, list[Any]]] = {
    "maskgit-standard": {"steps": [4, 8, 12, 16], "guidance": [0.0, 1.0, 3.0]},
    "maskgit-temperature": {"steps": [8], "temperature": [1.0, 2.0, 4.5, 8.0]},
    "toy-ci": {"steps": [8], "guidance": [0.0, 2.0]},
    "muse-guidance": {"guidance": [0.0, 1.0, 3.0, 5.0]},
    # UnlockMGM's comparison: every sampler of a MaskGIT model over the same step counts
    "sampler-steps": {"steps": [4, 8, 12, 16]},
    # eMIGM: iterations x the end of the CFG interval (its start stays the card's cfg_t_min)
    "emigm-interval": {"steps": [8, 16], "cfg-t-max": [0.3, 0.6, 1.0]},
}


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    settings: dict[str, Any]  # axis key -> value, for display
    run: ResolvedRun


def split_sweep_overrides(overrides: Mapping[str, str]) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Separate `sweep.*` axes (parsed to lists) from the fixed overrides."""
    axes: dict[str, list[Any]] = {}
    fixed = {k: v for k, v in overrides.items() if not k.startswith("sweep.")}
    for key, value in overrides.items():
        if not key.startswith("sweep."):
            continue
        axis = key[len("sweep."):]
        if axis == "preset":
            if value not in PRESETS:
                raise BadOverrideError(f"unknown sweep preset {value!r}{did_you_mean(value, sorted(PRESETS))}",
                                       hint=f"choose one of: {', '.join(sorted(PRESETS))}")
            for name, values in PRESETS[value].items():
                axes.setdefault(name, list(values))
            continue
        parsed = yaml.safe_load(value) if value else None
        values = parsed if isinstance(parsed, list) else [parsed]
        if not values or any(v is None for v in values):
            raise BadOverrideError(f"sweep axis {key}={value!r} has no values", hint=f"e.g. {key}=[4,8,12]")
        axes[axis] = values
    if not axes:
        raise BadOverrideError("a sweep needs at least one axis",
                               hint="e.g. sweep.steps=[4,8,12] or sweep.preset=maskgit-standard")
    return axes, fixed


def _axis_key(axis: str, sampler_axes: Mapping[str, str]) -> str:
    """A short axis name -> the run key it sets; run keys pass through."""
    if "." in axis or axis not in sampler_axes:
        return axis
    return f"sampler.{sampler_axes[axis]}"


def _as_override(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def plan(overrides: Mapping[str, str]) -> list[SweepPoint]:
    """Every point of the grid, resolved; any bad key or value fails here, before sampling."""
    from bench.registry import SAMPLERS, load_all

    load_all()
    axes, fixed = split_sweep_overrides(overrides)
    base = resolve(fixed)  # validates the fixed part and names the card and its sampler (sampler.name may swap it)
    sampler_name = base.sampler_name
    sampler_axes = getattr(SAMPLERS.get(sampler_name), "sweep_axes", {}) if sampler_name else {}
    keys = {axis: _axis_key(axis, sampler_axes) for axis in axes}
    for axis, key in keys.items():
        if key in fixed:
            raise BadOverrideError(f"{key} is both fixed and swept (sweep.{axis})", hint="give it once")
        if "." not in axis and axis not in sampler_axes and key == axis and not _is_run_key(axis):
            known = sorted(sampler_axes)
            raise BadOverrideError(
                f"unknown sweep axis {axis!r}{did_you_mean(axis, known)}",
                hint=f"short axes of sampler {sampler_name!r}: {', '.join(known) or 'none'}; "
                     "or sweep any run key, e.g. sweep.sampler.steps=[4,8]",
            )
    points = []
    for values in itertools.product(*axes.values()):
        settings = dict(zip(axes, values))
        point_overrides = {**fixed, **{keys[a]: _as_override(v) for a, v in settings.items()}}
        points.append(SweepPoint(settings, resolve(point_overrides)))
    return points


def _is_run_key(key: str) -> bool:
    from bench.config import RunConfig, field_paths

    return key in field_paths(RunConfig)


def run_sweep(
    overrides: Mapping[str, str], results: Path, progress: bool = True, log: Callable[[str], None] = print
) -> list[tuple[SweepPoint, dict]]:
    points = plan(overrides)
    log(f"sweep: {len(points)} points")
    done = []
    for i, point in enumerate(points, 1):
        label = " ".join(f"{k}={v}" for k, v in point.settings.items())
        log(f"[{i}/{len(points)}] {label}")
        done.append((point, execute(point.run, results, progress=progress, log=log)))
    return done


def format_sweep(done: list[tuple[SweepPoint, dict]]) -> str:
    if not done:
        return "(empty sweep)"
    axes = list(done[0][0].settings)
    metrics = ("fid", "is_mean", "precision", "recall", "accuracy", "caption_accuracy", "colour_accuracy", "clip_score")
    header = axes + [m for m in metrics if m in done[0][1]["metrics"]] + ["images/s", "record"]
    rows = [header]
    for point, record in done:
        speed = record["timing"]["images_per_s"]
        rows.append(
            [str(point.settings[a]) for a in axes]
            + [f"{record['metrics'][m]['value']:.4g}" for m in metrics if m in done[0][1]["metrics"]]
            + [f"{speed:.1f}" if speed else "-", record["config_hash"]]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
