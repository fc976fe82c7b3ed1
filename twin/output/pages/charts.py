"""Headroom charts drawn from a `Results` alone, so every report (a simulated run, a live
run, a scenario of `twin check`, a variant of a comparison) gets the same readable view at
city scale: one sorted bar per pool, per district or per recorder, against its limit,
instead of one line per pool in a single frame (matplotlib, Agg backend).

Each chart draws the limit (red) and, where the scenario sets a target on that resource,
the target where the user set it (dashed: 70 % for a backhaul target of `max: 70`, 80 % for
a disk headroom target of `min: 20`), as load tools draw each threshold; a bar past the
target is amber, past the limit red. Without a target only the limit is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twin.model.results import Results  # noqa: E402
from twin.output.figures import save_figure  # noqa: E402
from twin.output.pages.summary import Limit, district_limits, fmt, pool_limits, recorder_limits  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["headroom_charts", "variant_colours", "pool_headroom_by_variant", "TOP_RECORDERS"]

#: Recorders shown per limit: the tightest ones (all of them are in results.json).
TOP_RECORDERS = 12
TARGET_COLOUR = "darkorange"


def _bar_colour(util: float, target: float | None) -> str:
    if util >= 100:
        return "crimson"
    return TARGET_COLOUR if target is not None and util > target + 1e-9 else "steelblue"


def _hbars(
    ax: Axes, rows: Sequence[Limit], title: str, label_unit_scale: tuple[str, float]
) -> None:
    """Sorted horizontal bars of % of the limit, tightest on top, each labelled used / limit;
    the limit drawn, and the scenario's target for this resource where it has one."""
    unit, scale = label_unit_scale
    names = [r.name for r in rows]
    util = np.array([r.util_pct for r in rows])
    target = rows[0].target_pct if rows else None  # one kind of resource per chart
    y = np.arange(len(rows))[::-1]
    ax.barh(y, util, color=[_bar_colour(u, target) for u in util], height=0.7)
    top = max(110.0, float(util.max(initial=0)) * 1.25)
    for yi, r in zip(y, rows):
        ax.text(
            min(r.util_pct, top) + top * 0.01,
            yi,
            f"{r.util_pct:.1f} %  ({fmt(r.used / scale)} of {fmt(r.limit / scale)} {unit})",
            va="center",
            fontsize=7,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
        )
    ax.axvline(100, color="crimson", lw=1.2, label="limit")
    ax.text(100, len(rows) - 0.4, " limit", color="crimson", fontsize=7, va="bottom")
    if target is not None:
        ax.axvline(target, color=TARGET_COLOUR, lw=1.2, ls="--", label="target")
        ax.text(
            target,
            len(rows) - 0.4,
            f"target {target:g} % ",
            color=TARGET_COLOUR,
            fontsize=7,
            va="bottom",
            ha="right",
        )
        xlabel = (
            f"% of the limit (red line: the limit; dashed: the scenario's target, {target:g} %)"
        )
    else:
        xlabel = "% of the limit (red line: the limit; the scenario sets no target on it)"
    ax.set_yticks(y, names, fontsize=7)
    ax.set_xlim(0, top * 1.35)
    ax.set_ylim(-0.7, len(rows) - 0.1)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
    ax.tick_params(axis="x", labelsize=7)


def _figure(rows: Sequence[Limit], title: str, unit_scale: tuple[str, float], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(9, 0.26 * len(rows) + 1.3))
    _hbars(ax, rows, title, unit_scale)
    return save_figure(fig, path)


def headroom_charts(res: Results, out: Path) -> dict[str, str]:
    """Write the headroom charts this run's results support; returns {role: file name}."""
    files: dict[str, str] = {}
    pools = pool_limits(res)
    if pools:
        files["pool_headroom"] = _figure(
            pools,
            "Peak footage per recorder pool against the pool's disk (tightest on top)",
            ("TB", 1.0),
            out / "pool_headroom.png",
        )
    districts = district_limits(res)
    if districts:
        files["district_headroom"] = _figure(
            districts,
            "Backhaul load per district against its capacity (tightest on top)",
            ("Gbps", 1e3),
            out / "district_headroom.png",
        )
    recs = {k: v[:TOP_RECORDERS] for k, v in recorder_limits(res).items() if v}
    if recs:
        titles = {
            "recorder-ingest": ("peak ingest against the ingest limit", ("Mbps", 1.0)),
            "recorder-disk": ("peak footage against the disk", ("TB", 1.0)),
            "recorder-streams": ("most streams against the stream limit", ("streams", 1.0)),
        }
        n = max(len(v) for v in recs.values())
        fig, axes = plt.subplots(
            len(recs), 1, figsize=(9, len(recs) * (0.24 * n + 1.0)), squeeze=False
        )
        total = len(res.per_recorder)
        for ax, (kind, rows) in zip(axes[:, 0], recs.items()):
            what, us = titles[kind]
            _hbars(ax, rows, f"The {len(rows)} tightest of {total} recorders: {what}", us)
        files["recorder_headroom"] = save_figure(fig, out / "recorder_headroom.png")
    return files


def variant_colours(labels: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """One colour per variant, the same in every plot of a comparison (in column order)."""
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}


def pool_headroom_by_variant(
    labels: Sequence[str], results: Sequence[Results], path: Path
) -> str | None:
    """Per pool, one bar per variant (its colour): peak footage as % of the pool's disk,
    pools sorted by their tightest variant."""
    per = [{p.name: p for p in pool_limits(r)} for r in results]
    pools = sorted(
        {n for d in per for n in d}, key=lambda n: (-max(d[n].util_pct for d in per if n in d), n)
    )
    if not pools:
        return None
    colours = variant_colours(labels)
    k = len(labels)
    h = 0.8 / k
    fig, ax = plt.subplots(figsize=(9, max(2.5, len(pools) * (0.09 * k + 0.1) + 1.2)))
    y = np.arange(len(pools))[::-1]
    for i, (lab, d) in enumerate(zip(labels, per)):
        vals = [d[n].util_pct if n in d else np.nan for n in pools]
        ax.barh(y + 0.4 - h * (i + 0.5), vals, height=h, color=colours[lab], label=lab)
    ax.axvline(100, color="crimson", lw=1.2)
    worst = max(d[n].util_pct for d in per for n in d)
    ax.set_xlim(0, max(110.0, worst * 1.1))
    ax.set_ylim(-0.6, len(pools) - 0.4)
    ax.set_yticks(y, pools, fontsize=7)
    ax.set_xlabel("peak footage, % of the pool's disk (red line: the disk)", fontsize=8)
    ax.set_title(
        "Disk used per recorder pool, variants side by side (tightest on top)",
        fontsize=9,
        loc="left",
    )
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
