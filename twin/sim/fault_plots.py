"""Plots of a run with faults: cameras unrecorded over time, the largest gap per camera,
recorder load before and after (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from twin.figures import save_figure  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from twin.sim.engine import SimOutcome
    from twin.sim.faults import FaultDriver

__all__ = ["plot_faults"]



def plot_faults(d: FaultDriver, o: SimOutcome, out: Path) -> dict[str, str]:
    city = o.city
    files: dict[str, str] = {}
    e = d.engine

    s = np.array(e.unrecorded_series + [(o.end_s, e.unrecorded)], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    span = o.end_s
    unit, scale = ("hour", 3600.0) if span <= 3 * 86_400 else ("day", 86_400.0)
    ax.step(s[:, 0] / scale, s[:, 1], where="post", color="crimson", lw=1)
    for inc in d.incidents:
        ax.axvline(inc["start_s"] / scale, color="grey", lw=0.5, alpha=0.5)
    ax.set(xlabel=unit, ylabel="cameras not recording",
           title="Cameras unrecorded over time (grey: fault starts)")
    files["cameras_unrecorded"] = save_figure(fig, out / "cameras_unrecorded.png")

    gap = (o.gap_max_s * o.admitted)
    gap = gap[gap > 0]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    if gap.size:
        hi = max(gap.max(), 1.0)
        bins = np.unique(np.geomspace(max(gap.min(), 1.0), hi * 1.0001, 40))
        ax.hist(gap, bins=bins if bins.size > 1 else 10, color="tab:blue")
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
