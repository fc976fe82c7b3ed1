"""Plots of a run with faults: cameras unrecorded over time, the largest gap per camera,
recorder load before and after (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from twin.figures import save_figure  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from twin.sim.engine import SimOutcome
    from twin.sim.faults import FaultDriver

__all__ = ["plot_faults"]



def _zoom_window(s: np.ndarray, incidents: list[dict[str, Any]],
                 span: float) -> tuple[float, float, float] | None:
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


def _unrecorded_panel(ax: Axes, s: np.ndarray, incidents: list[dict[str, Any]], t0: float,
                      t1: float, scale: float,
                      xlabel: str, origin: float = 0.0,
                      legend: Literal["upper right", "upper left"] = "upper right") -> None:
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
        ax.axvspan(lo, max(hi, lo + (t1 - t0) / scale * 0.003), color="orange", alpha=0.25,
                   lw=0, label="fault" if k == 0 else None)
        ax.axvline((a - origin) / scale, color="darkorange", lw=1)
        if k < 6:
            ax.annotate(f"{inc['kind']} {inc['target']}", ((a - origin) / scale, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(3, -10 - 10 * k),
                        textcoords="offset points", fontsize=7, color="saddlebrown")
    ax.step(xs, ys, where="post", color="crimson", lw=1.5, label="cameras not recording")
    ax.set_xlim((t0 - origin) / scale, (t1 - origin) / scale)
    ax.set_ylim(0, max(1.0, float(ys.max(initial=0))) * 1.3)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("cameras not recording", fontsize=8)
    ax.legend(fontsize=7, loc=legend)


def plot_faults(d: FaultDriver, o: SimOutcome, out: Path) -> dict[str, str]:
    city = o.city
    files: dict[str, str] = {}
    e = d.engine

    s = np.array(e.unrecorded_series + [(o.end_s, e.unrecorded)], dtype=np.float64)
    span = o.end_s
    unit, scale = ("hour", 3600.0) if span <= 3 * 86_400 else ("day", 86_400.0)
    zoom = _zoom_window(s, d.incidents, span)
    fig, axes = plt.subplots(2 if zoom else 1, 1, figsize=(10, 7.5 if zoom else 4.5),
                             squeeze=False)
    peak = float(s[:, 1].max(initial=0))
    _unrecorded_panel(axes[0, 0], s, d.incidents, 0.0, span, scale, f"{unit} of the run",
                      legend="upper left")
    axes[0, 0].set_title(f"Cameras unrecorded over the whole run (peak {peak:,.0f}; shaded: "
                         "each fault, start to end)", fontsize=9, loc="left")
    if zoom:
        t0, t1, tf = zoom
        ax = axes[1, 0]
        _unrecorded_panel(ax, s, d.incidents, t0, t1, 1.0, "seconds from the fault's start",
                          origin=tf)
        ax.set_title("Around the first fault (x: seconds from its start)", fontsize=9, loc="left")
    files["cameras_unrecorded"] = save_figure(fig, out / "cameras_unrecorded.png")

    gap = (o.gap_max_s * o.admitted)
    gap = gap[gap > 0]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    if gap.size:
        hi = max(gap.max(), 1.0)
        bins = np.unique(np.geomspace(max(gap.min(), 1.0), hi * 1.0001, 40))
        ax.hist(gap, bins=list(bins) if bins.size > 1 else 10, color="tab:blue")
        ax.set_xscale("log")
        ax.axvline(gap.max(), color="crimson", ls="--", lw=0.8, label=f"max {gap.max():,.0f} s")
        ax.legend()
    ax.set(xlabel="largest gap of the camera (s, log scale)", ylabel="cameras",
           title=f"Largest gap per affected camera ({gap.size:,} cameras)")
    files["gap_distribution"] = save_figure(fig, out / "gap_distribution.png")

    before = d.load_before[0] if d.load_before is not None else np.zeros(city.n_recorders)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    r = np.arange(city.n_recorders)
    lim = city.rec_ingest_mbps
    ax.bar(r - 0.27, 100 * before / lim, width=0.27, label="before the first fault")
    ax.bar(r, 100 * d.load_peak_mbps / lim, width=0.27, label="peak after it")
    ax.bar(r + 0.27, 100 * e.rec_phys_mbps / lim, width=0.27, label="at the end")
    sb = np.flatnonzero(e.standby)
    if sb.size:
        ax.scatter(sb, np.full(sb.size, -3), marker="^", color="black", s=12, label="standby")
    ax.axhline(100, color="crimson", lw=0.8)
    ax.set(xlabel="recorder number", ylabel="% of ingest limit",
           title="Recorder load before and after the faults (red: the limit)")
    ax.legend(fontsize=8)
    files["recorder_load_faults"] = save_figure(fig, out / "recorder_load_faults.png")
    return files
