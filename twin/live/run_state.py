"""`live/run-state.json`: what a live run's driver knows, kept in the run folder as it goes.

The driver writes it when the run starts (phase `starting`), when recording starts and then
every `EVERY_S` while it records (phase `recording`), and when it starts stopping (phase
`stopping`), each time whole (written to a temporary file, then renamed over the old one):
the scenario as run, the driver's PID and start time, how Ray was had (its own or a joined
cluster), and every field of the run's outcome (twin.live.run.LiveOutcome) that the driver
has so far: where everything was placed, the clock's epoch and `t0`, each fault's record,
samples, sweeps, events, the recorders' last heartbeats and the analysers' last snapshots.
If the driver dies, `twin live --recover` (twin.live.recover) rebuilds the outcome from it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    import simpy

    from twin.live.driver import LiveDriver
    from twin.live.failover import Supervisor
    from twin.live.outcome import LiveOutcome
    from twin.live.parts import RayParts

__all__ = ["STATE_FILE", "STATE_SCHEMA", "EVERY_S", "save_state", "keep_state", "plain"]

STATE_FILE = "run-state.json"
STATE_SCHEMA = "cctv-twin/live-run-state"
EVERY_S = 1.0  # while recording: the driver's death is known to this much (without a watchdog)

#: Outcome fields not kept: rebuilt from the scenario and the folder, or measured at the end.
_NOT_KEPT = {
    "scenario",
    "settings",
    "run_dir",
    "store_path",
    "segments_root",
    "node_reports",
    "placement",
    "recorder_stats",
    "publisher_stats",
}


def plain(x: Any) -> Any:
    """`x` as JSON values: dataclasses as dicts, tuples and sets as lists, paths as text;
    what has no JSON form (a handle, a NaN) as None."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [plain(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, bool) or x is None or isinstance(x, (str, int)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    item = getattr(x, "item", None)  # a numpy scalar
    if callable(item):
        return plain(item())
    return None


def _driver() -> dict[str, Any]:
    return {"pid": os.getpid(), "create_time": psutil.Process().create_time()}


def save_state(
    o: LiveOutcome,
    phase: str,
    *,
    driver: LiveDriver | None = None,
    sup: Supervisor | None = None,
    parts: RayParts | None = None,
) -> None:
    """Write `live/run-state.json` for `o` now (the module docstring); `driver`, `sup` and
    `parts` (while recording) add what only they hold so far. Never raises: a state that
    cannot be written costs only the recovery of a run whose driver dies."""
    try:
        _save(o, phase, driver, sup, parts)
    except Exception:  # noqa: BLE001 - the run goes on without it
        pass


def _save(
    o: LiveOutcome,
    phase: str,
    driver: LiveDriver | None,
    sup: Supervisor | None,
    parts: RayParts | None,
) -> None:
    out: dict[str, Any] = {
        f.name: plain(getattr(o, f.name)) for f in dataclasses.fields(o) if f.name not in _NOT_KEPT
    }
    if o.placement is not None:
        out["placement"] = plain(o.placement)
    planned = None
    if driver is not None:
        planned = driver.cfg.t_end - driver.cfg.t0
        out["faults"] = plain(driver.log.records)
        out["samples"] = plain(driver.samples)
        out["sweeps"] = plain(driver.sweeps)
    if sup is not None:
        out["final_assignment"] = plain(sup.assignment())
    live: dict[str, Any] = {}
    if parts is not None:
        live = {
            "heartbeats": plain(parts.latest),
            "dead_heartbeats": plain(parts.dead_stats),
            "analyser_snapshots": plain(
                list(parts.analyser_snapshots.values()) + list(parts.analyser_done)
            ),
            "parts": plain(parts.current()),
            "pid_history": plain(parts.pid_history),
            "recovered": [[r, plain(rec)] for r, rec in parts.recovered],
            "ray_temp_dir": str(parts.ray_temp_dir or ""),
        }
    sc = o.scenario
    cal = sc.loaded_calibration
    state = {
        "schema": STATE_SCHEMA,
        "phase": phase,
        "saved_at": time.time(),
        "driver": _driver(),
        "planned_s": planned,
        "ray": "own" if not os.environ.get("RAY_ADDRESS", "").strip() else "joined",
        "scenario": sc.model_dump(mode="json", exclude_unset=True),
        "calibration": None
        if cal is None
        else {"named": sc.calibration, "data": cal.calibration.model_dump(mode="json")},
        "outcome": out,
        "live": live,
    }
    path = Path(o.run_dir) / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True, allow_nan=False))
    tmp.replace(path)


def keep_state(
    env: simpy.Environment, o: LiveOutcome, driver: LiveDriver, sup: Supervisor, parts: RayParts
) -> Generator[simpy.Event, Any, None]:
    """A process of the driver's: the state written every EVERY_S while it records."""
    while True:
        save_state(o, "recording", driver=driver, sup=sup, parts=parts)
        yield env.timeout(EVERY_S)
