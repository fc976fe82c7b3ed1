"""The deployment `twin simulate` runs for a scenario: the scenario itself, with its live run's
terms when it has a `live:` section, and what its calibration file measured.

A live scenario is one deployment for both engines (twin/live/run_settings.py is the live
side): simulated over `live.duration_s` (the time `twin live` records), with the retention
compressed by `live.time_compression` as the live run keeps it, and the live heartbeat
(`live.heartbeat_interval_s`, `heartbeat_timeout_s` as a whole number of missed beats). The
faults are the scenario's own in both engines. A calibration's reassignment time, when it has
one, replaces `failover.reassign_s` (its bytes per nominal Mbps are applied where the city's
footage rates are made, twin.model.city).

The failover curve (`failover_curve`): a calibration's `failover_reconnect_s_per_camera`,
`relay_recovery_s`, `power_reconnect_s` and `recorder_fragment_s`, each when it has one,
replace `failover.reconnect_s_per_camera`, `failover.relay.recovery_s`,
`failover.power_reconnect_s` and `recording.fragment_s`. A
live scenario with no measured fragment keeps what its recorders' container keeps of a
crash: fragmented MP4 a fragment every 0.2 s, MPEG-TS every frame (1 / fps). results.json
names each term's value and source (`failover_curve`) whenever one is not today's default
from the scenario itself.

"As a live run ran it" (`detect_shift_s`, `twin simulate --as-run RUN`, `twin check --live`):
a live run on a loaded machine may detect a crashed recorder later than its heartbeat plan
says. Figures that depend on that timing (each recorder's ingest, footage lost, recovery)
are then compared with a simulation whose cameras move when the live run's did: the live
run's detection in excess of the simulation's (`live_detect_shift`) is added to the
reassignment time, and the simulation's results say so (an `as_live_run` event). The
simulation's own detection stays the plan's, so the fidelity table states both.

`FootageLedger` is the extension that measures, in a live scenario's simulation, what the live
run measures from its files: footage bytes and camera-seconds written, per recorder and in all
(integrated exactly over every change of a recorder's rate), the cameras each recorder was
given at the start, and what each fault cost (a `fault_cost` event per fault: cameras hit,
camera-seconds lost, by the simulation's rule that a stop loses the segment under way, or,
with `recording.fragment_s`, that a crash keeps it up to its last fragment). It adds no SimPy
event, so the run is the same to the last bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.core.failover import detection_time
from twin.model.results import Results
from twin.scenario import Scenario
from twin.scenario.faults import Heartbeat
from twin.sim.engine import CityEngine

__all__ = [
    "simulated_scenario",
    "live_detect_shift",
    "FootageLedger",
    "failover_curve",
    "failover_curve_record",
]

_RECONNECT = "failover.reconnect_s_per_camera"
_RELAY = "failover.relay.recovery_s"
_POWER = "failover.power_reconnect_s"
_FRAGMENT = "recording.fragment_s"
# The live recorder's fragment per container (twin/live/recorder.py, _MUX_OPTIONS): fragmented
# MP4 cuts one at least every 0.2 s (frag_duration 200000 us); MPEG-TS flushes each packet,
# so it keeps up to the last frame (1 / fps, below).
_LIVE_FRAGMENT_S = {"mp4": 0.2}


def failover_curve(sc: Scenario) -> dict[str, tuple[float | None, str]]:
    """The failover curve's terms the simulation of `sc` uses, each with where it came from:
    the calibration file (its measured value replaces the scenario's), a live scenario's
    recorder container (the fragment, when no calibration measured it), or the scenario."""
    cal = sc.loaded_calibration
    c = None if cal is None else cal.calibration
    src = "" if cal is None else f"calibration {cal.path}"
    out: dict[str, tuple[float | None, str]] = {
        _RECONNECT: (sc.failover.reconnect_s_per_camera, "scenario"),
        _RELAY: (sc.failover.relay.recovery_s, "scenario"),
        _POWER: (sc.failover.power_reconnect_s, "scenario"),
        _FRAGMENT: (sc.recording.fragment_s, "scenario"),
    }
    if c is not None and c.failover_reconnect_s_per_camera is not None:
        out[_RECONNECT] = (c.failover_reconnect_s_per_camera.value, src)
    if c is not None and c.relay_recovery_s is not None:
        out[_RELAY] = (c.relay_recovery_s.value, src)
    if c is not None and c.power_reconnect_s is not None:
        out[_POWER] = (c.power_reconnect_s.value, src)
    if c is not None and c.recorder_fragment_s is not None:
        out[_FRAGMENT] = (c.recorder_fragment_s.value, src)
    elif sc.live is not None and sc.recording.fragment_s is None:
        box = sc.live.recorders.container
        # MPEG-TS: the slowest camera's frame (a recorder keeps whole frames of every camera).
        frag = _LIVE_FRAGMENT_S.get(box, 1.0 / min(p.fps for p in sc.camera_profiles))
        out[_FRAGMENT] = (frag, f"live.recorders.container {box}")
    return out


def failover_curve_record(sc: Scenario) -> dict[str, dict[str, Any]] | None:
    """What results.json says of the failover curve (None: every term at today's default, from
    the scenario, so results of scenarios that do not use it read as before)."""
    terms = failover_curve(sc)
    default = {_RECONNECT: 0.0, _RELAY: 0.0, _POWER: 0.0, _FRAGMENT: None}
    if all(v == default[k] and src == "scenario" for k, (v, src) in terms.items()):
        return None
    return {k: {"value": v, "source": src} for k, (v, src) in terms.items()}


def live_detect_shift(sc: Scenario, live: Results) -> float:
    """How much later (s) the live run `live` detected its scripted recorder crashes than the
    simulation of `sc` does (each engine's latest detection; 0 without such a fault)."""
    got = [
        float(e["detect_s"])
        for e in live.events
        if e.get("kind") == "fault"
        and e.get("scripted")
        and e.get("fault_kind") == "recorder_crash"
        and e.get("detect_s") is not None
    ]
    run = simulated_scenario(sc)
    hb = run.failover.heartbeat
    starts = [
        float(at)
        for f in run.faults
        if getattr(f, "type", "") == "recorder_crash"
        and (at := getattr(f, "at_s", None)) is not None
    ]
    planned = [detection_time(t, hb.interval_s, hb.missed_beats) - t for t in starts]
    if not got or not planned:
        return 0.0
    return round(max(got) - max(planned), 3)


def simulated_scenario(sc: Scenario, detect_shift_s: float = 0.0) -> Scenario:
    """The scenario `twin simulate` runs (itself unless it is live or calibrated); with
    `detect_shift_s`, as a live run that detected crashes that much later ran it (module
    docstring)."""
    update: dict[str, Any] = {}
    failover: dict[str, Any] = {}
    lv = sc.live
    if lv is not None:
        update["recording"] = sc.recording.model_copy(
            update={"retention_days": sc.recording.retention_days / lv.time_compression}
        )
        update["simulation"] = sc.simulation.model_copy(update={"days": lv.duration_s / 86_400.0})
        failover["heartbeat"] = Heartbeat(
            interval_s=lv.heartbeat_interval_s, missed_beats=lv.missed_beats
        )
    terms = failover_curve(sc)
    cal = sc.loaded_calibration
    if cal is not None and cal.calibration.failover_reassign_s is not None:
        failover["reassign_s"] = cal.calibration.failover_reassign_s.value
    if terms[_RECONNECT][1] != "scenario":
        failover["reconnect_s_per_camera"] = terms[_RECONNECT][0]
    if terms[_RELAY][1] != "scenario":
        failover["relay"] = sc.failover.relay.model_copy(update={"recovery_s": terms[_RELAY][0]})
    if terms[_POWER][1] != "scenario":
        failover["power_reconnect_s"] = terms[_POWER][0]
    if terms[_FRAGMENT][1] != "scenario":
        rec = update.get("recording", sc.recording)
        update["recording"] = rec.model_copy(update={"fragment_s": terms[_FRAGMENT][0]})
    if detect_shift_s:
        failover["reassign_s"] = max(
            0.0, failover.get("reassign_s", sc.failover.reassign_s) + detect_shift_s
        )
    if failover:
        update["failover"] = sc.failover.model_copy(update=failover)
    if not update:
        return sc
    out = sc.model_copy(update=update)
    out._calibration = sc.loaded_calibration
    return out


class FootageLedger:
    """Footage written per recorder, integrated over the run (see the module docstring)."""

    name = "footage"

    def __init__(self) -> None:
        self.bytes: np.ndarray = np.zeros(0)
        self.camera_s: np.ndarray = np.zeros(0)
        self.cameras_initial: np.ndarray = np.zeros(0, dtype=np.int64)
        self._t = 0.0
        self._engine: CityEngine | None = None
        self.fault_costs: dict[int, dict[str, Any]] = {}

    def _accrue(self, t: float) -> None:
        e = self._engine
        assert e is not None
        dt = t - self._t
        if dt > 0:
            taking = ~e.rec_full
            self.bytes += e.rec_rate * taking * (dt / e.tick_s)
            self.camera_s += e.rec_ncams * taking * dt
        self._t = max(self._t, t)

    def attach(self, engine: CityEngine) -> None:
        self._engine = engine
        r = engine.city.n_recorders
        self.bytes, self.camera_s = np.zeros(r), np.zeros(r)
        engine.on_rates(self._accrue)
        seen: list[tuple[np.ndarray, np.ndarray]] = []

        def before(cams: np.ndarray, t: float) -> None:
            faults = engine.faults  # the FaultDriver (attached first): which fault stopped whom
            if faults is not None:
                n = engine.n_cams
                seen.append((engine.lost_s[:n].copy(), faults.cam_incident[:n].copy()))

        def after(cams: np.ndarray, t: float) -> None:
            if engine.faults is None:
                return
            lost_before, inc = seen.pop()
            n = engine.n_cams
            grew = np.flatnonzero((engine.lost_s[:n] > lost_before + 1e-9) & (inc >= 0))
            for c in grew:
                self._charge(int(inc[c]), int(c), float(engine.lost_s[c] - lost_before[c]))

        engine.on_refresh(before, after)

        def placed() -> Any:  # after the roll-out's first step at t=0 (it was started first)
            yield engine.env.timeout(0)
            rec = engine.cam_rec[: engine.n_cams]
            self.cameras_initial = np.bincount(rec[rec >= 0], minlength=r).astype(np.int64)

        engine.env.process(placed())

    def _charge(self, incident: int, camera: int, lost_s: float) -> None:
        """Footage a gap cost, to the fault that stopped the camera (the fault driver's
        `cam_incident`)."""
        cost = self.fault_costs.setdefault(incident, {"cameras": set(), "camera_s_lost": 0.0})
        cost["cameras"].add(camera)
        cost["camera_s_lost"] += lost_s

    def finish(self, engine: CityEngine) -> dict[str, float]:
        self._accrue(engine.end_s)
        for inc, cost in sorted(self.fault_costs.items()):
            engine.log_event(
                {
                    "t_s": round(float(engine.end_s), 6),
                    "kind": "fault_cost",
                    "incident": inc,
                    "cameras_hit": len(cost["cameras"]),
                    "camera_s_lost": round(cost["camera_s_lost"], 6),
                }
            )
        return {
            "footage_bytes_written": float(self.bytes.sum()),
            "footage_camera_s_recorded": float(self.camera_s.sum()),
        }

    def per_recorder(self) -> list[dict[str, float]]:
        return [
            {
                "bytes": round(float(b), 3),
                "cameras_initial": int(c),
                "camera_s_recorded": round(float(s), 6),
            }
            for b, c, s in zip(self.bytes, self.cameras_initial, self.camera_s)
        ]
