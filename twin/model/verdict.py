"""Which targets a run is judged on: `live_*` metrics are measured by `twin live` only.

A scenario may carry targets for both engines (a live trial's are on live_* metrics); a
simulated run cannot measure those, so comparing tools skip them rather than fail them.
"""

from __future__ import annotations

from twin.model.results import Results, TargetVerdict

__all__ = ["LIVE_ONLY_PREFIX", "live_only", "judged_targets", "failed_targets", "passed"]

LIVE_ONLY_PREFIX = "live_"


def live_only(metric: str, engine: str) -> bool:
    """A target this engine cannot measure: `live_*` metrics on a simulated run."""
    return engine == "simulate" and metric.startswith(LIVE_ONLY_PREFIX)


def judged_targets(r: Results) -> list[TargetVerdict]:
    return [t for t in r.targets if not live_only(t.metric, r.engine)]


def failed_targets(r: Results) -> list[TargetVerdict]:
    return [t for t in judged_targets(r) if not t.passed]


def passed(r: Results) -> bool:
    return not failed_targets(r)
