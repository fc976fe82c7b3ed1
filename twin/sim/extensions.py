"""Which engine extensions a scenario switches on (see twin.sim.engine.Extension).

One place that maps scenario sections to the SimPy processes that simulate them, so the
recording engine stays unaware of faults, failover, evidence handling and the other
programme rules: a CityEngine runs exactly the extensions it is given.
"""

from __future__ import annotations

from twin.scenario import Scenario
from twin.sim.analytics import AnalyticsExtension
from twin.sim.engine import Extension
from twin.sim.evidence import EvidenceExtension
from twin.sim.faults import FaultDriver
from twin.sim.simulated_scenario import FootageLedger

__all__ = ["extensions_for"]


def extensions_for(sc: Scenario) -> list[Extension]:
    """The extensions for a scenario, in a fixed order (so runs stay deterministic): faults
    and failover first (when the scenario has `faults:` or standby recorders), then evidence.
    """
    out: list[Extension] = []
    if sc.faults or sc.failover.standby_per_pool:
        out.append(FaultDriver(sc))
    if sc.evidence is not None:
        out.append(EvidenceExtension(sc.evidence, sc.seed, sc.recording.retention_s))
    if sc.analytics is not None:
        out.append(AnalyticsExtension(sc.analytics, sc.seed))
    if sc.live is not None:  # measured as the live run measures it, for `twin compare`
        out.append(FootageLedger())
    return out
