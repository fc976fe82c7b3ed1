"""Distribution plots of replicated metrics (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twin.compare.breakpoint import RESOURCE_KINDS
from twin.output.figures import save_figure  # noqa: E402

if TYPE_CHECKING:
    from twin.compare.breakpoint import Breakpoint
    from twin.compare.replications import Draws, ReplicationResults

__all__ = ["plot_distributions", "shown_metrics"]

MAX_PANELS = 12


def shown_metrics(res: ReplicationResults) -> list[str]:
    """The targets' metrics first, then the others that vary between replications."""
    names = [t.metric for t in res.targets if t.metric in res.metrics]
    names += [m for m, d in res.metrics.items() if d.sd > 0 and m not in names]
    return names[:MAX_PANELS]


def plot_distributions(res: ReplicationResults, draws: Draws, out: Path) -> str:
    """One histogram per metric: the draws, their mean and 95 % CI, p5 and p95, and the
    target's bound (dashed) on the statistic it is judged on."""
    names = shown_metrics(res) or sorted(res.metrics)[:1]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.0 * rows), squeeze=False)
    targets = {t.metric: t for t in res.targets}
    for ax, name in zip(axes.flat, names):
        x = np.array([m[name] for m in draws.metrics if name in m], dtype=np.float64)
        d = res.metrics[name]
        t = targets.get(name)
        if d.min == d.max:  # no spread: a histogram of one bar would say nothing true
            ax.axvline(d.mean, color="#c0504d", lw=1.5, label="mean")
            ax.text(
                0.5,
                0.55,
                f"all {d.n} draws equal:\n{d.mean:,.6g} {d.unit}",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9,
            )
            if t is not None:
                for b in (t.min, t.max):
                    if b is not None:
                        ax.axvline(
                            b,
                            color="#2e7d32" if t.passed else "#b71c1c",
                            ls="--",
                            lw=1.5,
                            label=f"target ({t.stat})",
                        )
            shown = [d.mean] + ([b for b in (t.min, t.max) if b is not None] if t else [])
            pad = (max(shown) - min(shown)) * 0.15 or abs(d.mean) * 0.1 or 1.0
            ax.set_xlim(min(shown) - pad, max(shown) + pad)  # the value and its bound inside
            ax.set_yticks([])
            ax.set_title(name, fontsize=9)
            ax.set_xlabel(d.unit, fontsize=8)
            ax.tick_params(labelsize=7)
            continue
        ax.hist(x, bins=min(30, max(5, x.size // 4)), color="#9bb7d4", edgecolor="#4a6a8a")
        ax.axvspan(d.ci_low, d.ci_high, color="#f2a65a", alpha=0.35, label="95 % interval of mean")
        ax.axvline(d.mean, color="#c0504d", lw=1.5, label="mean")
        for q, style in ((d.p5, ":"), (d.p95, ":")):
            ax.axvline(q, color="#555555", ls=style, lw=1)
        if t is not None:
            for b in (t.min, t.max):
                if b is not None:
                    ax.axvline(
                        b,
                        color="#2e7d32" if t.passed else "#b71c1c",
                        ls="--",
                        lw=1.5,
                        label=f"target ({t.stat})",
                    )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(d.unit, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(
        f"{res.scenario.name}: {res.replications} replications (dotted: p5 and p95)", fontsize=10
    )
    return save_figure(fig, out / "distributions.png")


def plot_breakpoint(bp: Breakpoint, out: Path) -> str:
    """Every resource's demand (% of capacity) against load: one panel per resource kind,
    one line per pool or district, the most loaded labelled; the first failing level dashed."""
    levels = [lv.level for lv in bp.levels]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), squeeze=False)
    titles = {
        "disk": "disk (retained footage / usable disk, per pool)",
        "recorder_ingest": "recorder ingest (Mbps / limit, per pool)",
        "recorder_streams": "recorder streams (streams / limit, per pool)",
        "backhaul": "backhaul (Mbps / capacity, per district)",
    }
    binding = bp.binding()
    for ax, kind in zip(axes.flat, RESOURCE_KINDS):
        wheres = list(bp.levels[0].demand[kind])
        series = {w: [lv.demand[kind][w] for lv in bp.levels] for w in wheres}
        top = max(wheres, key=lambda w: (series[w][-1], -wheres.index(w)))
        for w in wheres:
            if w == top:
                continue
            ax.plot(levels, series[w], color="#b0b0b0", lw=0.8)
        bind = binding is not None and binding[0] == kind
        ax.plot(
            levels,
            series[top],
            color="#b71c1c" if bind else "#1f4e79",
            lw=2,
            marker="o",
            ms=3,
            label=f"{top}" + (" (binds)" if bind else ""),
        )
        ax.axhline(100, color="black", lw=0.8, ls=":")
        if bp.first_fail is not None:
            ax.axvline(
                bp.first_fail.level,
                color="#b71c1c",
                ls="--",
                lw=1,
                label=f"first failure: {bp.when()}",
            )
        ax.set_title(titles[kind], fontsize=9)
        ax.set_ylabel("% of capacity", fontsize=8)
        unit = {
            "sets": "months of growth",
            "bitrate": f"bitrate steps of {bp.growth.step_pct:g} %",
            "cameras_per_set": f"steps of {bp.growth.step_cameras:g} cameras per set",
        }
        ax.set_xlabel(unit[bp.growth.kind], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"{Path(bp.scenario).name}: growing {bp.growth.kind}; analyser compute is not grown here",
        fontsize=10,
    )
    return save_figure(fig, out / "breakpoint.png")
