"""Plots of a run with faults: cameras unrecorded over time, the largest gap per camera,
recorder load before and after (matplotlib, Agg backend).

Degenerate data reads as a sentence, not as a broken plot: gaps that are all equal (every
camera of a lost recorder waits the same failover) give "All 198 affected cameras had the
same largest gap: 45 s", not a histogram whose axis reads 4.5x10^1, 4.5001x10^1; a drill in
which no recorder's load changed (power, backhaul, the relay: cameras cut off upstream) says
so. The recorder-load plot shows the recorders that failed or took cameras, by name, not
every recorder by number."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twin.output.figures import save_figure  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from twin.sim.engine import SimOutcome
    from twin.sim.faults import FaultDriver

__all__ = ["plot_faults", "gap_sentence", "moved_recorders"]

#: Recorders the load plot names at most: the failed ones and those whose load changed most.
LOAD_ROWS = 30
#: A recorder whose load moved less than this share of its ingest limit did not take cameras.
MOVED_PCT = 0.5
_RECORDER_FAULTS = ("recorder_crash", "disk_failure", "drive_failure")


def _sentence_figure(text: str, path: Path) -> str:
    """A figure that is one sentence: what the data says when there is nothing to plot."""
    fig, ax = plt.subplots(figsize=(9, 1.6))
    ax.axis("off")
    ax.text(
        0.5, 0.5, text, ha="center", va="center", fontsize=12, wrap=True, transform=ax.transAxes
    )
    return save_figure(fig, path)


def gap_sentence(gap: np.ndarray) -> str | None:
    """The gaps in one sentence when a histogram would say nothing (none, or all equal)."""
    if gap.size == 0:
        return "No camera had a gap in its recording."
    if float(gap.min()) == float(gap.max()):
        n = f"{gap.size:,} affected camera" + ("s" if gap.size > 1 else "")
        return (
            f"All {n} had the same largest gap: {float(gap.max()):,.0f} s."
            if gap.size > 1
            else f"One affected camera; its largest gap: {float(gap.max()):,.0f} s."
        )
    return None


def moved_recorders(
    before: np.ndarray, peak: np.ndarray, end: np.ndarray, limit: np.ndarray, failed: set[int]
) -> list[int]:
    """The recorders the load plot shows: those that failed, then those whose load moved by
    at least MOVED_PCT of their limit, most moved first (at most LOAD_ROWS)."""
    moved = np.maximum(np.abs(peak - before), np.abs(end - before)) / limit * 100
    rest = [
        int(r)
        for r in np.argsort(-moved, kind="stable")
        if moved[r] >= MOVED_PCT and int(r) not in failed
    ]
    return (sorted(failed) + rest)[:LOAD_ROWS]


def _zoom_window(
    s: np.ndarray, incidents: list[dict[str, Any]], span: float
) -> tuple[float, float, float] | None:
    """(start, end, fault start) of a window around the first fault, wide enough to show the
    cameras going unrecorded and coming back; None without faults."""
    if not incidents:
        return None
    tf = min(float(i["start_s"]) for i in incidents)
    before = s[s[:, 0] < tf, 1]
    level = float(before[-1]) if before.size else 0.0
    after = s[s[:, 0] >= tf]
    rose = np.flatnonzero(after[:, 1] > level)
    back = None
    if rose.size:
        later = np.flatnonzero((after[:, 1] <= level) & (np.arange(len(after)) > rose[0]))
        back = float(after[later[0], 0]) if later.size else None
    w = max(60.0, (back - tf) if back is not None else 600.0)
    return max(0.0, tf - 0.5 * w), min(span, tf + 2.0 * w), tf


def _unrecorded_panel(
    ax: Axes,
    s: np.ndarray,
    incidents: list[dict[str, Any]],
    t0: float,
    t1: float,
    scale: float,
    xlabel: str,
    origin: float = 0.0,
    legend: Literal["upper right", "upper left"] = "upper right",
) -> None:
    """The unrecorded count as a step line from t0 to t1, each fault shaded and labelled."""
    inside = (s[:, 0] >= t0) & (s[:, 0] <= t1)
    idx = np.flatnonzero(inside)
    if idx.size and idx[0] > 0:
        idx = np.concatenate([[idx[0] - 1], idx])  # the level in force at t0
    pts = s[idx] if idx.size else s[-1:]
    xs = (np.clip(pts[:, 0], t0, t1) - origin) / scale
    xs = np.append(xs, (t1 - origin) / scale)
    ys = np.append(pts[:, 1], pts[-1, 1])
    for k, inc in enumerate(incidents):
        a = float(inc["start_s"])
        b = float(inc["end_s"]) if inc["end_s"] is not None else t1
        if b < t0 or a > t1:
            continue
        lo, hi = (max(a, t0) - origin) / scale, (min(b, t1) - origin) / scale
        ax.axvspan(
            lo,
            max(hi, lo + (t1 - t0) / scale * 0.003),
            color="orange",
            alpha=0.25,
            lw=0,
            label="fault" if k == 0 else None,
        )
        ax.axvline((a - origin) / scale, color="darkorange", lw=1)
        if k < 6:
            ax.annotate(
                f"{inc['kind']} {inc['target']}",
                ((a - origin) / scale, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -10 - 10 * k),
                textcoords="offset points",
                fontsize=7,
                color="saddlebrown",
            )
    ax.step(xs, ys, where="post", color="crimson", lw=1.5, label="cameras not recording")
    ax.set_xlim((t0 - origin) / scale, (t1 - origin) / scale)
    ax.set_ylim(0, max(1.0, float(ys.max(initial=0))) * 1.3)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("cameras not recording", fontsize=8)
    ax.legend(fontsize=7, loc=legend)


def plot_faults(d: FaultDriver, o: SimOutcome, out: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    e = d.engine

    s = np.array(e.unrecorded_series + [(o.end_s, e.unrecorded)], dtype=np.float64)
    span = o.end_s
    unit, scale = ("hour", 3600.0) if span <= 3 * 86_400 else ("day", 86_400.0)
    zoom = _zoom_window(s, d.incidents, span)
    fig, axes = plt.subplots(2 if zoom else 1, 1, figsize=(10, 7.5 if zoom else 4.5), squeeze=False)
    peak = float(s[:, 1].max(initial=0))
    _unrecorded_panel(
        axes[0, 0], s, d.incidents, 0.0, span, scale, f"{unit} of the run", legend="upper left"
    )
    axes[0, 0].set_title(
        f"Cameras unrecorded over the whole run (peak {peak:,.0f}; shaded: "
        "each fault, start to end)",
        fontsize=9,
        loc="left",
    )
    if zoom:
        t0, t1, tf = zoom
        ax = axes[1, 0]
        _unrecorded_panel(
            ax, s, d.incidents, t0, t1, 1.0, "seconds from the fault's start", origin=tf
        )
        ax.set_title("Around the first fault (x: seconds from its start)", fontsize=9, loc="left")
    files["cameras_unrecorded"] = save_figure(fig, out / "cameras_unrecorded.png")

    gap = o.gap_max_s * o.admitted
    gap = gap[gap > 0]
    said = gap_sentence(gap)
    if said is not None:
        files["gap_distribution"] = _sentence_figure(said, out / "gap_distribution.png")
    else:
        files["gap_distribution"] = _gap_histogram(gap, out / "gap_distribution.png")
    files["recorder_load_faults"] = _load_plot(d, o, out / "recorder_load_faults.png")
    return files


def _gap_histogram(gap: np.ndarray, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    if gap.size:
        hi = max(gap.max(), 1.0)
        bins = np.unique(np.geomspace(max(gap.min(), 1.0), hi * 1.0001, 40))
        ax.hist(gap, bins=list(bins) if bins.size > 1 else 10, color="tab:blue")
        ax.set_xscale("log")
        ax.axvline(gap.max(), color="crimson", ls="--", lw=0.8, label=f"max {gap.max():,.0f} s")
        ax.legend()
    ax.set(
        xlabel="largest gap of the camera (s, log scale)",
        ylabel="cameras",
        title=f"Largest gap per affected camera ({gap.size:,} cameras)",
    )
    return save_figure(fig, path)


def _load_plot(d: FaultDriver, o: SimOutcome, path: Path) -> str:
    """The recorders that failed or took cameras, named: ingest before the first fault, at
    its peak after it, and at the end, as % of each one's limit."""
    city, e = o.city, d.engine
    before = d.load_before[0] if d.load_before is not None else np.zeros(city.n_recorders)
    lim = city.rec_ingest_mbps
    index = {name: i for i, name in enumerate(city.rec_names)}
    failed = {
        index[i["target"]]
        for i in d.incidents
        if i["kind"] in _RECORDER_FAULTS and i["target"] in index
    }
    rows = moved_recorders(before, d.load_peak_mbps, e.rec_phys_mbps, lim, failed)
    if not rows:
        return _sentence_figure(
            "No recorder's load changed: the faults cut cameras off "
            "upstream of the recorders, and no camera moved.",
            path,
        )
    r = np.array(rows)
    x = np.arange(r.size)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * r.size + 3), 4.5))
    ax.bar(x - 0.27, 100 * before[r] / lim[r], width=0.27, label="before the first fault")
    ax.bar(x, 100 * d.load_peak_mbps[r] / lim[r], width=0.27, label="peak after it")
    ax.bar(x + 0.27, 100 * e.rec_phys_mbps[r] / lim[r], width=0.27, label="at the end")
    names = [
        city.rec_names[i]
        + (" (failed)" if i in failed else "")
        + (" (standby)" if e.standby[i] else "")
        for i in rows
    ]
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=7)
    for tick, i in zip(ax.get_xticklabels(), rows):
        if i in failed:
            tick.set_color("crimson")
    ax.axhline(100, color="crimson", lw=0.8)
    ax.set(ylabel="% of ingest limit")
    ax.set_title(
        f"Recorders that failed or took cameras ({r.size} of {city.n_recorders}; "
        "red line: the limit)",
        fontsize=9,
        loc="left",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, path)
