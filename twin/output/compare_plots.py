"""PNG plots for comparisons and sweeps (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twin.compare.compare import DRILL_WORDS
from twin.output.figures import save_figure  # noqa: E402
from twin.output.pages.charts import variant_colours  # noqa: E402

if TYPE_CHECKING:
    from twin.compare.compare import Comparison
    from twin.compare.grid import SweepPoint, SweepResult

__all__ = ["plot_comparison", "plot_districts", "plot_sweep", "BAR_METRICS"]

#: Grouped-bar panels, when present in the runs (drill metrics are added after these).
BAR_METRICS: tuple[str, ...] = (
    "storage_needed_tb",
    "disk_total_tb",
    "storage_headroom_pct_min",
    "ingest_total_mbps",
    "backhaul_util_pct_max",
    "recorder_ingest_util_pct_max",
    "recorders",
    "recorders_needed",
    "disks",
    "disks_needed",
    "segments_dropped",
    "camera_minutes_lost",
    "recovery_s_max",
    "cost_total_hkd",
)


def plot_comparison(c: Comparison, out: Path) -> str:
    """One panel per metric, one bar per variant; a bar whose variant fails a target on
    that metric is red, and a bound shared by every variant is drawn dashed."""
    colours = variant_colours(c.labels)
    names = [r.metric for r in c.rows]
    shown = [m for m in BAR_METRICS if m in names]
    # other drill metrics only when some run measured a loss (an all-zero panel says nothing)
    shown += [
        m
        for m in names
        if any(w in m for w in DRILL_WORDS) and m not in shown and any(v for v in c.row(m).values)
    ][:6]
    ncol = 3
    nrow = max(1, math.ceil(len(shown) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.9 * nrow), squeeze=False)
    x = np.arange(len(c.columns))
    for ax, m in zip(axes.flat, shown):
        row = c.row(m)
        vals = [np.nan if v is None else v for v in row.values]
        fails = [m in col.failed_targets for col in c.columns]
        # Each variant its own colour (as in every plot of the comparison); a failure is
        # hatched with a red edge, so the colour still says which variant it is.
        ax.bar(
            x,
            vals,
            color=[colours[lab] for lab in c.labels],
            edgecolor=["crimson" if f else "none" for f in fails],
            linewidth=[2 if f else 0 for f in fails],
        )
        for xi, v, f in zip(x, vals, fails):
            if f and not np.isnan(v):
                ax.bar([xi], [v], color="none", edgecolor="crimson", hatch="///", linewidth=0)
        bounds = {(t.min, t.max) for col in c.columns for t in col.results.targets if t.metric == m}
        if len(bounds) == 1:
            lo, hi = bounds.pop()
            for b in (lo, hi):
                if b is not None:
                    ax.axhline(b, color="black", ls="--", lw=0.8)
        ax.set_title(f"{m} ({row.unit}, {row.better} is better)", fontsize=8)
        ax.set_xticks(x, c.labels, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.suptitle(
        "Variants side by side, one colour each (red hatched: the variant fails a "
        "target on this metric; dashed: the target)",
        fontsize=9,
    )
    return save_figure(fig, out / "metrics.png")


def plot_districts(c: Comparison, out: Path) -> str | None:
    """Per-district storage, ingest and backhaul capacity, variants side by side."""
    districts: list[str] = []
    for col in c.columns:
        for d in col.results.per_district:
            name: str = d["district"]  # every row of a simulated run names its district
            if name not in districts:
                districts.append(name)
    if not districts:
        return None
    panels = (
        ("storage_model_tb", 1.0, "footage over retention (TB)"),
        ("ingest_mbps", 1e3, "ingest (Gbps)"),
        ("backhaul_util_pct", 1.0, "backhaul load (% of capacity)"),
    )
    fig, axes = plt.subplots(
        3, 1, figsize=(min(16, max(9, 0.15 * len(districts) * len(c.columns))), 9), sharex=True
    )
    colours = variant_colours(c.labels)
    x = np.arange(len(districts))
    w = 0.8 / len(c.columns)
    for ax, (key, scale, title) in zip(axes, panels):
        for i, col in enumerate(c.columns):
            by = {d.get("district"): d.get(key) for d in col.results.per_district}
            vals = [np.nan if (v := by.get(n)) is None else v / scale for n in districts]
            ax.bar(
                x - 0.4 + w * (i + 0.5), vals, width=w, label=col.label, color=colours[col.label]
            )
        ax.set_ylabel(title, fontsize=8)
    axes[0].legend(fontsize=7, ncol=min(4, len(c.columns)))
    axes[-1].set_xticks(x, districts, rotation=60, ha="right", fontsize=7)
    axes[0].set_title("Per district, variants side by side")
    return save_figure(fig, out / "districts.png")


def plot_sweep(s: SweepResult, out: Path) -> str:
    """Each targeted metric (and segments dropped) against the first swept parameter, one
    line per combination of the other parameters; hollow markers fail a target."""
    x_param = s.params[0]
    targeted = sorted({t.metric for p in s.points for t in p.results.targets})
    shown = targeted + [m for m in ("segments_dropped",) if m not in targeted]
    ncol = 2
    nrow = max(1, math.ceil(len(shown) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(6 * ncol, 3.2 * nrow), squeeze=False)
    groups: dict[tuple[tuple[str, Any], ...], list[SweepPoint]] = {}
    for p in s.points:
        key = tuple((k, v) for k, v in p.values.items() if k != x_param.path)
        groups.setdefault(key, []).append(p)
    for ax, m in zip(axes.flat, shown):
        for key, pts in groups.items():
            xs = [float(p.values[x_param.path]) for p in pts]
            ys = [p.results.metrics.get(m, np.nan) for p in pts]
            label = ", ".join(f"{k}={v}" for k, v in key) or None
            (line,) = ax.plot(xs, ys, "-", lw=1, label=label)
            for xi, yi, p in zip(xs, ys, pts):
                ax.plot(
                    [xi],
                    [yi],
                    "o",
                    color=line.get_color(),
                    mfc=line.get_color() if p.passed else "white",
                )
        for t in s.points[0].results.targets if s.points else []:
            if t.metric == m:
                for b in (t.min, t.max):
                    if b is not None:
                        ax.axhline(b, color="crimson", ls="--", lw=0.8)
        ax.set(xlabel=x_param.path, title=m)
        if len(groups) > 1:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.suptitle("Sweep response (filled: meets every target; dashed: the target)", fontsize=9)
    return save_figure(fig, out / "sweep.png")
