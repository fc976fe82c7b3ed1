"""Will the city fit in memory? An estimate from the scenario alone, before anything is built.

The engine is columnar (twin/model/city.py, twin/sim/engine.py): its memory grows with the
cameras, with recorders x time-series samples, and, with an `evidence:` section, with the
camera-days of requests it plans. The per-unit figures below were measured with tracemalloc
(peak over generate_city and a whole run) on the shipped 7,000-set scenarios and on the same
city scaled 4x and 10x: 560-940 bytes per camera without evidence (call it 1,000), ~135 bytes
per camera-day more with it (call it 200), 8 bytes per float of each series. The total is
then taken 1.5 times, for what tracemalloc does not see (allocator slack, temporaries of the
writer and the result tables). So the estimate errs on the large side, by design: refusing
a city that would just have fitted costs a smaller scenario; building one that does not fit
costs the machine.

The limit is the memory available now (psutil), or CCTV_TWIN_MEMORY_LIMIT_MB when it is set
(to keep a shared machine's runs small, and for tests).

Random faults (`mtbf_h`) are counted too: a fault entry draws about targets x hours / mtbf_h
incidents over the run, each one events, a record and camera moves. Over MAX_INCIDENTS the
run is refused whatever the memory: a city-wide drill of a million faults is a typo in mtbf_h
(hours, not seconds), not a drill.
"""

from __future__ import annotations

import os

import psutil

from twin.errors import ScenarioError
from twin.scenario.faults import (
    BackhaulCut,
    DiskFailure,
    DiskFill,
    DistrictPower,
    FaultGroup,
    FaultTiming,
    RecorderCrash,
    RelayDown,
    SetPower,
)
from twin.scenario.model import Scenario

__all__ = [
    "BYTES_PER_CAMERA",
    "MAX_INCIDENTS",
    "estimate_bytes",
    "expected_incidents",
    "memory_limit_bytes",
    "check_fits",
    "LIMIT_ENV",
]

BYTES_PER_CAMERA = 1_000
BYTES_PER_INCIDENT = 2_000
MAX_INCIDENTS = 1_000_000
BYTES_PER_EVIDENCE_CAMERA_DAY = 200
SLACK = 1.5
LIMIT_ENV = "CCTV_TWIN_MEMORY_LIMIT_MB"


def estimate_bytes(sc: Scenario, days: float | None = None) -> int:
    """Peak bytes a run of scenario `sc` (over `days`, default the scenario's) should take."""
    w = sc.city.cameras_per_set
    total_w = sum(w.values())
    cams_per_set = sum(k * v for k, v in w.items()) / total_w if total_w > 0 else 3.0
    cameras = sc.city.total_sets * cams_per_set
    n_days = sc.simulation.days if days is None else days
    recorders = sum(p.recorders for p in sc.recorders.pools)
    samples = n_days * 86_400 / sc.simulation.sample_s + 1
    series = 8 * samples * (2 * recorders + 2 * len(sc.city.districts) + 16)
    evidence = BYTES_PER_EVIDENCE_CAMERA_DAY * cameras * n_days if sc.evidence else 0
    faults = BYTES_PER_INCIDENT * sum(n for _, n in expected_incidents(sc, n_days))
    return int(SLACK * (BYTES_PER_CAMERA * cameras + series + evidence + faults))


def _targets(sc: Scenario, f: FaultTiming) -> int:
    if isinstance(f, FaultGroup):
        return 1  # its members start and end together: one draw for all
    if isinstance(f, (RecorderCrash, DiskFailure, DiskFill)):
        return sum(p.recorders for p in sc.recorders.pools) if f.recorder == "*" else 1
    if isinstance(f, (BackhaulCut, DistrictPower)):
        return len(sc.city.districts) if f.district == "*" else 1
    if isinstance(f, RelayDown):
        return len(sc.city.districts) + 1 if f.relay == "*" else 1
    if isinstance(f, SetPower):
        return sc.city.total_sets if f.camera_set == "*" else 1
    raise TypeError(f"{type(f).__name__}: a fault with no known target (add it to _targets)")


def expected_incidents(sc: Scenario, days: float) -> list[tuple[int, float]]:
    """(fault index, expected incidents over `days`) of each randomly timed fault."""
    return [
        (i, _targets(sc, f) * days * 24 / f.mtbf_h)
        for i, f in enumerate(sc.faults)
        if f.mtbf_h is not None
    ]


def memory_limit_bytes() -> tuple[int, str]:
    """(limit, where it comes from)."""
    env = os.environ.get(LIMIT_ENV)
    if env:
        try:
            mb = float(env)
        except ValueError:
            mb = -1.0
        if not mb > 0:
            raise ScenarioError(
                f"{LIMIT_ENV}={env!r}: expected a positive number of MB, e.g. "
                f"{LIMIT_ENV}=4000, or unset it to use the available memory"
            )
        return int(mb * 1e6), f"{LIMIT_ENV}"

    return int(psutil.virtual_memory().available), "memory available on this machine"


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def check_fits(sc: Scenario, source: str, days: float | None = None) -> None:
    """Raise ScenarioError (naming the estimate, the limit and the fix) if the run would not
    fit in memory."""
    n_days = sc.simulation.days if days is None else days
    for i, n in expected_incidents(sc, n_days):
        if n > MAX_INCIDENTS:
            f = sc.faults[i]
            raise ScenarioError(
                f"{source}: faults[{i}] ({f.type}, mtbf_h {f.mtbf_h:g}) would draw about "
                f"{n:,.0f} faults over {n_days:g} days, over the {MAX_INCIDENTS:,} a run can "
                "carry out; mtbf_h is the mean time between failures of each target in hours: "
                "raise it, or name one target instead of '*'"
            )
    need = estimate_bytes(sc, days)
    limit, where = memory_limit_bytes()
    if need > limit:
        raise ScenarioError(
            f"{source}: this city would need about {_gb(need)} of memory to build and simulate "
            f"({sc.city.total_sets:,} sets, {sum(p.recorders for p in sc.recorders.pools):,} "
            f"recorders), over the limit of {_gb(limit)} ({where}); nothing was built. Make the "
            "city smaller (city.districts[].sets, city.rollout), the run shorter "
            "(simulation.days) or sample less often (simulation.sample_s), or run it on a "
            "machine with more memory"
        )
