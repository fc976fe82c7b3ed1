"""A live run's life cycle: signals, Ray and the watchdog, start-up, the driven phase, teardown.

The steps are those of twin.live.run's theory of operation: `Signals` turns SIGINT/SIGTERM
into LiveInterrupted; `own_watchdog` starts the watchdog (twin.live.watchdog) before a Ray of
this run's own, and `join_ray` starts or joins Ray; the start-up of the parts is
twin.live.startup; `drive` runs the driver's processes (twin.live.driver) on
`simpy.rt.RealtimeEnvironment` until the end or a signal; the stop phase is
twin.live.stopping; `teardown` kills what is left, whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import ray
import simpy
import simpy.rt

from synthetic_streams.mediamtx import MediaMTXServer
from twin.live.driver import ANALYSER, DriverConfig, LiveDriver
from twin.live.failover import Supervisor
from twin.live.faults import LiveFault
from twin.live.harness import HarnessWatch
from twin.live.health import RunHealth
from twin.live.outcome import LiveInterrupted, LiveOutcome, nodes_event
from twin.live.parts import RayParts
from twin.live.run_settings import LiveRun
from twin.live.run_state import keep_state
from twin.live.watchdog import Watchdog, start_watchdog
from twin.ray.session import RaySession, start_ray

__all__ = ["Running", "Signals", "own_watchdog", "join_ray", "drive", "cpu_snapshot", "teardown"]


@dataclass
class Running:
    """One live run as it goes: its outcome so far, its parts, its clock and its two logs."""

    o: LiveOutcome
    settings: LiveRun
    parts: RayParts
    health: RunHealth
    duration: float
    now: Callable[[], float]  # the run clock
    event: Callable[..., None]  # the run's events (kind, **details)
    say: Callable[[float, float, str], None]  # progress (run time, duration, message)


class Signals:
    """SIGINT/SIGTERM raise LiveInterrupted in the main thread (once armed)."""

    def __init__(self) -> None:
        self.got: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def rearm(self) -> None:
        """Take the signals back: Ray's core installs its own SIGTERM handler (it aborts)."""
        if self._old:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        first = self.got is None
        self.got = self.got or name
        raise LiveInterrupted(f"{name} received" + ("" if first else " again"))

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def own_watchdog(run_dir: Path) -> Watchdog | None:
    """The watchdog that kills what is left of the run if this process dies
    (twin.live.watchdog), for a Ray this process starts; None for a joined cluster. Started
    before Ray: every process of it is then new to the watchdog."""
    if os.environ.get("RAY_ADDRESS", "").strip() or ray.is_initialized():
        return None
    return start_watchdog(run_dir)


def join_ray(run_dir: Path, signals: Signals) -> RaySession:
    """Ray started (or joined), a SIGTERM during its start-up reported as LiveInterrupted,
    and the signals taken back from Ray afterwards."""
    try:
        session = start_ray(run_dir / "ray.log")
    except SystemExit as exc:  # Ray's own SIGTERM handler, active inside ray.init
        if exc.code != signal.SIGTERM:
            raise
        signals.got = signals.got or "SIGTERM"
        raise LiveInterrupted("SIGTERM received") from None
    signals.rearm()
    return session


def drive(
    run: Running, sup: Supervisor, faults: list[LiveFault], signals: Signals
) -> tuple[LiveDriver, dict[str, dict[str, float]]]:
    """The driver's processes on the wall clock until `t0 + duration` or a signal; returns
    the driver and the CPU snapshots of the steady window (twin.live.stopping reads both)."""
    o, parts, now, duration = run.o, run.parts, run.now, run.duration
    t0 = o.t0
    env = simpy.rt.RealtimeEnvironment(initial_time=now(), factor=1.0, strict=False)
    t_end = t0 + duration
    watch = HarnessWatch(os.cpu_count() or 1)
    bitrate_bps = run.settings.profile.bitrate_mbps * 1e6
    extra: dict[str, Any] = {
        "ray_temp_dir": str(parts.ray_temp_dir or ""),
        "mediamtx_dir": o.relay_dirs[0] if o.relay_dirs else "",
        "mediamtx_dirs": list(o.relay_dirs),
        "nodes": nodes_event(o, parts.part_nodes())["nodes"],
        "metrics_url": run.health.url,
    }

    def sampled() -> None:
        watch.sample(
            now(),
            {c: st for stats, _ in parts.publishers.values() for c, st in stats.items()},
            bitrate_bps,
        )
        run.health.sample(driver, parts, now() - t0, env, watch.latest())
        _write_parts(o.run_dir / "parts.json", parts, extra)

    driver = LiveDriver(
        env,
        parts,
        sup,
        DriverConfig(
            t0=t0,
            t_end=t_end,
            heartbeat_interval_s=run.settings.heartbeat_interval_s,
            sweep_interval_s=run.settings.sweep_interval_s,
        ),
        faults,
        event=run.event,
        say=lambda msg: run.say(now() - t0, duration, msg),
        on_sample=sampled,
        clock=now,
    )
    driver.start()
    env.process(keep_state(env, o, driver, sup, parts))  # live/run-state.json, every second
    cpu_marks: dict[str, dict[str, float]] = {}
    steady_from = t0 + min(10.0, duration / 4)
    steady_to = min([t0 + f.start_s for f in faults] + [t_end])
    snapping: list[threading.Thread] = []

    def snap(mark: str) -> None:
        cpu_marks[mark] = {**cpu_snapshot(parts), "t": now()}

    def cpu_sampler() -> Generator[simpy.Event, Any, None]:
        for mark, at in (("steady_from", steady_from), ("steady_to", steady_to)):
            if at > env.now:
                yield env.timeout(at - env.now)
            if at < t_end or mark == "steady_from":
                # In a thread of its own: its Ray calls (every set, sweeper, analyser and
                # relay) must not hold up the driver's heartbeats on a loaded machine.
                snapping.append(threading.Thread(target=snap, args=(mark,), daemon=True))
                snapping[-1].start()

    env.process(cpu_sampler())
    try:
        if env.now < t_end:
            env.run(until=t_end)
        else:  # the recorders' and analysers' start-up calls took the whole run (a loaded
            # machine): nothing is left to drive, and SimPy refuses an end in its past
            run.event(
                "startup_outlasted_run", startup_s=round(env.now - t0, 3), duration_s=duration
            )
            run.say(
                now() - t0,
                duration,
                f"start-up took {env.now - t0:.1f} s, the whole "
                f"{duration:g} s run: stopping (give the run a longer duration)",
            )
    except LiveInterrupted:
        o.interrupted = signals.got
        run.event("interrupted", signal=signals.got)
        run.say(now() - t0, duration, f"{signals.got}: stopping early, keeping what was recorded")
    # Stopping is bounded by timeouts; a further signal must not cut it short (files would be
    # left half-recovered and actors running).
    for sig in (signal.SIGINT, signal.SIGTERM):
        if threading.current_thread() is threading.main_thread():
            signal.signal(sig, signal.SIG_IGN)
    for th in snapping:  # bounded: each of its Ray calls has a timeout
        th.join(120)
    o.harness = {
        "lag": driver.lag,
        "lag_at": driver.lag_at,
        "machine": watch.machine,
        "publisher_behind_s": watch.publisher_behind_s,
        "cpus": watch.cpus,
        "faults_late": [r["late_s"] for r in driver.log.records if "late_s" in r],
    }
    return driver, cpu_marks


def _write_parts(path: Path, parts: RayParts, extra: dict[str, Any]) -> None:
    """`live/parts.json`: the OS process of every part now (what an operator kills to test),
    and the temporary folders of the run's Ray and MediaMTX (gone once the run is over)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"parts": parts.current(), **extra}, indent=1, sort_keys=True))
    tmp.replace(path)


def cpu_snapshot(parts: RayParts) -> dict[str, float]:
    """CPU seconds so far, per part of the twin (recorders from their latest heartbeat)."""
    snap: dict[str, float] = {}
    refs: dict[str, Any] = {
        p: h.stats.remote() for p, h in parts.actors.items() if p.startswith("set:")
    }
    for p in parts.sweepers():
        refs[p] = parts.actors[p].cpu_s.remote()
    an_refs = {
        p: h.cpu_s.remote() for p, h in parts.actors.items() if p.split(":", 1)[0] == ANALYSER
    }
    got: dict[str, Any] = {}
    for k, ref in refs.items():  # one by one: a part on a lost node must not hide the rest
        try:
            got[k] = ray.get(ref, timeout=30)
        except ray.exceptions.RayError:
            continue
    for k, v in got.items():
        if k.startswith("set:"):
            snap["publish"] = snap.get("publish", 0.0) + v[1]
            for cam, st in v[0].items():  # what each camera has offered so far
                snap[f"sent:{cam}"] = float(st.bytes_sent)
        else:
            snap["sweeper"] = snap.get("sweeper", 0.0) + float(v)
    if an_refs:  # the pool's CPU, as one part ("analyser"); all or none, so a window is whole
        try:
            snap[ANALYSER] = float(sum(ray.get(list(an_refs.values()), timeout=30)))
        except ray.exceptions.RayError:
            pass
    snap["record"] = sum(s.cpu_s for s in parts.latest.values())
    for r in parts.relays.values():  # what each path has received so far, by MediaMTX's count
        for cam, b in r.bytes_in().items():
            snap[f"relay:{cam}"] = float(b)
    relay = [r.cpu_s() for r in parts.relays.values()]
    if any(v is not None for v in relay):
        snap["relay"] = sum(v for v in relay if v is not None)
    t = psutil.Process().cpu_times()
    snap["driver"] = t.user + t.system
    snap["machine"] = sum(psutil.cpu_times()[:3])  # user + nice + system, all cores
    return snap


def teardown(
    parts: RayParts | None, session: RaySession | None, server: MediaMTXServer | None
) -> None:
    """Kill every actor, stop Ray (if ours) and MediaMTX; a signal cannot cut this short."""
    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if parts is not None:
            for relay in parts.relays.values():
                relay.close()  # each MediaMTX stopped on its node by its relay actor
            parts.kill_all()
        if server is not None:
            server.close()
        if session is not None:
            session.close()  # last: it also reaps whatever its Ray left behind
    finally:
        for s, h in old.items():
            signal.signal(s, h)
