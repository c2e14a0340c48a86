"""Leaderboard plots (matplotlib, Agg): FID vs steps, FID vs guidance scale, FID-vs-IS
trade-off and FID vs sampling speed with its Pareto front, one set per benchmark table.

A plot is drawn only when its x-axis has at least two distinct values in the table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    return plt, figure, axes


def _save(plt, figure, axes, path: Path, title: str, xlabel: str, ylabel: str) -> Path:
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _curves(table: pd.DataFrame, x: str, y: str, group: list[str], path: Path, title: str, xlabel: str,
            ylabel: str) -> Path | None:
    data = table.dropna(subset=[x, y])
    if data[x].nunique() < 2:
        return None
    plt, figure, axes = _figure()
    for keys, curve in data.groupby(group, dropna=False, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        label = ", ".join(f"{g}={k}" if g != "model" else str(k) for g, k in zip(group, keys) if pd.notna(k))
        curve = curve.groupby(x, as_index=False)[y].mean().sort_values(x)
        axes.plot(curve[x], curve[y], marker="o", label=label)
    return _save(plt, figure, axes, path, title, xlabel, ylabel)


def _tradeoff(table: pd.DataFrame, path: Path, title: str) -> Path | None:
    data = table.dropna(subset=["fid", "is_mean"])
    if len(data) < 2:
        return None
    plt, figure, axes = _figure()
    for keys, curve in data.groupby(["model", "steps"], dropna=False, sort=True):
        model, steps = keys
        curve = curve.sort_values("guidance", na_position="first")
        label = model if pd.isna(steps) else f"{model}, steps={int(steps)}"
        axes.plot(curve["is_mean"], curve["fid"], marker="o", label=label)
        for _, row in curve.iterrows():
            if pd.notna(row["guidance"]):
                axes.annotate(f"g={row['guidance']:g}", (row["is_mean"], row["fid"]), fontsize=7,
                              textcoords="offset points", xytext=(3, 3))
    return _save(plt, figure, axes, path, title, "Inception Score (higher is better)", "FID (lower is better)")


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """Rows not beaten on both speed (higher) and FID (lower) by another row."""
    ordered = points.sort_values(["images_per_s", "fid"], ascending=[False, True])
    best, keep = float("inf"), []
    for index, row in ordered.iterrows():
        if row["fid"] < best:
            best = row["fid"]
            keep.append(index)
    return points.loc[keep].sort_values("images_per_s")


def _speed(table: pd.DataFrame, path: Path, title: str) -> Path | None:
    data = table.dropna(subset=["fid", "images_per_s"])
    if len(data) < 2:
        return None
    plt, figure, axes = _figure()
    for model, group in data.groupby("model", sort=True):
        axes.scatter(group["images_per_s"], group["fid"], label=model, s=22)
    front = pareto_front(data)
    axes.plot(front["images_per_s"], front["fid"], color="black", linestyle="--", linewidth=1, label="Pareto front")
    axes.set_xscale("log")
    return _save(plt, figure, axes, path, title, "sampling speed (images/s, log scale)", "FID (lower is better)")


def benchmark_plots(table: pd.DataFrame, benchmark: str, folder: Path, stem: str) -> list[Path]:
    """All plots that the table has data for; returns the PNG paths written."""
    made = [
        _curves(table, "steps", "fid", ["model", "sampler", "guidance", "cfg interval"], folder / f"{stem}-fid-vs-steps.png",
                f"FID vs sampling steps\n{benchmark}", "sampling steps", "FID (lower is better)"),
        _curves(table, "guidance", "fid", ["model", "steps"], folder / f"{stem}-fid-vs-guidance.png",
                f"FID vs guidance scale\n{benchmark}", "classifier-free guidance scale", "FID (lower is better)"),
        _curves(table, "guidance", "caption_accuracy", ["model", "steps"], folder / f"{stem}-caption-vs-guidance.png",
                f"Caption accuracy vs guidance scale\n{benchmark}", "guidance scale",
                "caption accuracy (shape and colour, higher is better)"),
        _tradeoff(table, folder / f"{stem}-fid-vs-is.png", f"FID-IS trade-off over guidance\n{benchmark}"),
        _speed(table, folder / f"{stem}-fid-vs-speed.png", f"FID vs sampling speed\n{benchmark}"),
    ]
    return [p for p in made if p is not None]
