"""`python -m bench report`: leaderboards and plots generated from results/records alone.

One table per benchmark (dataset x feature net x reference regime), so numbers computed
against different references or feature networks never share a column; within a table,
FIDs from different sample counts carry their count beside them. Every checkpoints.yaml
card without a record is still listed, with its published numbers and 'not run'.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from bench.checkpoints import ModelCard, Published, load_all_cards, load_cards
from bench.metrics.base import HIGHER_IS_BETTER
from bench.store import load_records

METRIC_COLUMNS = ("fid", "is_mean", "precision", "recall", "accuracy", "caption_accuracy", "colour_accuracy",
                  "clip_score", "linear_probe_top1", "linear_probe_top1_random_init")
# Record sampler fields shown as setting columns (absent fields stay empty); the MUSE and
# aMUSEd samplers call their temperature `temperature`. MAR and eMIGM keep their papers' `cfg`,
# where 1 (not 0) means no guidance, and eMIGM guides only inside its interval column.
SETTING_COLUMNS = {"steps": "steps", "guidance_scale": "guidance", "cfg": "guidance",
                   "choice_temperature": "temperature", "temperature": "temperature"}


def cfg_interval(sampler: Mapping[str, Any]) -> str | None:
    """eMIGM's guidance interval as the paper writes it, (t_min, t_max]."""
    if "cfg_t_min" not in sampler:
        return None
    return f"({sampler['cfg_t_min']:g}, {sampler['cfg_t_max']:g}]"
VERDICTS = ("reproduced", "not reproduced", "no published number", "no tolerance declared")


def benchmark_key(record: Mapping[str, Any]) -> str:
    reference = record["reference"]
    regime = reference.get("regime")
    return " | ".join(p for p in (reference["dataset"], reference["feature_net"], regime) if p)


def network_evaluations(sampler: Mapping[str, Any], sampler_name: str | None = None) -> int | None:
    """Transformer forward passes per image: one per step, two with classifier-free guidance
    (cond and uncond share one batched call, but each costs a forward). Each sampler says
    when its guidance needs the second one (`forwards_per_step`)."""
    steps = sampler.get("steps")
    if steps is None:
        return None
    from bench.registry import SAMPLERS, load_all

    load_all()
    if sampler_name in SAMPLERS.names():
        sampler_class = SAMPLERS.get(sampler_name)
        if hasattr(sampler_class, "network_evaluations"):  # guidance on some steps only (eMIGM's interval)
            return sampler_class.network_evaluations(sampler)
        return steps * sampler_class.forwards_per_step(sampler)
    return steps * (2 if sampler.get("guidance_scale") else 1)


def _metric_value(record: Mapping[str, Any], key: str) -> float | None:
    entry = record["metrics"].get(key)
    return None if entry is None else entry["value"]


def _metric_std(record: Mapping[str, Any], key: str) -> float | None:
    entry = record["metrics"].get(key)
    return None if entry is None else entry.get("std")


def matching_published(card: ModelCard | None, metric: str, sampler: Mapping[str, Any]) -> Published | None:
    """The card's published number for `metric` whose sampler settings this run used; the
    most specific one (most matching settings) wins, then the first listed."""
    if card is None:
        return None
    matches = [
        p for p in card.published
        if p.metric == metric and all(sampler.get(k) == v for k, v in p.sampler_overrides.items())
    ]
    return max(matches, key=lambda p: len(p.sampler_overrides), default=None)


def verdict(ours: float | None, published: Published | None, tolerance: float | None) -> str:
    if published is None or ours is None:
        return "no published number"
    if tolerance is None:
        return "no tolerance declared"
    return "reproduced" if abs(ours - published.value) <= tolerance else "not reproduced"


def records_frame(records: list[dict], cards: Mapping[str, ModelCard] | None = None) -> pd.DataFrame:
    """One row per record: settings, metrics, speed, the published FID and the verdict."""
    cards = cards or {}
    # a multi-seed run's per-seed records stay on disk, but its one row (mean ± std) stands for them
    summarized = {h for record in records for h in record.get("seed_records", ())}
    rows = []
    for record in (r for r in records if r["config_hash"] not in summarized):
        probe = record.get("task") == "linear-probe"  # scores an encoder: no sampler, no generated images
        sampler = {} if probe else record["config"]["run"].get("sampler", {})
        card = cards.get(record["card"])
        headline = "linear_probe_top1" if probe else "fid"
        fid = _metric_value(record, headline)
        published = matching_published(card, headline, sampler)
        num_samples = record["config"]["run"]["probe"]["test_images"] if probe else record["config"]["run"]["num_samples"]
        row: dict[str, Any] = {"model": record["card"], "benchmark": benchmark_key(record),
                               "sampler": None if probe else record["config"].get("sampler_name")}
        row.update({label: None for label in SETTING_COLUMNS.values()})
        row.update({label: sampler[key] for key, label in SETTING_COLUMNS.items() if key in sampler})
        row["cfg interval"] = cfg_interval(sampler)
        row["nfe"] = network_evaluations(sampler, record["config"].get("sampler_name"))
        row.update({key: _metric_value(record, key) for key in METRIC_COLUMNS})
        row["fid_std"] = _metric_std(record, "fid")
        row["seeds"] = len(record["metrics"].get("fid", {}).get("per_seed", [])) or 1
        row.update({
            "num_samples": num_samples,
            "images_per_s": record["timing"]["images_per_s"],
            "published_fid": published.value if published else None,
            "delta_fid": fid - published.value if published and fid is not None else None,
            "verdict": verdict(fid, published, card.tolerance.get(headline) if card else None),
            "published_n": published.num_samples if published else None,
            "record": f"records/{record['config_hash']}.json",
        })
        rows.append(row)
    return pd.DataFrame(rows)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _header(key: str) -> str:
    return f"{key} {'↑' if HIGHER_IS_BETTER.get(key, True) else '↓'}"


def _format_table(table: pd.DataFrame) -> str:
    shown = table.copy()
    if shown["fid_std"].notna().any():
        shown["fid"] = [
            f"{f:.4g} ± {s:.2g}" if pd.notna(s) else (f"{f:.4g}" if pd.notna(f) else "")
            for f, s in zip(shown["fid"], shown["fid_std"])
        ]
    counts = shown["num_samples"].unique()
    if len(counts) > 1:
        shown["fid"] = [f"{f} (n={n})" for f, n in zip(shown["fid"], shown["num_samples"])]
    mismatched = shown["published_n"].notna() & (shown["published_n"] != shown["num_samples"])
    shown.loc[mismatched, "verdict"] = [
        f"{v} (n={n} vs published n={int(p)})"
        for v, n, p in zip(shown.loc[mismatched, "verdict"], shown.loc[mismatched, "num_samples"],
                           shown.loc[mismatched, "published_n"])
    ]
    shown = shown.drop(columns=["benchmark", "fid_std", "published_n"]).dropna(axis=1, how="all")
    shown = shown.rename(columns={c: _header(c) for c in METRIC_COLUMNS if c in shown})
    return shown.to_markdown(index=False, floatfmt=".4g")


def write_reports(results: Path, out: Path, plots: bool = True) -> tuple[list[Path], list[str]]:
    """Write leaderboard.md (+ .csv, + plots/*.png) and an index README; return the paths
    written and one message per record file that was skipped (named, never dropped silently)."""
    records, problems = load_records(results)
    cards, _ = load_cards()
    out.mkdir(parents=True, exist_ok=True)
    frame = records_frame(records, cards)
    written: list[Path] = []
    lines = ["# mgm-bench leaderboard", "",
             "Generated by `python -m bench report` from results/records; do not edit. "
             "One table per benchmark (dataset | feature net | reference regime): figures from different "
             "tables are not comparable.", ""]
    if not frame.empty:
        frame = frame.sort_values(["benchmark", "model", "sampler", "steps", "guidance", "temperature"], na_position="first")
        for benchmark, table in frame.groupby("benchmark", sort=True):
            lines += [f"## {benchmark}", "", _format_table(table), ""]
            if plots:
                from bench.plots import benchmark_plots

                images = benchmark_plots(table, benchmark, out / "plots", slug(benchmark))
                written += images
                lines += [f"![{p.stem}](plots/{p.name})" for p in images] + [""]
    seen = set(frame["model"]) if not frame.empty else set()
    not_run = [name for name in sorted(cards) if name not in seen]
    if not_run:
        lines += ["## Cards without a record", "", "| model | benchmark | metric | published | n | source | status |",
                  "|---|---|---|---|---|---|---|"]
        for name in not_run:
            card = cards[name]
            bench = " / ".join(p for p in (card.benchmark.dataset, card.benchmark.feature_net, card.benchmark.regime) if p)
            for p in card.published or ():
                lines.append(f"| {name} | {bench} | {p.metric} | {p.value} | {p.num_samples or '-'} | {p.source} | not run |")
            if not card.published:
                lines.append(f"| {name} | {bench} | - | - | - | - | not run (no published number) |")
        lines.append("")
    unreleased = load_all_cards()["unreleased"]
    if unreleased:
        lines += ["## Published without released weights", "", "| model | metric | published | reference | source |",
                  "|---|---|---|---|---|"]
        for name, card in sorted(unreleased.items()):
            lines += [f"| {name} | {p.metric} | {p.value} | {p.reference or '-'} | {p.source} |" for p in card.published]
        lines.append("")
    if problems:
        lines += ["## Skipped records", ""] + [f"- {p}" for p in problems] + [""]
    markdown = out / "leaderboard.md"
    markdown.write_text("\n".join(lines))
    csv = out / "leaderboard.csv"
    frame.to_csv(csv, index=False)
    index = out / "README.md"
    index.write_text(
        "# reports/\n\nGenerated by `python -m bench report` from `results/records` alone; never edited by hand.\n\n"
        f"- [leaderboard.md](leaderboard.md): {len(frame)} records in "
        f"{frame['benchmark'].nunique() if not frame.empty else 0} benchmark tables, "
        f"{len(not_run)} cards not run yet\n"
        "- [leaderboard.csv](leaderboard.csv): the same rows, machine-readable\n"
        + "".join(f"- [plots/{p.name}](plots/{p.name})\n" for p in written)
    )
    return [markdown, csv, index, *written], problems
