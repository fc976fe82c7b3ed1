"""Drive failures in the SimPy engine: the adapter between `drive_failure` faults and the
RAID core (twin.core.raid), run by the fault driver (twin.sim.faults).

Theory of operation
-------------------
At compile time every `drive_failure` entry gives failure times per recorder: one at
`at_s` (a fixed entry), or, with no timing, a renewal process per drive (exponential times
between failures at the pool's AFR: MTBF = 8,766 h / (afr_pct / 100); a replaced drive
starts afresh), drawn from the entry's own child of the fault seed, so adding a drive fault
never moves any other draw. All of a recorder's failures, from every entry, are replayed
through `drive_losses` with the pool's rebuild and replacement times: each failure is an
incident (fault_start at the failure, fault_end when its rebuild ends); only the failures
the RAID level cannot cover cost footage:

- RAID 5/6/10 beyond their tolerance: the array is lost, which is the engine's failed disk
  (its footage leaves the catalog, held footage too; the recorder is down until the array
  is rebuilt, and failover moves its cameras meanwhile);
- JBOD: the failed drive's footage is lost. A JBOD fills its drives in turn, so drive k
  (0: the one being written) holds the k-th newest 1/n of the recorder's footage span; that
  stretch leaves the catalog, the recorder keeps recording (its capacity is not reduced
  while the drive is replaced: a simplification, said in docs/architecture.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from twin.core.raid import RaidLayout, drive_losses
from twin.core.types import Interval

if TYPE_CHECKING:
    from twin.sim.engine import CityEngine, DiskLoss

__all__ = ["HOURS_PER_YEAR", "collect", "schedule", "drive_ok", "drive_lost"]

HOURS_PER_YEAR = 8766.0  # 365.25 days


class FaultDriver(Protocol):
    """What drive failures use of the fault driver that calls them (twin.sim.faults imports
    this module, so it is named here by what it offers; its FaultDriver fits)."""

    @property
    def engine(self) -> CityEngine: ...
    def targets(self, mem: Any) -> list[tuple[str, Any]]: ...
    def new_incident(self, kind: str, target: str, t0: float, t1: float, label: str) -> int: ...
    def push(self, t: float, kind: str, *args: Any) -> None: ...
    def event(self, t: float, kind: str, **kw: Any) -> None: ...
    def book_disk_loss(self, loss: DiskLoss) -> None: ...


def _layout(driver: FaultDriver, r: int) -> Any:
    e = driver.engine
    return e.sc.recorders.pools[int(e.city.rec_pool[r])].drives


def collect(
    driver: FaultDriver,
    f: Any,
    child: np.random.SeedSequence,
    into: dict[int, list[tuple[float, int, str]]],
) -> None:
    """Failure times (time, drive, label) of one entry, per recorder, into `into`."""
    e = driver.engine
    units = driver.targets(f)
    rng = np.random.default_rng(child)
    for label, r in units:
        d = _layout(driver, r)
        if not f.random:
            into.setdefault(r, []).append((float(f.at_s), int(f.drive), label))
            continue
        mtbf_s = HOURS_PER_YEAR * 3600.0 / (d.afr_pct / 100.0)
        n_data = d.count - d.hot_spares
        for _drive in range(d.count):
            t = float(rng.exponential(mtbf_s))
            while t < e.end_s:
                k = int(rng.integers(n_data))
                into.setdefault(r, []).append((t, k, label))
                t += float(rng.exponential(mtbf_s))


def schedule(driver: FaultDriver, fails: dict[int, list[tuple[float, int, str]]]) -> int:
    """Replay each recorder's failures through its RAID level and push what they cost;
    returns how many failures fall within the run."""
    replayed = 0
    for r in sorted(fails):
        d = _layout(driver, r)
        lay = RaidLayout(d.size_tb, d.count, d.raid, d.hot_spares)
        times = sorted(fails[r])
        losses, windows = drive_losses(
            lay, [t for t, _k, _l in times], d.rebuild_h * 3600.0, d.replace_h * 3600.0
        )
        by_time = {x.at_s: x for x in losses}
        for (t, k, label), (_t0, t1) in zip(times, windows):
            if t >= driver.engine.end_s:
                continue
            replayed += 1
            inc = driver.new_incident("drive_failure", label, t, t1, "")
            driver.push(t, "log", inc, "fault_start")
            driver.push(t1, "log", inc, "fault_end")
            loss = by_time.pop(t, None)
            if loss is None:
                driver.push(t, "drive_ok", r, inc, t1)
            elif lay.raid == "jbod":
                driver.push(t, "drive_lost", r, inc, k % lay.data_drives, lay.data_drives)
            else:
                driver.push(t, "rec_down", r, inc, True)
                driver.push(loss.until_s, "rec_up", r, inc)
    return replayed


def drive_ok(driver: FaultDriver, t: float, r: int, inc: int, until: float) -> None:
    """A failure the array covers: nothing lost, a rebuild until `until`."""
    driver.event(
        t,
        "drive_failed",
        recorder=driver.engine.city.rec_names[r],
        incident=inc,
        lost=False,
        rebuild_until_s=round(until, 6),
    )


def drive_lost(driver: FaultDriver, t: float, r: int, inc: int, k: int, n: int) -> None:
    """A JBOD drive fails: the stretch of footage it holds is lost (module docstring)."""
    e = driver.engine
    cat = e.catalog
    on = (cat.col("recorder") == r) & (cat.written(t) > cat.col("first"))
    if not on.any():
        return
    oldest = float((cat.col("start_s") + cat.col("first") * cat.col("seg_s"))[on].min())
    span = t - oldest
    hi = t - k * span / n
    lo = t - (k + 1) * span / n if k < n - 1 else -math.inf
    loss = e.lose_footage(r, Interval(max(lo, 0.0) if k < n - 1 else 0.0, hi), t)
    driver.book_disk_loss(loss)
    segs, nbytes, held, secs = loss.segments, loss.bytes, loss.held_segments, loss.stream_s
    driver.event(
        t,
        "drive_failed",
        recorder=e.city.rec_names[r],
        incident=inc,
        lost=True,
        drive=k,
        segments=segs,
        bytes=round(nbytes),
        cameras=int((secs > 0).sum()),
        held_segments=held,
    )
