"""Will the city fit in memory? An estimate from the scenario alone, before anything is built.

The engine is columnar (twin/city.py, twin/sim/engine.py): its memory grows with the
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
"""

from __future__ import annotations

import os

from twin.errors import ScenarioError

__all__ = ["BYTES_PER_CAMERA", "estimate_bytes", "memory_limit_bytes", "check_fits",
           "LIMIT_ENV"]

BYTES_PER_CAMERA = 1_000
BYTES_PER_EVIDENCE_CAMERA_DAY = 200
SLACK = 1.5
LIMIT_ENV = "CCTV_TWIN_MEMORY_LIMIT_MB"


def estimate_bytes(sc, days: float | None = None) -> int:
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
    return int(SLACK * (BYTES_PER_CAMERA * cameras + series + evidence))


def memory_limit_bytes() -> tuple[int, str]:
    """(limit, where it comes from)."""
    env = os.environ.get(LIMIT_ENV)
    if env:
        try:
            mb = float(env)
        except ValueError:
            mb = -1.0
        if not mb > 0:
            raise ScenarioError(f"{LIMIT_ENV}={env!r}: expected a positive number of MB, e.g. "
                                f"{LIMIT_ENV}=4000, or unset it to use the available memory")
        return int(mb * 1e6), f"{LIMIT_ENV}"
    import psutil

    return int(psutil.virtual_memory().available), "memory available on this machine"


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def check_fits(sc, source: str, days: float | None = None) -> None:
    """Raise ScenarioError (naming the estimate, the limit and the fix) if the run would not
    fit in memory."""
    need = estimate_bytes(sc, days)
    limit, where = memory_limit_bytes()
    if need > limit:
        raise ScenarioError(
            f"{source}: this city would need about {_gb(need)} of memory to build and simulate "
            f"({sc.city.total_sets:,} sets, {sum(p.recorders for p in sc.recorders.pools):,} "
            f"recorders), over the limit of {_gb(limit)} ({where}); nothing was built. Make the "
            "city smaller (city.districts[].sets, city.rollout), the run shorter "
            "(simulation.days) or sample less often (simulation.sample_s), or run it on a "
            "machine with more memory")
