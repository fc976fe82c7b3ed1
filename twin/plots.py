"""PNG plots of a simulated run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from twin.figures import save_figure  # noqa: E402
import numpy as np  # noqa: E402

from twin.sim.engine import SimOutcome  # noqa: E402

__all__ = ["plot_sim"]



def plot_sim(o: SimOutcome, out: Path) -> dict[str, str]:
    """Write the standard plots; returns {role: file name}."""
    city = o.city
    days = o.series["t_s"] / 86_400
    files: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for p, name in enumerate(city.pool_names):
        line, = ax.plot(days, o.series[f"stored_bytes:{name}"] / 1e12, label=name)
        cap = city.rec_disk_bytes[city.rec_pool == p].sum() / 1e12
        ax.axhline(cap, color=line.get_color(), ls="--", lw=0.8)
    ax.set(xlabel="day", ylabel="footage stored (TB)",
           title="Storage per recorder pool (dashed: the pool's disk)")
    if len(city.pool_names) <= 20:
        ax.legend(fontsize=7, ncol=3)
    files["storage_by_pool"] = save_figure(fig, out / "storage_by_pool.png")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    online = o.cam_state != 0
    ingest = np.array([city.cam_mbps[online & (city.cam_district == d)].sum()
                       for d in range(len(city.district_names))])
    x = np.arange(len(city.district_names))
    ax.bar(x, ingest / 1e3, label="camera streams")
    ax.scatter(x, city.district_backhaul_mbps / 1e3, color="crimson", marker="_", s=300,
               label="backhaul capacity", zorder=3)
    ax.set_xticks(x, city.district_names, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel="Gbps", title="Ingest per district against its backhaul")
    ax.legend()
    files["ingest_by_district"] = save_figure(fig, out / "ingest_by_district.png")

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    r = np.arange(city.n_recorders)
    a1.bar(r, o.rec_load_mbps_max, color="tab:blue", label="peak ingest")
    a1.plot(r, city.rec_ingest_mbps, color="crimson", lw=1, label="ingest limit")
    a1.set(ylabel="Mbps", title="Ingest per recorder")
    a1.legend(fontsize=8)
    a2.bar(r - 0.2, 100 * o.rec_load_mbps_max / city.rec_ingest_mbps, width=0.4, label="ingest")
    a2.bar(r + 0.2, 100 * o.rec_peak_bytes / city.rec_disk_bytes, width=0.4, label="disk (peak)")
    a2.axhline(85, color="crimson", ls="--", lw=0.8, label="85 %")
    a2.set(xlabel="recorder number", ylabel="% of limit", title="Recorder utilisation")
    a2.legend(fontsize=8)
    files["recorder_utilisation"] = save_figure(fig, out / "recorder_utilisation.png")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for key, label in (("written", "written"), ("deleted", "deleted by retention"),
                       ("dropped", "dropped")):
        ax.plot(days, o.series[key] / 1e6, label=label)
    ax.set(xlabel="day", ylabel="segments (millions, cumulative)",
           title="Segments written, deleted and dropped")
    ax.legend()
    files["segments"] = save_figure(fig, out / "segments.png")
    for ext in o.extensions:
        files.update(ext.plot(o, out))
    return files
