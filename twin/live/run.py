"""The live engine: one scenario run for real, on the wall clock, on Ray.

Theory of operation
-------------------
This module sets the twin up, runs the driver's processes (twin.live.driver) on
`simpy.rt.RealtimeEnvironment`, and takes it down again; twin.live.parts carries the driver's
requests to the real parts.

1. Before anything starts, the scenario's faults are compiled for the live run
   (twin.live.faults: bad ones are refused here), each distinct scene is encoded once
   (cached), an external MediaMTX is attached if the scenario names one, and Ray is started
   or joined (twin.ray.session). Districts and recorder pools are placed on Ray's nodes
   (twin.live.cluster: by node resources, or spread), each recording node's folder is made
   on that node, and each node hosting camera sets gets a relay actor running its MediaMTX
   (on the node's address, one publisher login per camera, authentication on).
2. Actors, each pinned to its node: camera-set actors publishing to their district's relay,
   every recorder of the scenario's pools (`<pool>-rNN`, the names `faults:` uses; each with
   its pool's stream and ingest limits) on their pool's node, a sweeper per recording node and the
   analyser pool's actors in turn over the nodes (the first on the driver's node). All ask for no CPU: they are I/O bound, and a 2-core
   machine must place ~20 of them.
3. The supervisor (twin.live.failover over the core failover objects) places the cameras on
   recorders within each recorder's own pool's limits: a district's cameras on its district's
   pool, a central pool that every district's own pool covers kept as their standby; recording starts at `t0` on the run clock.
4. The driver's processes supervise every part, carry out the scripted faults, sweep and
   sample until `t0 + duration`. SIGINT or SIGTERM ends this phase early: what was recorded
   is measured and written, and the run exits 3.
5. At the end, recorders stop first (each closes its segment in progress), a task on each
   recording node recovers the files its dead recorders left and checks its catalog against
   its files, then publishers, analyser and sweepers stop; each relay stops its MediaMTX,
   every actor is killed, and Ray is shut down if this process started it. Whatever fails on
   the way, step 5 runs, and a second signal only hurries it. Footage gaps and the rest are
   then measured from the nodes' catalog rows and file checks (twin.live.measure).
6. If this process dies outright (`kill -9`), step 5 never runs. So before it starts a Ray
   of its own it starts a watchdog (twin.live.watchdog) that kills every process of the run
   the moment this one is gone, and from the start it keeps `live/run-state.json`
   (twin.live.run_state, every second while recording), from which `twin live --recover`
   (twin.live.recover) finishes the folder: partials recovered, catalog checked, results
   written for the time recorded, marked cut short.

Times in results are seconds on the run clock: `time.time() - epoch`, with `epoch` the
wall time the driver started; `t0` is when recording was asked to start.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from twin.errors import ScenarioError, TwinError
from twin.live.run_settings import LiveRun, live_run_settings
from twin.scenario.live import ExternalMediaMTX, ManagedMediaMTX
from twin.scenario import Scenario

if TYPE_CHECKING:
    import simpy

    from synthetic_streams.mediamtx import MediaMTXServer
    from synthetic_streams.mediamtx_config import Credentials
    from twin.live.parts import RayParts

__all__ = ["LiveError", "LiveInterrupted", "LiveOutcome", "run_live", "external_credentials",
           "live_recorder_names"]


#: A live run is real traffic; one machine records ~40-60 cameras with the analyser on
#: (bench/bench_live.py). Beyond this the run would only thrash.
MAX_LIVE_CAMERAS = 500


class LiveError(TwinError):
    """A part of the live twin (Ray, an actor, MediaMTX) could not run."""


class LiveInterrupted(TwinError):
    """SIGINT or SIGTERM stopped the run (what was recorded is measured and written)."""


@dataclass
class LiveOutcome:
    """Everything the live run observed; twin.live.measure turns it into results."""

    scenario: Scenario
    settings: LiveRun
    run_dir: Path
    store_path: Path
    segments_root: Path
    epoch: float
    t0: float  # recording asked to start (run clock)
    t_end: float  # recording asked to stop (run clock)
    cameras: list[str]
    camera_set: dict[str, str]
    camera_scene: dict[str, int]
    recorders: list[str]
    initial_assignment: dict[str, str | None]
    final_assignment: dict[str, str | None]
    retention_s: float
    faults: list[dict[str, Any]] = field(default_factory=list)  # one per fault, any cause
    interrupted: str | None = None  # the signal that ended the run early
    source: str = ""  # the scenario file, as given (live/run-state.json keeps it)
    parts: dict[str, Any] = field(default_factory=dict)  # part -> PIDs and nodes, in order
    recovered_partials: int = 0
    removed_partials: int = 0
    clip_origins: dict[str, float] = field(default_factory=dict)  # run clock
    clip_truth_paths: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds over the steady window
    cpu_window_s: float = 0.0
    publisher_stats: dict[str, Any] = field(default_factory=dict)
    recorder_stats: dict[str, Any] = field(default_factory=dict)
    analyser: dict[str, Any] = field(default_factory=dict)
    # The analyser pool (twin.live.analysis_pool): cost per frame each actor measured, the
    # cameras each took, those not analysed.
    analysis: dict[str, Any] = field(default_factory=dict)
    mediamtx_pids: list[int] = field(default_factory=list)
    ray_address: str = ""
    actors_started_s: float = 0.0
    # The cluster (twin.live.cluster): where each part runs and each node keeps its files.
    placement: Any = None
    driver_node: str = ""
    run_key: str = ""
    camera_district: dict[str, str] = field(default_factory=dict)
    recorder_pool: dict[str, str] = field(default_factory=dict)
    homes: dict[str, list[str]] = field(default_factory=dict)
    standby: list[str] = field(default_factory=list)
    storage_nodes: list[str] = field(default_factory=list)
    storage_kind: dict[str, str] = field(default_factory=dict)  # "run folder" | "node folder"
    relay_dirs: list[str] = field(default_factory=list)
    node_reports: dict[str, Any] = field(default_factory=dict)  # node id -> rows, file checks
    driver_cpu_s: float = 0.0
    # The harness's own figures (twin.live.harness): the driver's lag, the machine, when each
    # publisher fell behind, what the relay received of what was offered (steady window).
    harness: dict[str, Any] = field(default_factory=dict)


def external_credentials(cfg: ExternalMediaMTX, cameras: list[str]) -> Credentials:
    """The logins of an external MediaMTX, read from its mediamtx.yml."""
    from synthetic_streams.mediamtx_config import Credentials, Login

    try:
        data = yaml.safe_load(Path(cfg.config).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LiveError(f"live.mediamtx.config {cfg.config}: cannot read it ({exc}); expected the "
                        f"external server's mediamtx.yml") from None
    users = {u.get("user"): u for u in data.get("authInternalUsers") or []}
    pubs = {}
    for u in users.values():
        for perm in u.get("permissions") or []:
            if perm.get("action") == "publish" and perm.get("path"):
                pubs[perm["path"]] = Login(u["user"], u["pass"])
    missing = [c for c in cameras if c not in pubs]
    roles = [r for r in ("recorder", "analyser", "admin") if r not in users]
    if missing or roles:
        raise LiveError(
            f"live.mediamtx.config {cfg.config}: no publisher user for cameras {missing[:5]} "
            f"and/or no users {roles}; expected one publisher per camera path plus recorder, "
            f"analyser and admin (see synthetic_streams.mediamtx_config.build_config)")

    def login(name: str) -> Login:
        return Login(name, users[name]["pass"])

    return Credentials(tuple((c, pubs[c]) for c in cameras), login("recorder"),
                       login("analyser"), login("admin"))


def _start_server(settings: LiveRun, cameras: list[str]) -> MediaMTXServer:
    from synthetic_streams.mediamtx import MediaMTXServer
    from synthetic_streams.mediamtx_config import Endpoints

    m = settings.mediamtx
    assert isinstance(m, ExternalMediaMTX)  # a managed one runs in a relay actor per node
    server = MediaMTXServer.external(
        Endpoints(m.host, m.rtsp_port, m.api_port, m.metrics_port, api_host=m.host),
        external_credentials(m, cameras))
    return server.start()




def live_recorder_names(sc: Scenario, count: int) -> list[str]:
    """The live recorders: the first `count` recorders of the scenario's pools (`<pool>-rNN`;
    a live run records with all of them), so a fault names the same recorder in both engines."""
    names = [f"{p.name}-r{j + 1:02d}" for p in sc.recorders.pools for j in range(p.recorders)]
    if count > len(names):
        raise ScenarioError(
            f"{count} live recorders, but the scenario's pools have {len(names)} recorders; "
            f"expected at most {len(names)}: add recorders to recorders.pools")
    return names[:count]


class _Signals:
    """SIGINT/SIGTERM raise LiveInterrupted in the main thread (once armed)."""

    def __init__(self) -> None:
        self.got: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
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


def run_live(sc: Scenario, out: Path, *, duration_s: float | None = None,
             progress: Callable[[float, float, str], None] | None = None,
             metrics_port: int = 0, source: str = "") -> LiveOutcome:
    """Run `sc` live for `duration_s` (default: live.duration_s); files go under `out/live`.

    Its health is served as Prometheus metrics on 127.0.0.1:`metrics_port` (0: any free
    port) while it runs (twin.live.health); the URL is in progress and `live/parts.json`.

    A SIGINT or SIGTERM during recording ends it early and the outcome says so
    (`interrupted`); during start-up or shut-down it aborts, cleaning up all the same.
    """
    from twin.model.city import generate_city
    from twin.live.clips import prepare_clips
    from twin.live.faults import compile_live_faults
    from twin.storage.live_catalog import LiveStore

    settings = live_run_settings(sc)
    duration = float(duration_s if duration_s is not None else settings.duration_s)
    say = progress or (lambda t, total, msg: None)
    epoch = time.time()

    def now() -> float:
        return time.time() - epoch

    # -- the plan, checked before anything runs --------------------------------------------------
    city = generate_city(sc)
    if city.n_cameras > MAX_LIVE_CAMERAS:
        raise LiveError(
            f"scenario {sc.name!r} has {city.n_cameras:,} cameras; a live run publishes, relays "
            f"and records every one for real, expected at most {MAX_LIVE_CAMERAS}: run it with "
            f"`twin simulate`, or run live a scenario of a few sets (e.g. "
            f"scenarios/live-trial-15.yaml)")
    cameras = [city.camera_name(i) for i in range(city.n_cameras)]
    camera_set = {c: f"set{int(city.cam_set[i]) + 1:05d}" for i, c in enumerate(cameras)}
    camera_scene = {c: i % settings.profile.scenes for i, c in enumerate(cameras)}
    recorders = settings.recorders.names  # every pool's, as the simulation names them
    set_names = sorted(set(camera_set.values()))
    districts = [d.name for d in sc.city.districts]
    sets_of_district: dict[str, list[str]] = {d: [] for d in districts}
    for i, c in enumerate(cameras):
        d = districts[int(city.cam_district[i])]
        if camera_set[c] not in sets_of_district[d]:
            sets_of_district[d].append(camera_set[c])
    faults = compile_live_faults(sc, recorders, sets_of_district, duration, sc.name)
    if isinstance(settings.mediamtx, ExternalMediaMTX) and any(
            f.action == "kill_relay" for f in faults):
        raise ScenarioError(
            f"{sc.name}: faults: a relay_down fault kills MediaMTX, which is external here "
            f"(live.mediamtx.type: external); expected a managed server for it: use "
            f"live.mediamtx.type: managed or remove the relay_down fault")

    desk = Path(out) / "evidence"
    if desk.is_dir() and any(desk.iterdir()):
        from twin.errors import UsageError

        raise UsageError(
            f"--out {out}: {desk} holds the evidence desk of an earlier live run (its trail and "
            f"holds name that run's footage, which a new run here would delete); expected a "
            f"folder without one: pass another --out, or move {desk} away first")
    say(0, duration, f"encoding {settings.profile.scenes} scene clip(s) (cached after the first run)")
    clips = prepare_clips(settings.profile, sc.seed)
    run_dir = Path(out) / "live"
    segments_root = run_dir / "segments"
    store_path = run_dir / "catalog.sqlite"
    shutil.rmtree(segments_root, ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    segments_root.mkdir(parents=True)
    LiveStore(store_path).close()  # create the schema once, before many writers race to
    retention_s = settings.retention_for(sc.recording.retention_days)

    outcome = LiveOutcome(
        scenario=sc, settings=settings, run_dir=run_dir, store_path=store_path,
        segments_root=segments_root, epoch=epoch, t0=0.0, t_end=0.0, cameras=cameras,
        camera_set=camera_set, camera_scene=camera_scene, recorders=recorders,
        initial_assignment={}, final_assignment={}, retention_s=retention_s,
        clip_truth_paths=[str(c.truth_path) for c in clips], source=source,
    )
    events = outcome.events
    from twin.live.run_state import save_state

    save_state(outcome, "starting")  # a live run folder from now on (twin live --recover)

    def event(kind: str, **kw: Any) -> None:
        events.append({"t_s": round(now(), 3), "kind": kind, **kw})

    server = None
    session = None
    parts = None
    watchdog = None
    from twin.live.health import RunHealth

    health = RunHealth(metrics_port, sc.name, cameras)
    with _Signals() as signals:
        try:
            if isinstance(settings.mediamtx, ExternalMediaMTX):
                say(0, duration, "attaching to the external MediaMTX")
                server = _start_server(settings, cameras)
                event("mediamtx_started", pid=server.pid, managed=server.managed)
            watchdog = _start_watchdog(run_dir)  # before Ray: every process of it is new
            say(0, duration, "starting Ray")
            from twin.ray.session import start_ray

            try:
                session = start_ray(run_dir / "ray.log")
            except SystemExit as exc:  # Ray's own SIGTERM handler, active inside ray.init
                if exc.code != signal.SIGTERM:
                    raise
                signals.got = signals.got or "SIGTERM"
                raise LiveInterrupted("SIGTERM received") from None
            signals.rearm()
            if watchdog is not None and not session.started_here:
                watchdog.close()  # a Ray already there is not this run's to kill
                watchdog = None
            if watchdog is not None:
                watchdog.tell_dirs(session.temp_dir)
            outcome.ray_address = session.address
            say(0, duration, "placing districts and pools on Ray's nodes")
            _place(outcome, sc, settings, city, faults)
            say(0, duration, "starting the media relays (MediaMTX on each node with cameras)")
            parts = _make_parts(outcome, settings, server, clips, epoch, set_names, event)
            parts.ray_temp_dir = session.temp_dir
            if watchdog is not None:
                watchdog.tell_dirs(*outcome.relay_dirs)
            _run(outcome, settings, sc, parts, duration, faults, now, event, say, signals, health)
            return outcome
        except (LiveInterrupted, SystemError) as exc:
            # A signal that lands inside Ray's compiled ray.get (waiting for the actors to
            # start) comes out as a SystemError around our LiveInterrupted.
            why = exc.__cause__ or exc.__context__
            if isinstance(exc, SystemError) and not (
                    signals.got and isinstance(why, LiveInterrupted)):
                raise
            raise LiveInterrupted(
                f"live run of {sc.name} stopped by {signals.got or exc} during start-up; "
                f"expected it to run to the end: nothing was recorded, and nothing is left "
                f"running") from None
        except TimeoutError as exc:
            raise LiveError(
                f"{exc} (live.startup_timeout_s = {settings.startup_timeout_s} s); expected a "
                f"Ray cluster with room for them: raise the timeout or lower the number of "
                f"sets") from None
        finally:
            health.close()
            _teardown(parts, session, server)
            if watchdog is not None:
                watchdog.close()  # after the teardown: a kill -9 during it is still caught


def _start_watchdog(run_dir: Path) -> Any:
    """The watchdog that kills what is left of the run if this process dies
    (twin.live.watchdog), for a Ray this process starts; None for a joined cluster."""
    import ray

    if os.environ.get("RAY_ADDRESS", "").strip() or ray.is_initialized():
        return None
    from twin.live.watchdog import start_watchdog

    return start_watchdog(run_dir)


def _teardown(parts: Any, session: Any, server: Any) -> None:
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


def _place(o: LiveOutcome, sc: Scenario, settings: LiveRun, city: Any,
           faults: list[Any]) -> None:
    """Districts and pools on Ray's nodes (twin.live.cluster), and each recording node's
    folder made and its catalog created, on that node."""
    import ray

    from twin.live.cluster import cluster_nodes, plan_placement, prepare_node

    districts = [d.name for d in sc.city.districts]
    o.camera_district = {c: districts[int(city.cam_district[i])] for i, c in enumerate(o.cameras)}
    with_sets = [d for d in districts if d in set(o.camera_district.values())]
    pool_of = {f"{p.name}-r{j + 1:02d}": p.name for p in sc.recorders.pools
               for j in range(p.recorders)}
    o.recorder_pool = {r: pool_of[r] for r in o.recorders}
    live_pools = [p for p in sc.recorders.pools if p.name in set(o.recorder_pool.values())]
    o.driver_node = str(ray.get_runtime_context().get_node_id())
    from twin.live.analysis_pool import analyser_parts

    an = settings.analyser
    pl = plan_placement(cluster_nodes(), with_sets,
                        [(p.name, p.districts) for p in live_pools], o.driver_node,
                        analyser_parts(an.actors) if an.enabled else [])
    o.placement = pl
    relay_nodes = sorted(set(pl.district_node.values()))
    if len(relay_nodes) > 1 and isinstance(settings.mediamtx, ExternalMediaMTX):
        raise ScenarioError(
            f"{sc.name}: live.mediamtx.type is external, but the districts are placed on "
            f"{len(relay_nodes)} nodes, each with its own relay; expected a managed MediaMTX "
            f"on a cluster: use live.mediamtx.type: managed")
    if len(relay_nodes) > 1 and any(f.action == "kill_relay" for f in faults):
        raise ScenarioError(
            f"{sc.name}: faults: a relay_down fault kills the one media relay, but this run has "
            f"{len(relay_nodes)} (one per node with cameras); expected one node for it: kill a "
            f"node's relay from outside (live/parts.json names each), or run on one node")
    # A district's pool records its cameras; a central pool serving no camera of its own
    # (every district has its pool) is the standby for all of them, as in the deployment.
    own = {d: p.name for p in live_pools if p.districts != "*" for d in p.districts}
    central = next((p.name for p in live_pools if p.districts == "*"), None)
    recs_of = {p.name: [r for r in o.recorders if o.recorder_pool[r] == p.name]
               for p in live_pools}
    if central is not None and all(d in own for d in with_sets):
        o.standby = list(recs_of[central])
    active = [r for r in o.recorders if r not in o.standby]
    o.homes = {c: (recs_of[own[d]] if d in own else
                   recs_of.get(central or "", []) or active)
               for c, d in o.camera_district.items()}
    o.storage_nodes = sorted({pl.pool_node[p] for p in o.recorder_pool.values()},
                             key=pl.label)
    o.run_key = f"{sc.name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(o.epoch))}-{os.getpid()}"
    refs = [prepare_node(n, o.run_key, str(o.run_dir.resolve()), o.driver_node)
            for n in o.storage_nodes]
    try:
        for n, in_run in zip(o.storage_nodes, ray.get(refs, timeout=settings.startup_timeout_s)):
            o.storage_kind[n] = "run folder" if in_run else "node folder"
    except ray.exceptions.RayTaskError as exc:
        raise LiveError(str(exc.cause) if exc.cause is not None else str(exc)) from None


def _make_parts(o: LiveOutcome, settings: LiveRun, server: Any, clips: list[Any],
                epoch: float, set_names: list[str], event: Callable[..., None]) -> RayParts:
    """The relays (started: the cameras need their addresses), the actors' specs and the
    RayParts over them (no other actor starts yet)."""
    # mypy does not apply a class decorator's return type: it sees the plain classes, not the
    # ActorClass ray.remote makes of them, hence the ignores on `.options` / `.remote` below.
    from actors.analyser import AnalyserActor
    from actors.camera_set import CameraSetActor
    from actors.recorder import RecorderActor
    from actors.relay import RelayActor
    from actors.sweeper import SweeperActor
    from synthetic_streams.mediamtx_config import make_credentials
    from twin.live.analysis_pool import analyser_parts
    from twin.live.cluster import pinned
    from twin.live.driver import RELAY, SWEEPER
    from twin.live.parts import ActorRelay, ActorSpec, DriverRelay, RayParts, RelayWatch

    pl = o.placement
    relay_nodes = sorted(set(pl.district_node.values()), key=pl.label)
    relay_part = {n: (RELAY if len(relay_nodes) == 1 else f"relay:{pl.label(n)}")
                  for n in relay_nodes}
    cams_on = {n: [c for c in o.cameras if pl.district_node[o.camera_district[c]] == n]
               for n in relay_nodes}

    def on_pid(pid: int) -> None:
        o.mediamtx_pids.append(pid)
        event("mediamtx_started", pid=pid, managed=True)

    relays: dict[str, Any] = {}
    creds: dict[str, Any] = {}
    if server is not None:  # external: one server for every camera, watched from here
        n = relay_nodes[0]
        relays[RELAY] = DriverRelay(RelayWatch(server, settings.heartbeat_interval_s,
                                               settings.heartbeat_timeout_s, on_pid),
                                    o.driver_node, o.cameras)
        creds[RELAY], endpoints = server.credentials, {RELAY: server.endpoints}
    else:
        assert isinstance(settings.mediamtx, ManagedMediaMTX)  # external: `server` above
        log_level = settings.mediamtx.log_level
        for n in relay_nodes:
            part = relay_part[n]
            creds[part] = make_credentials(cams_on[n])

            def make(ep: Any, n: str = n, part: str = part) -> Any:
                return RelayActor.options(**pinned(n)).remote(  # type: ignore[attr-defined]
                    cams_on[n], creds[part], pl.address(n), ep, settings.heartbeat_interval_s,
                    settings.heartbeat_timeout_s, log_level, settings.startup_timeout_s)

            relays[part] = ActorRelay(make, n, cams_on[n], settings.heartbeat_timeout_s, on_pid)
        for relay in relays.values():
            relay.start(settings.startup_timeout_s)
        endpoints = {part: r.endpoints for part, r in relays.items()}
        o.relay_dirs = [r.run_dir for r in relays.values() if r.run_dir]
    relay_of = {c: relay_part[pl.district_node[o.camera_district[c]]] if server is None
                else RELAY for c in o.cameras}

    def url(c: str, role: str) -> str:
        part = relay_of[c]
        cr = creds[part]
        login = {"publisher": cr.publisher(c) if role == "publisher" else None,
                 "recorder": cr.recorder, "analyser": cr.analyser}[role]
        return str(endpoints[part].rtsp_url(c, login))

    n_pub = min(len(set_names), settings.publisher_actors or len(set_names))
    actor_of = {s: (f"set:{s}" if n_pub == len(set_names) else f"set:publishers-{k % n_pub + 1:02d}")
                for k, s in enumerate(set_names)}
    by_actor: dict[str, list[tuple[str, str, str]]] = {}
    set_cameras: dict[str, list[str]] = {s: [] for s in set_names}
    node_of_actor: dict[str, str] = {}
    for c in o.cameras:
        s = o.camera_set[c]
        set_cameras[s].append(c)
        by_actor.setdefault(actor_of[s], []).append(
            (c, str(clips[o.camera_scene[c]].path), url(c, "publisher")))
        node_of_actor.setdefault(actor_of[s], pl.district_node[o.camera_district[c]])
    specs: dict[str, ActorSpec] = {}
    origins: dict[str, float] = {}  # filled when publishing starts; restarts reuse them

    def set_spec(part: str, cams: list[tuple[str, str, str]]) -> ActorSpec:
        return ActorSpec(
            make=lambda: CameraSetActor.options(  # type: ignore[attr-defined]
                **pinned(node_of_actor[part])).remote(
                part.split(":", 1)[1], cams,
                {c: origins[c] for c, _, _ in cams if c in origins}),
            after_start=lambda h: h.start.remote())

    for part, cams in sorted(by_actor.items()):
        specs[part] = set_spec(part, cams)
    an = settings.analyser
    analysed = o.cameras[: an.cameras] if an.cameras else list(o.cameras)
    # The analyser pool: each part analyses the cameras the pool plan gives it (filled in
    # `_admit_analysis` before analysis starts; a restarted part takes the same cameras).
    assigned: dict[str, list[str]] = {}

    def analyser_spec(part: str) -> ActorSpec:
        return ActorSpec(
            make=lambda: AnalyserActor.options(  # type: ignore[attr-defined]
                **pinned(pl.analyser_node[part])).remote(
                {c: url(c, "analyser") for c in analysed},
                {c: o.camera_scene[c] for c in analysed}, o.clip_truth_paths, epoch,
                settings.profile.gop_frames, an.width, an.min_interval_s),
            after_start=lambda h: h.start.remote(origins, assigned.get(part, [])))

    if an.enabled:
        for part in analyser_parts(an.actors):
            specs[part] = analyser_spec(part)
    storage = (o.run_key, str(o.run_dir.resolve()), o.driver_node)  # workers have their own cwd
    desk = str(o.run_dir.parent.resolve() / "evidence")

    def _sweeper_maker(node: str) -> Callable[[], Any]:
        return lambda: SweeperActor.options(**pinned(node)).remote(  # type: ignore[attr-defined]
            storage, o.cameras, o.recorders, o.retention_s, settings.sweep_batch_segments, desk)

    for n in o.storage_nodes:
        part = SWEEPER if len(o.storage_nodes) == 1 else f"{SWEEPER}:{pl.label(n)}"
        specs[part] = ActorSpec(make=_sweeper_maker(n))

    def recorder_spec(name: str) -> ActorSpec:
        node = pl.pool_node[o.recorder_pool[name]]
        return ActorSpec(make=lambda: RecorderActor.options(  # type: ignore[attr-defined]
            **pinned(node)).remote(
            name, storage, epoch, settings.segment_s, settings.profile.fps,
            settings.recorders.container, settings.recorders.reconnect_max_s))

    def sweep(handle: Any, now_s: float) -> Any:
        return handle.sweep.remote(now_s)

    cams_of_part = {p: [c for c, _, _ in cams] for p, cams in by_actor.items()}
    parts = RayParts(relays=relays, recorder_spec=recorder_spec, actor_specs=specs,
                     cameras_of=cams_of_part, set_cameras=set_cameras, set_actor=actor_of,
                     all_cameras=o.cameras, recorder_url=lambda c: url(c, "recorder"),
                     sweep=sweep)
    parts.clip_paths = [c.path for c in clips]
    parts.origins = origins  # the specs' closures read this dict: restarts reuse the origins
    parts.analysis_assigned = assigned  # likewise: a restarted analyser takes its cameras
    parts.analysis_candidates = analysed
    parts.label = pl.label
    return parts


def _run(o: LiveOutcome, settings: LiveRun, sc: Scenario, parts: Any, duration: float,
         faults: list[Any], now: Callable[[], float],
         event: Callable[..., None], say: Callable[[float, float, str], None],
         signals: _Signals, health: Any) -> None:
    import ray
    import simpy.rt

    from twin.live.driver import ANALYSER, DriverConfig, LiveDriver
    from twin.live.failover import Supervisor
    from twin.live.harness import HarnessWatch

    # -- actors --------------------------------------------------------------------------------
    say(0, duration, "starting actors")
    t_actors = time.monotonic()
    parts.start_all(o.recorders, settings.startup_timeout_s)
    o.actors_started_s = time.monotonic() - t_actors
    event("actors_started", actors=len(parts.where), seconds=round(o.actors_started_s, 2),
          nodes=sorted({n for _, n in parts.where.values()}))
    _serve_health(o, parts, health, event, say, duration)

    # -- publish, wait until every path is on the air ------------------------------------------
    say(0, duration, "publishing")
    set_parts = [p for p in parts.actors if p.startswith("set:")]
    for got in ray.get([parts.actors[p].start.remote() for p in set_parts],
                       timeout=settings.startup_timeout_s):
        parts.origins.update(got)
    o.clip_origins = {c: t - o.epoch for c, t in parts.origins.items()}
    deadline = time.monotonic() + settings.startup_timeout_s
    while True:
        ready = _ready_paths(parts)
        if ready >= set(o.cameras):
            break
        if time.monotonic() > deadline:
            raise LiveError(
                f"{len(set(o.cameras) - ready)} camera paths were not published within "
                f"{settings.startup_timeout_s} s (e.g. {sorted(set(o.cameras) - ready)[:3]}); "
                f"see the MediaMTX logs {o.relay_dirs or 'of the external server'}")
        time.sleep(0.2)
    event("published", cameras=len(o.cameras))

    # -- place and record ----------------------------------------------------------------------
    mbps = {c: settings.nominal_mbps for c in o.cameras}  # what the plan says they send
    sup = Supervisor(o.recorders, settings.recorders.max_streams_of(o.recorders),
                     settings.recorders.ingest_mbps_of(o.recorders),
                     mbps, settings.heartbeat_interval_s, settings.heartbeat_timeout_s, now(),
                     homes=o.homes or None, standby=o.standby)
    assignment = sup.place_all()
    o.initial_assignment = dict(assignment)
    unplaced = sorted(c for c, r in assignment.items() if r is None)
    if unplaced:
        event("cameras_unplaced", cameras=unplaced)
    t0 = now()
    o.t0 = t0
    ray.get([parts.recorders[r].record.remote({c: parts.url(c)
                                                for c in sup.cameras_of_recorder(r)})
             for r in o.recorders], timeout=settings.startup_timeout_s)
    an_parts = [p for p in parts.actors if p.split(":", 1)[0] == ANALYSER]
    if an_parts:
        _admit_analysis(o, settings, parts, an_parts, event, say, duration)
        ray.get([parts.actors[p].start.remote(parts.origins, parts.analysis_assigned[p])
                 for p in an_parts], timeout=settings.startup_timeout_s)
    event("recording_started", assignment={r: len(sup.cameras_of_recorder(r))
                                           for r in o.recorders})
    # Each recorder answered `record`: alive as of now. Beat only here, after every blocking
    # start-up call (starting 99 analyser threads took > 5 s under load).
    sup.beat(o.recorders, now())

    # -- the driver's processes on the wall clock ----------------------------------------------
    env = simpy.rt.RealtimeEnvironment(initial_time=now(), factor=1.0, strict=False)
    t_end = t0 + duration

    watch = HarnessWatch(os.cpu_count() or 1)
    bitrate_bps = settings.profile.bitrate_mbps * 1e6

    def _sampled(driver: Any) -> None:
        watch.sample(now(), {c: st for stats, _ in parts.publishers.values()
                             for c, st in stats.items()}, bitrate_bps)
        health.sample(driver, parts, now() - t0, env, watch.latest())
        _write_parts(o.run_dir / "parts.json", parts, extra)

    driver = LiveDriver(env, parts, sup, DriverConfig(
        t0=t0, t_end=t_end, heartbeat_interval_s=settings.heartbeat_interval_s,
        sweep_interval_s=settings.sweep_interval_s), faults,
        event=lambda kind, **kw: event(kind, **kw),
        say=lambda msg: say(now() - t0, duration, msg),
        on_sample=lambda: _sampled(driver), clock=now)
    extra: dict[str, Any] = {"ray_temp_dir": str(parts.ray_temp_dir or ""),
                             "mediamtx_dir": o.relay_dirs[0] if o.relay_dirs else "",
                             "mediamtx_dirs": list(o.relay_dirs),
                             "nodes": _nodes_event(o, parts)["nodes"],
                             "metrics_url": health.url}
    driver.start()
    from twin.live.run_state import keep_state

    env.process(keep_state(env, o, driver, sup, parts))  # live/run-state.json, every second
    cpu_marks: dict[str, dict[str, float]] = {}
    steady_from = t0 + min(10.0, duration / 4)
    steady_to = min([t0 + f.start_s for f in faults] + [t_end])

    snapping: list[threading.Thread] = []

    def snap(mark: str) -> None:
        cpu_marks[mark] = {**_cpu_snapshot(parts), "t": now()}

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
        env.run(until=t_end)
    except LiveInterrupted:
        o.interrupted = signals.got
        event("interrupted", signal=signals.got)
        say(now() - t0, duration, f"{signals.got}: stopping early, keeping what was recorded")
    # Stopping is bounded by timeouts; a further signal must not cut it short (files would be
    # left half-recovered and actors running).
    for sig in (signal.SIGINT, signal.SIGTERM):
        if threading.current_thread() is threading.main_thread():
            signal.signal(sig, signal.SIG_IGN)
    for th in snapping:  # bounded: each of its Ray calls has a timeout
        th.join(120)
    o.harness = {"lag": driver.lag, "lag_at": driver.lag_at, "machine": watch.machine,
                 "publisher_behind_s": watch.publisher_behind_s, "cpus": watch.cpus,
                 "faults_late": [r["late_s"] for r in driver.log.records if "late_s" in r]}
    _stop(o, parts, driver, sup, cpu_marks, now, event, say, duration)


def _stop(o: LiveOutcome, parts: Any, driver: Any, sup: Any, cpu_marks: dict[str, Any],
          now: Callable[[], float], event: Callable[..., None],
          say: Callable[[float, float, str], None], duration: float) -> None:
    """Stop recorders first (footage runs to the end), recover what dead ones left, stop the rest."""
    import ray

    from twin.live.driver import ANALYSER

    o.t_end = now()
    from twin.live.run_state import save_state

    save_state(o, "stopping", driver=driver, sup=sup, parts=parts)
    for r, rec in parts.recovered:  # files crashed recorders left, kept by their successors
        o.recovered_partials += len(rec.recovered)
        o.removed_partials += len(rec.removed)
        event("partials_recovered", recorder=r, recovered=len(rec.recovered),
              removed=len(rec.removed), seconds=round(rec.seconds, 3), by="restarted recorder")
    if "steady_to" not in cpu_marks and "steady_from" in cpu_marks:
        cpu_marks["steady_to"] = _cpu_snapshot(parts)
        cpu_marks["steady_to"]["t"] = now()
    if "steady_from" in cpu_marks and "steady_to" in cpu_marks:
        a, b = cpu_marks["steady_from"], cpu_marks["steady_to"]
        o.cpu_window_s = b["t"] - a["t"]
        o.cpu = {k: b[k] - a[k] for k in b if k != "t" and k in a and ":" not in k}
        # The relay's witness: what reached MediaMTX of all each camera had offered, at the
        # end of the steady window (before the first fault: a relay restarted would have
        # reset its count). Totals, not the window's differences: the relay is read just
        # after the publishers, so a total can only be ahead, while a difference of two
        # readings taken seconds apart on a loaded machine is off by those seconds.
        # Only if no relay went down before the reading: a restarted MediaMTX (a fault nobody
        # scripted, which does not end the window) counts from zero again.
        ratio = {}
        first_only = not any(
            r["part"].startswith("relay") and min(
                (x for x in (r["injected_s"], r["last_seen_s"], r["detected_s"]) if x is not None),
                default=math.inf) < b["t"] for r in driver.log.records)
        for k in b:
            cam = k.partition(":")[2]
            if first_only and k.startswith("sent:") and b[k] > 0 and f"relay:{cam}" in b:
                ratio[cam] = b[f"relay:{cam}"] / b[k]
        if ratio:
            o.harness["relay_ratio"] = ratio
            o.harness["relay_checked_s"] = b["t"]
        event("cpu_window", from_s=round(a["t"], 3), to_s=round(b["t"], 3),
              cpu_s={k: round(v, 3) for k, v in sorted(o.cpu.items())},
              snapshot_keys=sorted(k for k in set(a) | set(b) if ":" not in k))
    say(duration, duration, "stopping recorders")
    running = [r for r in o.recorders if r not in driver.down or r in driver.restarting]
    o.recorder_stats = parts.stop_recorders(running, 60)
    for r, stats in parts.dead_stats.items():  # what dead processes had recorded
        if r in o.recorder_stats:
            o.recorder_stats[r] = _merge_status(stats + [o.recorder_stats[r]])
        else:
            o.recorder_stats[r] = _merge_status(stats)
    # Recorders that died and did not run again left `.part` files: keep their footage. Each
    # node recovers its own, then reads its catalog and checks it against its files.
    say(duration, duration, "recovering and checking each node's files, on that node")
    unreadable = _finish_nodes(o, event, lost=set(getattr(parts, "_lost", ())))
    for rec in driver.log.records:  # what a lost node held is lost with it, from the start
        if rec["kind"] == "node_lost" and rec["part"].split(":", 1)[1] in unreadable:
            rec["storage_lost"] = True
    say(duration, duration, "stopping publishers")
    stopped = parts.call_all("stop", 60)
    o.publisher_stats = {c: s for p, v in stopped.items() if p.startswith("set:")
                         for c, s in v[0].items()}
    snaps = list(parts.analyser_done)
    for p in sorted(set(stopped) | set(parts.analyser_snapshots)):
        if p.split(":", 1)[0] != ANALYSER:
            continue
        if p in stopped:
            snaps.append(stopped[p])
        elif p in parts.analyser_snapshots:
            snaps.append(parts.analyser_snapshots[p])
    o.analyser = _merge_analyser(snaps) if snaps else {}
    if parts.sweep_pending():
        rep = parts.sweep_poll()
        deadline = time.monotonic() + 30
        while rep is None and time.monotonic() < deadline:
            time.sleep(0.1)
            rep = parts.sweep_poll()
        if rep:
            driver.sweeps.append(rep)
    for part in parts.sweepers():
        try:
            ray.get(parts.actors[part].close.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - a dead sweeper has nothing to close
            pass
    o.sweeps = list(driver.sweeps)
    o.samples = driver.samples
    o.faults = driver.log.records
    o.final_assignment = sup.assignment()
    o.parts = {"history": parts.pid_history, "mediamtx_pids": list(o.mediamtx_pids)}
    o.events.append({"t_s": round(now(), 3), "kind": "cluster", **_nodes_event(o, parts)})
    o.events.extend({"t_s": round(e["t_s"], 3), "kind": "recorder_health",
                     **{k: v for k, v in e.items() if k != "t_s"}} for e in sup.health_events)
    o.events.sort(key=lambda e: e["t_s"])
    event("stopped")


def _admit_analysis(o: LiveOutcome, settings: LiveRun, parts: Any, an_parts: list[str],
                    event: Callable[..., None], say: Callable[[float, float, str], None],
                    duration: float) -> None:
    """Each analyser measures its cost per frame; cameras are admitted within its cores
    (twin.live.analysis_pool); the rest are reported as not analysed."""
    import ray

    from twin.live.analysis_pool import analysed_interval_s, plan_pool

    an = settings.analyser
    say(0, duration, f"measuring the cost of a frame on {len(an_parts)} analyser(s)")
    costs = ray.get([parts.actors[p].frame_cost.remote([str(c) for c in parts.clip_paths],
                                                       an.width) for p in an_parts],
                    timeout=settings.startup_timeout_s)
    cost_ms = dict(zip(an_parts, (float(c) for c in costs)))
    plan = plan_pool(list(parts.analysis_candidates), an_parts, cost_ms,
                     analysed_interval_s(settings), an.cpu_per_actor, an.max_util_pct)
    parts.analysis_assigned.update(plan.cameras_of)
    o.analysis = {"cost_ms": {p: round(x, 4) for p, x in cost_ms.items()},
                  "limit_fps": {p: round(x, 4) for p, x in plan.limit_fps.items()},
                  "cameras_of": plan.cameras_of, "not_analysed": plan.not_analysed,
                  "candidates": len(parts.analysis_candidates),
                  "cpu_per_actor": an.cpu_per_actor, "max_util_pct": an.max_util_pct}
    event("analysis_admitted", cost_ms=o.analysis["cost_ms"],
          cameras={p: len(c) for p, c in plan.cameras_of.items()},
          not_analysed=len(plan.not_analysed))


def _serve_health(o: LiveOutcome, parts: Any, health: Any, event: Callable[..., None],
                  say: Callable[[float, float, str], None], duration: float) -> None:
    """Serve the run's health on loopback (twin.live.health) now that its parts are up."""
    relay_of = {c: p for p, r in parts.relays.items() for c in r.cameras}
    port = health.server.port
    try:
        url = health.start(o.run_key, relay_of)
    except OSError as exc:
        raise LiveError(
            f"--metrics-port {port}: cannot serve metrics on 127.0.0.1:{port} ({exc}); "
            f"expected a free port: pass another, or 0 for any free one") from None
    event("metrics_served", url=url)
    say(0, duration, f"metrics: {url}")


def _write_parts(path: Path, parts: Any, extra: dict[str, str]) -> None:
    """`live/parts.json`: the OS process of every part now (what an operator kills to test),
    and the temporary folders of the run's Ray and MediaMTX (gone once the run is over)."""
    import json

    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"parts": parts.current(), **extra}, indent=1, sort_keys=True))
    tmp.replace(path)


def _merge_status(statuses: list[Any]) -> Any:
    """One recorder's final counters over the processes it ran in."""
    from twin.live.recorder import RecorderStatus

    streams = tuple(st for s in statuses for st in s.streams)
    return RecorderStatus(statuses[-1].name, statuses[-1].at_s, (), streams,
                          sum(s.cpu_s for s in statuses))


def _merge_analyser(snaps: list[dict[str, Any]]) -> dict[str, Any]:
    """The analyser's scores over every process it ran in (the last snapshot of a dead one)."""
    by_cam: dict[str, dict[str, Any]] = {}
    for snap in snaps:
        for c in snap.get("cameras") or []:
            m = by_cam.get(c["camera"])
            if m is None:
                by_cam[c["camera"]] = {**c, "tp": dict(c["tp"]), "detections": dict(c["detections"]),
                                       "truths": dict(c["truths"]), "alerts": list(c["alerts"])}
                continue
            for k in ("frames", "frames_scored", "connects", "failures", "dropped_late"):
                m[k] = m.get(k, 0) + c.get(k, 0)
            m["process_s"] = m.get("process_s", 0.0) + c.get("process_s", 0.0)
            for k in ("tp", "detections", "truths"):
                for cls, v in c[k].items():
                    m[k][cls] = m[k].get(cls, 0) + v
            m["alerts"] += c["alerts"]
            firsts = [x for x in (m["first_frame_s"], c["first_frame_s"]) if x is not None]
            lasts = [x for x in (m["last_frame_s"], c["last_frame_s"]) if x is not None]
            m["first_frame_s"] = min(firsts) if firsts else None
            m["last_frame_s"] = max(lasts) if lasts else None
    return {"cameras": [by_cam[c] for c in sorted(by_cam)],
            "cpu_s": sum(s.get("cpu_s", 0.0) for s in snaps), "processes": len(snaps)}


def _finish_nodes(o: LiveOutcome, event: Callable[..., None], lost: set[str]) -> set[str]:
    """On each recording node: recover the `.part` files dead recorders left, read the catalog
    and check it against the files (PyAV); the driver gets rows and counts, no path. Returns
    the labels of the nodes whose files could not be read (lost)."""
    unreadable: set[str] = set()
    import ray

    from twin.live.cluster import finish_node

    refs = {n: finish_node(n, o.run_key, str(o.run_dir.resolve()), o.driver_node,
                           [r for r in o.recorders
                            if o.placement.pool_node[o.recorder_pool[r]] == n])
            for n in o.storage_nodes if n not in lost}
    for n in sorted(lost & set(o.storage_nodes), key=o.placement.label):
        event("node_unreadable", node=o.placement.label(n), error="the node was lost")
        unreadable.add(o.placement.label(n))
    for n, ref in refs.items():
        try:
            rep = ray.get(ref, timeout=300)
        except ray.exceptions.RayError as exc:
            event("node_unreadable", node=o.placement.label(n), error=str(exc)[:300])
            unreadable.add(o.placement.label(n))
            continue
        o.node_reports[n] = rep
        for rec in rep["recovered"]:
            o.recovered_partials += rec["recovered"]
            o.removed_partials += rec["removed"]
            event("partials_recovered", recorder=rec["recorder"], recovered=rec["recovered"],
                  removed=rec["removed"], seconds=round(rec["seconds"], 3))
    return unreadable


def _ready_paths(parts: Any) -> set[str]:
    """Camera paths on the air, over every relay."""
    from twin.live.parts import ActorRelay

    ready: set[str] = set()
    for relay in parts.relays.values():
        if isinstance(relay, ActorRelay):
            ready |= set(relay.ready_paths(30))
        else:
            ready |= {p.name for p in relay.watch.server.paths() if p.ready}
    return ready


def _nodes_event(o: LiveOutcome, parts: Any) -> dict[str, Any]:
    """The nodes used and the node of every part (actors, relays, recorders), by label."""
    pl = o.placement
    nodes = []
    for nid in pl.used() or [o.driver_node]:
        nodes.append({
            "node": pl.label(nid), "address": pl.address(nid), "node_id": nid,
            "driver": nid == o.driver_node,
            "districts": sorted(d for d, n in pl.district_node.items() if n == nid),
            "pools": sorted(p for p, n in pl.pool_node.items() if n == nid),
            "analysers": sorted(p for p, n in pl.analyser_node.items() if n == nid),
            "storage": o.storage_kind.get(nid)})
    where = {p: pl.label(node) for p, (_, node) in sorted(parts.where.items())}
    where.update({p: pl.label(r.node_id) for p, r in sorted(parts.relays.items())})
    return {"nodes": nodes, "run_key": o.run_key, "parts": dict(sorted(where.items())),
            "placed_by": dict(sorted(pl.claimed.items())), "standby": list(o.standby)}


def _cpu_snapshot(parts: Any) -> dict[str, float]:
    """CPU seconds so far, per part of the twin (recorders from their latest heartbeat)."""
    import psutil
    import ray

    from twin.live.driver import ANALYSER

    snap: dict[str, float] = {}
    refs: dict[str, Any] = {p: h.stats.remote() for p, h in parts.actors.items()
                            if p.startswith("set:")}
    for p in parts.sweepers():
        refs[p] = parts.actors[p].cpu_s.remote()
    an_refs = {p: h.cpu_s.remote() for p, h in parts.actors.items()
               if p.split(":", 1)[0] == ANALYSER}
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


def started_at() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
