"""PNG plots of a simulated run (matplotlib, Agg backend: no display needed).

Each limit is drawn where it is, and each of the scenario's targets on it where the user
set it (`recorder_ingest_util_pct_max: {max: 85}` at 85 %, `storage_headroom_pct_min:
{min: 20}` at 80 % of the disk), never a fixed line that is nobody's target. A city of one
recorder or one pool draws as clearly as one of a hundred."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twin.model.results import Results  # noqa: E402
from twin.output.fault_plots import plot_faults  # noqa: E402
from twin.output.figures import save_figure  # noqa: E402
from twin.output.pages.charts import headroom_charts  # noqa: E402
from twin.output.run_folder import write_run_folder  # noqa: E402
from twin.sim.analytics import AnalyticsExtension  # noqa: E402
from twin.sim.engine import SimOutcome  # noqa: E402
from twin.sim.evidence import EvidenceExtension  # noqa: E402
from twin.sim.results import write_sim_tables  # noqa: E402

__all__ = ["plot_sim", "utilisation_targets", "write_sim_run", "EXTENSION_PLOTS"]

# The targets that bound a recorder's use of each limit: (metric, side).
_UTIL_TARGETS = {
    "peak ingest": ("recorder_ingest_util_pct_max", "max"),
    "peak disk": ("storage_headroom_pct_min", "min"),
    "most streams": ("recorder_streams_util_pct_max", "max"),
}


def utilisation_targets(o: SimOutcome) -> dict[str, float]:
    """The scenario's target for each recorder limit, as % of the limit (disk: 100 - the
    headroom a recorder must keep)."""
    out = {}
    for label, (metric, side) in _UTIL_TARGETS.items():
        b = o.scenario.targets.get(metric)
        if b is None:
            continue
        if side == "max" and b.max is not None:
            out[label] = b.max
        elif side == "min" and b.min is not None:
            out[label] = 100.0 - b.min
    return out


def plot_sim(o: SimOutcome, out: Path) -> dict[str, str]:
    """Write the standard plots; returns {role: file name}."""
    city = o.city
    days = o.series["t_s"] / 86_400
    files: dict[str, str] = {}

    # One small panel per pool, each on its own scale with its own disk: 18 pools in one
    # frame with ten colours cannot be told apart.
    targets = utilisation_targets(o)
    n_pools = len(city.pool_names)
    ncol = min(4, n_pools)
    nrow = math.ceil(n_pools / ncol)
    # (at least 6 inches wide, so the title of a one-pool city fits)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(max(6.0, 2.9 * ncol), 1.9 * nrow + 0.6), sharex=True, squeeze=False
    )
    for p, name in enumerate(city.pool_names):
        ax = axes.flat[p]
        stored = o.series[f"stored_bytes:{name}"] / 1e12
        cap = city.rec_disk_bytes[city.rec_pool == p].sum() / 1e12
        ax.fill_between(days, stored, color="steelblue", alpha=0.35, lw=0)
        ax.plot(days, stored, color="steelblue", lw=1)
        ax.axhline(cap, color="crimson", lw=1)
        if "peak disk" in targets:  # the headroom every recorder must keep, pool-wide
            ax.axhline(cap * targets["peak disk"] / 100, color="darkorange", ls="--", lw=0.9)
        peak = float(stored.max(initial=0))
        ax.set_ylim(0, max(cap, peak) * 1.18)
        ax.set_title(
            f"{name}: peak {peak:,.0f} of {cap:,.0f} TB ({100 * peak / cap:.0f} %)",
            fontsize=7,
            loc="left",
        )
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n_pools:]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("TB", fontsize=7)
    for c in range(ncol):  # the lowest panel of each column carries the day axis
        ax = axes[(n_pools - 1 - c) // ncol if c > (n_pools - 1) % ncol else nrow - 1, c]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("day", fontsize=7)
    fig.suptitle(
        "Footage stored per recorder pool (TB; red line: the pool's disk"
        + (
            f"; dashed: the scenario's target, {targets['peak disk']:g} % of it)"
            if "peak disk" in targets
            else ")"
        ),
        fontsize=9,
    )
    files["storage_by_pool"] = save_figure(fig, out / "storage_by_pool.png")

    online = o.cam_state != 0
    ingest = np.array(
        [
            city.cam_mbps[online & (city.cam_district == d)].sum()
            for d in range(len(city.district_names))
        ]
    )
    order = np.argsort(-(ingest / city.district_backhaul_mbps), kind="stable")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(order))
    ax.bar(x, ingest[order] / 1e3, label="camera streams (Gbps)")
    ax.scatter(
        x,
        city.district_backhaul_mbps[order] / 1e3,
        color="crimson",
        marker="_",
        s=300,
        label="backhaul capacity (Gbps)",
        zorder=3,
    )
    backhaul = o.scenario.targets.get("backhaul_util_pct_max")
    if backhaul is not None and backhaul.max is not None:
        ax.scatter(
            x,
            city.district_backhaul_mbps[order] / 1e3 * backhaul.max / 100,
            color="darkorange",
            marker="_",
            s=300,
            zorder=3,
            linestyle="--",
            label=f"the scenario's target, {backhaul.max:g} % of capacity",
        )
    ax.set_xticks(x, [city.district_names[i] for i in order], rotation=60, ha="right", fontsize=7)
    ax.set(ylabel="Gbps", title="Ingest per district against its backhaul (busiest first)")
    ax.legend()
    files["ingest_by_district"] = save_figure(fig, out / "ingest_by_district.png")

    # Every recorder, sorted by how close it runs to each limit (the names of the tightest
    # are in the headroom chart of the report).
    fig, ax = plt.subplots(figsize=(9, 4.5))
    rank = np.arange(1, city.n_recorders + 1)
    few = city.n_recorders <= 20  # a line through one point draws nothing: mark each
    for util, label in (
        (100 * o.rec_load_mbps_max / city.rec_ingest_mbps, "peak ingest"),
        (100 * o.rec_peak_bytes / city.rec_disk_bytes, "peak disk"),
        (100 * o.rec_streams_max / city.rec_max_streams, "most streams"),
    ):
        (line,) = ax.plot(
            rank, np.sort(util)[::-1], lw=1.5, label=label, marker="o" if few else None
        )
        if label in targets:
            ax.axhline(
                targets[label],
                color=line.get_color(),
                ls="--",
                lw=0.9,
                label=f"{label}: the scenario's target, {targets[label]:g} %",
            )
    ax.axhline(100, color="crimson", lw=1, label="limit")
    ax.set(
        xlabel="recorders, tightest first",
        ylabel="% of the recorder's limit",
        title=f"Recorder utilisation, each of {city.n_recorders} recorders sorted per limit"
        if city.n_recorders > 1
        else "Recorder utilisation, the one recorder, per limit",
    )
    if city.n_recorders == 1:
        ax.set_xticks([1])
    ax.set_ylim(0, max(110.0, ax.get_ylim()[1]))
    ax.legend(fontsize=8)
    files["recorder_utilisation"] = save_figure(fig, out / "recorder_utilisation.png")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for key, label in (
        ("written", "written"),
        ("deleted", "deleted by retention"),
        ("dropped", "dropped"),
    ):
        ax.plot(days, o.series[key] / 1e6, label=label)
    ax.set(
        xlabel="day",
        ylabel="segments (millions, cumulative)",
        title="Segments written, deleted and dropped",
    )
    ax.legend()
    files["segments"] = save_figure(fig, out / "segments.png")
    for ext in o.extensions:  # each extension's own plots, in the engine's order
        draw = EXTENSION_PLOTS.get(ext.name)
        if draw is not None:
            files.update(draw(ext, o, out))
    return files


def plot_analytics(ext: AnalyticsExtension, outcome: SimOutcome, out: Path) -> dict[str, str]:
    """Alert latencies (all incidents, and those during crowd events) and every analyser's
    load outside bursts against the admission limit."""
    o = ext.outcome
    if o is None or not o.latency_s.size:
        return {}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    lat = np.sort(o.latency_s)
    ax1.plot(lat, np.arange(1, lat.size + 1) / lat.size, label="all incidents")
    if o.in_burst.any():
        bl = np.sort(o.latency_s[o.in_burst])
        ax1.plot(bl, np.arange(1, bl.size + 1) / bl.size, label="during crowd events")
    for q, ls in ((50, ":"), (95, "--"), (99, "-.")):
        ax1.axvline(
            float(np.percentile(o.latency_s, q)),
            color="grey",
            ls=ls,
            label=f"p{q} {np.percentile(o.latency_s, q):.2f} s",
        )
    ax1.set_xlabel("incident to alert, s")
    ax1.set_ylabel("share of alerts")
    ax1.set_title("Alert latency")
    ax1.legend(fontsize=8)
    u = np.sort(o.analyser_util_pct)[::-1]
    ax2.plot(np.arange(u.size), u)
    ax2.axhline(ext.settings.pool.max_util_pct, color="red", ls="--", label="admission limit")
    ax2.set_xlabel("analysers, busiest first")
    ax2.set_ylabel("load outside bursts, % of units")
    ax2.set_title(f"Analysers ({ext.settings.pool.type}, {ext.settings.pool.device})")
    ax2.legend(fontsize=8)
    name = "analytics.png"
    save_figure(fig, out / name)
    plt.close(fig)
    return {"analytics": name}


def plot_evidence(ext: EvidenceExtension, outcome: SimOutcome, out: Path) -> dict[str, str]:
    """The evidence storage held over the run and the approval times; the trail and its
    tables are written first (the one call given the output folder for them)."""
    ext.write_files(out)
    files: dict[str, str] = {}
    series = ext.locker.bytes_held_series()
    t = [0.0] + [s for s, _ in series] + [outcome.end_s]
    b = [0.0] + [x for _, x in series]
    b.append(b[-1])
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.step(np.asarray(t) / 86_400, np.asarray(b) / 1e12, where="post")
    ax.set(
        xlabel="day",
        ylabel="evidence copies held (TB)",
        title=f"Evidence storage ({ext.counts['evidence_requests']} preservation requests)",
    )
    files["evidence_storage"] = save_figure(fig, out / "evidence_storage.png")

    fig, ax = plt.subplots(figsize=(9, 4))
    hours = np.asarray(ext.approval_times_s) / 3600
    if hours.size:
        ax.hist(hours, bins=40)
        for q, ls in ((50, "--"), (95, ":")):
            ax.axvline(float(np.percentile(hours, q)), color="crimson", ls=ls, label=f"p{q}")
        ax.legend()
    ax.set(
        xlabel="hours from request to approval",
        ylabel="approved requests",
        title=f"Approval times ({hours.size} approved of {ext.counts['access_requests']})",
    )
    files["approval_times"] = save_figure(fig, out / "approval_times.png")
    return files


# An extension's plots by its name (twin.sim.extensions): the engine draws nothing, so the
# output layer finds what to draw for each extension a run had. The footage ledger has none.
EXTENSION_PLOTS: dict[str, Callable[[Any, SimOutcome, Path], dict[str, str]]] = {
    "analytics": plot_analytics,
    "evidence": plot_evidence,
    "faults": plot_faults,
}


def write_sim_run(res: Results, outcome: SimOutcome, out: Path) -> None:
    """A simulated run's folder: its CSVs, the headroom charts, the engine's and its
    extensions' plots, then the files every run folder has."""
    tables = write_sim_tables(outcome, out)
    plots = {**headroom_charts(res, out), **plot_sim(outcome, out)}
    write_run_folder(res, tables, plots, out)
