"""Analytics at city scale in the simulator: an engine extension over core.city_analysis.

Theory of operation
-------------------
An engine extension (twin.sim.engine.Extension) switched on by a scenario's `analytics:`
section. Analysis reads the cameras' streams beside the recording, so it changes nothing the
recording engine computes (a test checks it metric by metric); it needs only the city and the
run's end, so the whole analysis (twin.model.city_analysis: admission, steady queues, crowd
events' fluid backlogs, each incident's alert latency) runs in `finish`, with no SimPy
process. Its plot (alert latencies, every analyser's load) is drawn by the output layer
(twin.output.sim_plots), which reads `outcome` and `settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin.model.city_analysis import SPAWN_KEY, AnalyticsOutcome, simulate_analytics
from twin.scenario.analytics import WORKLOAD_KINDS, AnalyticsSettings

if TYPE_CHECKING:
    from twin.sim.engine import CityEngine

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
        self.outcome = simulate_analytics(
            self.settings, engine.base_city, engine.end_s, self.seed, engine.draw_key
        )
        m = dict(self.outcome.metrics)
        for kind in WORKLOAD_KINDS:  # a workload the scenario does not run needs nothing
            m.setdefault(f"analytics_compute_needed_{kind}", 0.0)
        return m
