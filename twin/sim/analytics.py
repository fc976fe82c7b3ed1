"""Analytics at city scale in the simulator: an engine extension over core.city_analysis.

Theory of operation
-------------------
An engine extension (twin.sim.engine.Extension) switched on by a scenario's `analytics:`
section. Analysis reads the cameras' streams beside the recording, so it changes nothing the
recording engine computes (a test checks it metric by metric); it needs only the city and the
run's end, so the whole analysis (twin.core.city_analysis: admission, steady queues, crowd
events' fluid backlogs, each incident's alert latency) runs in `finish`, with no SimPy
process. `plot` draws the alert latencies and every analyser's load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin.core.city_analysis import SPAWN_KEY, AnalyticsOutcome, simulate_analytics
from twin.scenario.analytics import WORKLOAD_KINDS, AnalyticsSettings

if TYPE_CHECKING:
    from twin.sim.engine import CityEngine, SimOutcome

__all__ = ["SPAWN_KEY", "AnalyticsExtension", "AnalyticsOutcome", "simulate_analytics"]


class AnalyticsExtension:
    """The analysis of the run's city (module docstring); no SimPy process of its own."""

    name = "analytics"

    def __init__(self, settings: AnalyticsSettings, seed: int) -> None:
        self.settings = settings
        self.seed = seed
        self.outcome: AnalyticsOutcome | None = None

    def attach(self, engine: CityEngine) -> None:
        self.draw_key = engine.draw_key

    def finish(self, engine: CityEngine) -> dict[str, float]:
        self.outcome = simulate_analytics(self.settings, engine.base_city, engine.end_s,
                                          self.seed, engine.draw_key)
        m = dict(self.outcome.metrics)
        for kind in WORKLOAD_KINDS:  # a workload the scenario does not run needs nothing
            m.setdefault(f"analytics_compute_needed_{kind}", 0.0)
        return m

    def plot(self, outcome: SimOutcome, out: Path) -> dict[str, str]:
        import matplotlib.pyplot as plt

        from twin.figures import save_figure

        o = self.outcome
        if o is None or not o.latency_s.size:
            return {}
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        lat = np.sort(o.latency_s)
        ax1.plot(lat, np.arange(1, lat.size + 1) / lat.size, label="all incidents")
        if o.in_burst.any():
            bl = np.sort(o.latency_s[o.in_burst])
            ax1.plot(bl, np.arange(1, bl.size + 1) / bl.size, label="during crowd events")
        for q, ls in ((50, ":"), (95, "--"), (99, "-.")):
            ax1.axvline(float(np.percentile(o.latency_s, q)), color="grey", ls=ls,
                        label=f"p{q} {np.percentile(o.latency_s, q):.2f} s")
        ax1.set_xlabel("incident to alert, s")
        ax1.set_ylabel("share of alerts")
        ax1.set_title("Alert latency")
        ax1.legend(fontsize=8)
        u = np.sort(o.analyser_util_pct)[::-1]
        ax2.plot(np.arange(u.size), u)
        ax2.axhline(self.settings.pool.max_util_pct, color="red", ls="--", label="admission limit")
        ax2.set_xlabel("analysers, busiest first")
        ax2.set_ylabel("load outside bursts, % of units")
        ax2.set_title(f"Analysers ({self.settings.pool.type}, {self.settings.pool.device})")
        ax2.legend(fontsize=8)
        name = "analytics.png"
        save_figure(fig, out / name)
        plt.close(fig)
        return {"analytics": name}
