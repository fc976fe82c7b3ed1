"""Watching a live run: its health as Prometheus metrics, served on loopback while it runs.

Theory of operation
-------------------
Three pieces, so that a scrape never waits on the twin:

- :class:`HealthSnapshot` (with one :class:`CameraHealth` per camera) is a plain value: what
  the run looked like at one sample. It holds numbers only, no Ray handle or object.
- :class:`HealthSampler` fills one from the driver's own state at every sample of the driver
  (twin.live.driver, `on_sample`): recorder heartbeats the supervision round already took
  (`parts.latest`, `parts.dead_stats`: what each recorder received into finished segments),
  the fault log, the assignment, the driver's lag, the camera sets' publisher counters
  (`parts.publishers`, which the parts ask for at every sample without waiting, so bytes
  offered lag by at most one sample), and MediaMTX's bytes per path, asked of each relay
  actor the same way. It also counts, per camera, the times it stopped recording and the
  seconds it was not recording, as the sampler saw them.
- :class:`HealthServer`: a prometheus-client registry of its own (never the global one) with
  one collector that renders the last snapshot, and an HTTP server on 127.0.0.1 (a free port
  unless one is given). A scrape reads the snapshot under a lock and formats it; nothing
  else.

Fields that other parts of the twin may or may not have yet (a publisher's lateness and
planned bytes, the driver's own lag measure) are read with `getattr` and a default: a metric
with no value is left out rather than reported as 0.

Every metric is prefixed ``cctv_twin_live_`` (:data:`METRICS` lists them); docs/live-health.md
says what each means, and docs/grafana/ has a dashboard and a Prometheus configuration.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

from twin.live.driver import Parts

__all__ = [
    "PREFIX",
    "METRICS",
    "CameraHealth",
    "HealthSnapshot",
    "HealthSampler",
    "HealthServer",
    "HealthCollector",
    "RunHealth",
    "env_lag_s",
]

PREFIX = "cctv_twin_live_"

#: Every metric served: name (without prefix; counters without `_total`) -> (type, labels,
#: help). Counters are served as `<name>_total`.
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "info": ("gauge", ("scenario", "run_key"), "Always 1: the scenario and run being served."),
    "cameras": ("gauge", (), "Cameras in the scenario."),
    "run_seconds": ("gauge", (), "Seconds since recording was asked to start (run clock)."),
    "snapshot_age_seconds": (
        "gauge",
        (),
        "Seconds since the driver last sampled the run (grows when the driver is stuck).",
    ),
    "camera_recording": (
        "gauge",
        ("camera", "recorder", "relay"),
        "1 while a recorder's heartbeat says it is recording this camera.",
    ),
    "camera_bytes_offered": (
        "counter",
        ("camera", "relay"),
        "Bytes the camera's publisher sent to its relay (RTSP).",
    ),
    "camera_bytes_planned": (
        "counter",
        ("camera", "relay"),
        "Bytes the publisher's schedule planned to send by now.",
    ),
    "camera_bytes_received": (
        "counter",
        ("camera",),
        "Bytes recorders wrote for this camera into finished segments, "
        "over every recorder it was on (from heartbeats; steps once a "
        "segment).",
    ),
    "camera_bytes_relayed": (
        "counter",
        ("camera", "relay"),
        "Bytes the camera's relay (MediaMTX) received on its path, by "
        "MediaMTX's own count (relays the twin runs as actors).",
    ),
    "camera_gaps": (
        "counter",
        ("camera",),
        "Times the camera stopped recording, as the driver's samples saw it.",
    ),
    "camera_unrecorded_seconds": (
        "counter",
        ("camera",),
        "Seconds the camera was not recording after start-up, as the driver's samples saw it.",
    ),
    "camera_discontinuities": (
        "counter",
        ("camera",),
        "Packets lost inside a recorder's connection (segments cut short), from heartbeats.",
    ),
    "camera_publisher_reconnects": (
        "counter",
        ("camera", "relay"),
        "Times the camera's publisher connected again.",
    ),
    "camera_publisher_late_p99_seconds": (
        "gauge",
        ("camera", "relay"),
        "99th percentile of how late the publisher sent its packets against its schedule.",
    ),
    "camera_publisher_late_max_seconds": (
        "gauge",
        ("camera", "relay"),
        "Largest lateness of the publisher's packets.",
    ),
    "segments_written": ("counter", (), "Segments recorders finished (from heartbeats)."),
    "segments_deleted": ("counter", (), "Segments retention sweeps deleted."),
    "recorder_up": ("gauge", ("recorder",), "1 unless the recorder is down or restarting."),
    "recorder_cameras": ("gauge", ("recorder",), "Cameras assigned to the recorder."),
    "relay_up": ("gauge", ("relay",), "1 unless a fault of this relay (MediaMTX) is open."),
    "faults_open": ("gauge", ("kind",), "Faults detected or injected and not restored yet."),
    "faults": ("counter", ("kind",), "Faults so far, scripted or not."),
    "driver_lag_seconds": (
        "gauge",
        (),
        "How late the driver's processes woke against the "
        "wall-clock schedule of SimPy's real-time environment: the "
        "largest since the previous sample.",
    ),
    "driver_lag_max_seconds": ("gauge", (), "The largest driver lag so far."),
    "machine_cpu_percent": (
        "gauge",
        (),
        "CPU busy on the driver's machine, all cores, "
        "since the previous sample (100 = every core busy).",
    ),
    "machine_load1": ("gauge", (), "1-minute load average of the driver's machine."),
    "machine_cpus": ("gauge", (), "CPUs of the driver's machine."),
}


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """One camera at one sample."""

    camera: str
    recorder: str = ""  # the recorder it is assigned to ("" none)
    relay: str = ""
    recording: bool = False
    bytes_offered: float = 0.0
    bytes_planned: float | None = None
    bytes_received: float = 0.0
    bytes_relayed: float | None = None
    gaps: int = 0
    unrecorded_s: float = 0.0
    discontinuities: int = 0
    reconnects: int = 0
    late_p99_s: float | None = None
    late_max_s: float | None = None


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """The run at one sample of the driver: numbers only (see the module docstring)."""

    taken: float  # time.monotonic() when taken
    run_s: float  # seconds since recording started (run clock)
    cameras: tuple[CameraHealth, ...] = ()
    recorders_up: dict[str, bool] = field(default_factory=dict)
    recorder_cameras: dict[str, int] = field(default_factory=dict)
    relays_up: dict[str, bool] = field(default_factory=dict)
    faults_open: dict[str, int] = field(default_factory=dict)  # by kind
    faults: dict[str, int] = field(default_factory=dict)  # by kind, so far
    segments_written: float = 0.0
    segments_deleted: float = 0.0
    driver_lag_s: float | None = None
    driver_lag_max_s: float | None = None
    machine_cpu_pct: float | None = None
    load1: float | None = None


def _num(x: Any) -> float | None:
    """A finite float, or None (a field missing, None, or not a number)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class HealthSampler:
    """Fills a :class:`HealthSnapshot` from the driver and its parts at each sample.

    `take` is called in the driver's sampler (on the driver's thread); it makes no blocking
    call: relay actors are asked with `.remote()` and read with `ray.wait(timeout=0)` at a
    later sample.
    """

    def __init__(
        self, cameras: list[str], relay_of: dict[str, str] | None = None, startup_s: float = 3.0
    ) -> None:
        self.cameras = list(cameras)
        self.relay_of = dict(relay_of or {})
        self.startup_s = startup_s
        self._was_recording: dict[str, bool] = {}
        self._gaps: dict[str, int] = dict.fromkeys(self.cameras, 0)
        self._unrecorded: dict[str, float] = dict.fromkeys(self.cameras, 0.0)
        self._last_run_s: float | None = None
        self._pub: dict[str, Any] = {}  # camera -> latest PublisherStats (or alike)
        # Counters of a publisher that was started again begin at 0: what its predecessors
        # had sent is kept here, so the served counters never go down.
        self._pub_base: dict[str, dict[str, float]] = {}
        self._pub_last: dict[str, dict[str, float]] = {}
        self._relay_refs: dict[str, tuple[Any, Any]] = {}  # relay part -> (handle, ref)
        self._relayed = _Carried()  # camera -> bytes MediaMTX received on its path
        self._lag_max: float | None = None
        self._lag_seen: dict[str, int] = {}  # driver.lag kind -> entries already read
        try:
            psutil.cpu_percent(None)  # the first call only starts the interval
        except Exception:  # noqa: BLE001 - machine figures are optional
            pass

    # -- publishers and relays -------------------------------------------------------------
    def poll_relays(self, parts: Parts) -> None:
        """Read the relay actors' per-path byte counts (MediaMTX's metrics, read by the actor)
        that arrived; ask again those with none in flight. Never waits. A relay watched
        from the driver's own process (an external MediaMTX) is not asked: reading its
        metrics is an HTTP call, and Prometheus can scrape that server itself."""
        relays = dict(getattr(parts, "relays", None) or {})
        if not relays:
            return
        # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
        import ray

        for part, (handle, ref) in list(self._relay_refs.items()):
            try:
                ready, _ = ray.wait([ref], timeout=0)
            except Exception:  # noqa: BLE001 - ask again
                del self._relay_refs[part]
                continue
            if not ready:
                if getattr(relays.get(part), "handle", None) is not handle:
                    del self._relay_refs[part]  # a new actor since: ask it
                continue
            del self._relay_refs[part]
            try:
                got = dict(ray.get(ref))
            except Exception:  # noqa: BLE001 - dead: its successor is asked
                continue
            for cam, b in got.items():
                self._relayed.take(str(cam), float(b))
        for part, relay in relays.items():
            handle = getattr(relay, "handle", None)
            if part in self._relay_refs or handle is None:
                continue
            try:
                self._relay_refs[part] = (handle, handle.path_bytes.remote())
            except Exception:  # noqa: BLE001 - an actor without the method, or gone
                continue

    def _take_publisher(self, cam: str, st: Any) -> None:
        """Keep a camera's publisher counters, carrying over what a predecessor had sent."""
        now = {
            "bytes": _num(getattr(st, "bytes_sent", 0)) or 0.0,
            "reconnects": _num(getattr(st, "reconnects", 0)) or 0.0,
            "planned": _num(getattr(st, "planned_bytes", None)) or 0.0,
        }
        last = self._pub_last.get(cam)
        base = self._pub_base.setdefault(cam, dict.fromkeys(now, 0.0))
        if last is not None and now["bytes"] < last["bytes"]:  # a new publisher process
            for k in now:
                base[k] += last[k]
        self._pub_last[cam] = now
        self._pub[cam] = st

    # -- one sample ----------------------------------------------------------------------------
    def take(
        self,
        driver: Any,
        parts: Parts,
        run_s: float,
        env_lag_s: float | None = None,
        machine: Any = None,
    ) -> HealthSnapshot:
        """The run now. `run_s`: seconds since recording started; `env_lag_s`: how late the
        driver's real-time environment is (used when the driver has no lag measure);
        `machine`: the harness's latest machine sample (twin.live.harness.MachineSample), so a
        live run samples the machine once (without it, psutil is asked here)."""
        # The parts ask each camera-set actor for its publishers' counters at every sample
        # and keep the last answer: {set part: ({camera: PublisherStats}, CPU s)}.
        for got in list((getattr(parts, "publishers", None) or {}).values()):
            for cam, st in dict(got[0]).items():
                self._take_publisher(cam, st)
        self.poll_relays(parts)
        latest = dict(getattr(parts, "latest", {}) or {})
        dead = dict(getattr(parts, "dead_stats", {}) or {})
        recording: dict[str, bool] = {}
        received: dict[str, float] = {}
        disc: dict[str, int] = {}
        for statuses in [[s] for s in latest.values()] + list(dead.values()):
            for status in statuses:
                for st in getattr(status, "streams", ()):
                    cam = st.camera
                    received[cam] = received.get(cam, 0.0) + float(st.bytes)
                    disc[cam] = disc.get(cam, 0) + int(getattr(st, "discontinuities", 0))
        for status in latest.values():
            for st in getattr(status, "streams", ()):
                if st.recording:
                    recording[st.camera] = True
        sup = getattr(driver, "sup", None)
        assignment: dict[str, str | None] = sup.assignment() if sup is not None else {}

        dt = 0.0 if self._last_run_s is None else max(0.0, run_s - self._last_run_s)
        self._last_run_s = run_s
        cams = []
        for c in self.cameras:
            rec = recording.get(c, False)
            if run_s > self.startup_s:
                if not rec:
                    self._unrecorded[c] += dt
                    if self._was_recording.get(c):
                        self._gaps[c] += 1
            self._was_recording[c] = rec
            st = self._pub.get(c)
            base = self._pub_base.get(c, {})
            last = self._pub_last.get(c, {})
            planned = _num(getattr(st, "planned_bytes", None)) if st is not None else None
            cams.append(
                CameraHealth(
                    camera=c,
                    recorder=assignment.get(c) or "",
                    relay=self.relay_of.get(c, ""),
                    recording=rec,
                    bytes_offered=base.get("bytes", 0.0) + last.get("bytes", 0.0),
                    bytes_planned=(None if planned is None else base.get("planned", 0.0) + planned),
                    bytes_received=received.get(c, 0.0),
                    bytes_relayed=self._relayed.get(c),
                    gaps=self._gaps[c],
                    unrecorded_s=self._unrecorded[c],
                    discontinuities=disc.get(c, 0),
                    reconnects=int(base.get("reconnects", 0.0) + last.get("reconnects", 0.0)),
                    late_p99_s=_num(getattr(st, "late_p99_s", None)),
                    late_max_s=_num(getattr(st, "late_max_s", None)),
                )
            )

        down = set(getattr(driver, "down", ())) | set(getattr(driver, "restarting", ()))
        recorders = list(getattr(sup, "recorders", []) or [])
        log = getattr(driver, "log", None)
        records = list(getattr(log, "records", []) or [])
        faults_open: dict[str, int] = {}
        faults: dict[str, int] = {}
        open_parts: set[str] = set()
        for r in records:
            faults[r["kind"]] = faults.get(r["kind"], 0) + 1
            if r.get("restored_s") is None:
                faults_open[r["kind"]] = faults_open.get(r["kind"], 0) + 1
                open_parts.add(r["part"])
        relays = sorted(set(self.relay_of.values()))
        fn = getattr(parts, "relay_parts", None)
        if fn is not None:
            relays = sorted(set(relays) | set(fn()))
        lag = self._driver_lag(driver)
        if lag is None:
            lag = env_lag_s
        if lag is not None:
            self._lag_max = lag if self._lag_max is None else max(self._lag_max, lag)
        samples = getattr(driver, "samples", None) or [{}]
        row = samples[-1]
        return HealthSnapshot(
            taken=time.monotonic(),
            run_s=run_s,
            cameras=tuple(cams),
            recorders_up={r: r not in down for r in recorders},
            recorder_cameras=(
                {r: len(sup.cameras_of_recorder(r)) for r in recorders} if sup is not None else {}
            ),
            relays_up={p: p not in open_parts for p in relays},
            faults_open=faults_open,
            faults=faults,
            segments_written=float(row.get("segments_written", 0.0)),
            segments_deleted=float(row.get("segments_deleted", 0.0)),
            driver_lag_s=lag,
            driver_lag_max_s=self._lag_max,
            machine_cpu_pct=_machine_cpu() if machine is None else float(machine.busy_pct),
            load1=_load1() if machine is None else float(machine.load1),
        )

    def _driver_lag(self, driver: Any) -> float | None:
        """The largest lag of the driver's wake-ups since the last sample, from its own
        measure (`driver.lag`: kind -> lateness of each wake-up); None if it has none."""
        lag = getattr(driver, "lag", None)
        if not isinstance(lag, dict):
            return None
        new: list[float] = []
        for kind, seen in lag.items():
            start = self._lag_seen.get(kind, 0)
            new.extend(float(x) for x in seen[start:])
            self._lag_seen[kind] = len(seen)
        return max(new) if new else None


class _Carried:
    """Counters that start again from 0 when their process does (a MediaMTX restarted): what
    the earlier processes had counted is carried, so the served total never goes down."""

    def __init__(self) -> None:
        self._base: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def take(self, key: str, value: float) -> None:
        last = self._last.get(key)
        if last is not None and value < last:
            self._base[key] = self._base.get(key, 0.0) + last
        self._last[key] = value

    def get(self, key: str) -> float | None:
        if key not in self._last:
            return None
        return self._base.get(key, 0.0) + self._last[key]


def _machine_cpu() -> float | None:
    try:
        return float(psutil.cpu_percent(None))
    except Exception:  # noqa: BLE001 - machine figures are optional
        return None


def _load1() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def env_lag_s(env: Any) -> float | None:
    """How late a `simpy.rt.RealtimeEnvironment` is now: the wall clock against the time its
    current event was due (None for another environment)."""
    start = getattr(env, "real_start", None)
    if start is None:
        return None
    due = float(start) + (float(env.now) - float(env.env_start)) * float(env.factor)
    return max(0.0, time.monotonic() - due)


class HealthCollector(Collector):
    """Renders the last snapshot; a scrape costs a lock and the formatting, nothing else."""

    def __init__(self, scenario: str = "", run_key: str = "", cameras: int = 0) -> None:
        self._lock = threading.Lock()
        self._snap: HealthSnapshot | None = None
        self.scenario, self.run_key, self.n_cameras = scenario, run_key, cameras

    def update(self, snap: HealthSnapshot) -> None:
        with self._lock:
            self._snap = snap

    @property
    def snapshot(self) -> HealthSnapshot | None:
        with self._lock:
            return self._snap

    def describe(self) -> Iterable[Metric]:
        return []  # no description up front: the registry must not collect to register us

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snap = self._snap
        fams: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

        def fam(name: str) -> GaugeMetricFamily | CounterMetricFamily:
            if name not in fams:
                kind, labels, doc = METRICS[name]
                cls = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
                fams[name] = cls(PREFIX + name, doc, labels=list(labels))
            return fams[name]

        def put(name: str, value: float | None, *labels: str) -> None:
            f = fam(name)
            if value is not None:
                f.add_metric(list(labels), value)

        put("info", 1.0, self.scenario, self.run_key)
        put("cameras", float(self.n_cameras))
        if snap is not None:
            put("run_seconds", snap.run_s)
            put("snapshot_age_seconds", max(0.0, time.monotonic() - snap.taken))
            for c in snap.cameras:
                put("camera_recording", float(c.recording), c.camera, c.recorder, c.relay)
                put("camera_bytes_offered", c.bytes_offered, c.camera, c.relay)
                put("camera_bytes_planned", c.bytes_planned, c.camera, c.relay)
                put("camera_bytes_received", c.bytes_received, c.camera)
                put("camera_bytes_relayed", c.bytes_relayed, c.camera, c.relay)
                put("camera_gaps", float(c.gaps), c.camera)
                put("camera_unrecorded_seconds", c.unrecorded_s, c.camera)
                put("camera_discontinuities", float(c.discontinuities), c.camera)
                put("camera_publisher_reconnects", float(c.reconnects), c.camera, c.relay)
                put("camera_publisher_late_p99_seconds", c.late_p99_s, c.camera, c.relay)
                put("camera_publisher_late_max_seconds", c.late_max_s, c.camera, c.relay)
            put("segments_written", snap.segments_written)
            put("segments_deleted", snap.segments_deleted)
            for r, up in sorted(snap.recorders_up.items()):
                put("recorder_up", float(up), r)
            for r, n in sorted(snap.recorder_cameras.items()):
                put("recorder_cameras", float(n), r)
            for p, up in sorted(snap.relays_up.items()):
                put("relay_up", float(up), p)
            for kind in sorted(set(snap.faults) | set(snap.faults_open)):
                put("faults_open", float(snap.faults_open.get(kind, 0)), kind)
                put("faults", float(snap.faults.get(kind, 0)), kind)
            put("driver_lag_seconds", snap.driver_lag_s)
            put("driver_lag_max_seconds", snap.driver_lag_max_s)
            put("machine_cpu_percent", snap.machine_cpu_pct)
            put("machine_load1", snap.load1)
        put("machine_cpus", float(os.cpu_count() or 1))
        for f in fams.values():
            if f.samples:
                yield f


class HealthServer:
    """The run's metrics endpoint: a registry of its own, served on 127.0.0.1.

    `start()` binds `port` (0: any free port) and returns the URL; `close()` stops it (safe
    to call twice, or without a start)."""

    def __init__(
        self,
        port: int = 0,
        *,
        scenario: str = "",
        run_key: str = "",
        cameras: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.port, self.host = port, host
        self.collector = HealthCollector(scenario, run_key, cameras)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._httpd: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        if self._httpd is None:
            self._httpd, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.registry
            )
            port = int(self._httpd.server_address[1])
            self.url = f"http://{self.host}:{port}/metrics"
        return self.url

    def update(self, snap: HealthSnapshot) -> None:
        self.collector.update(snap)

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


class RunHealth:
    """What `twin live` holds: the server and the sampler feeding it.

    Made before anything starts (so the run's clean-up can always `close` it), started once
    Ray and the parts are up, fed at every sample of the driver. A failure to sample is
    counted, never raised: watching the run must not stop it."""

    def __init__(self, port: int, scenario: str, cameras: list[str]) -> None:
        self.server = HealthServer(port, scenario=scenario, cameras=len(cameras))
        self.cameras = list(cameras)
        self.sampler: HealthSampler | None = None
        self.errors = 0
        self.last_error = ""

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, run_key: str, relay_of: dict[str, str], startup_s: float = 3.0) -> str:
        """Serve on 127.0.0.1; returns the URL of the metrics page (OSError: port taken)."""
        self.server.collector.run_key = run_key
        self.sampler = HealthSampler(self.cameras, relay_of, startup_s)
        return self.server.start()

    def sample(
        self, driver: Any, parts: Parts, run_s: float, env: Any = None, machine: Any = None
    ) -> None:
        if self.sampler is None:
            return
        try:
            snap = self.sampler.take(driver, parts, run_s, env_lag_s(env), machine)
        except Exception as exc:  # noqa: BLE001 - see the class docstring
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        self.server.update(snap)

    def close(self) -> None:
        self.server.close()
