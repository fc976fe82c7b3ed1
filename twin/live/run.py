"""The live engine: one scenario run for real, on the wall clock, on Ray.

Theory of operation
-------------------
The driver (this module) owns the clock and the plan; actors own the I/O.

1. Before any actor starts, each distinct scene is encoded once (cached), and MediaMTX is
   started by the twin on loopback with one publisher login per camera (or an external
   server is attached). `ray.init()` connects to `RAY_ADDRESS` if set, else starts Ray here.
2. Actors: one CameraSetActor per set (publishing its 2-3 cameras), `live.recorders.count`
   RecorderActors, one SweeperActor, one AnalyserActor. All ask for no CPU: they are I/O
   bound, and a 2-core machine must place ~20 of them.
3. The supervisor's bookkeeping (twin.live.failover over the core failover objects) places
   the cameras on recorders within their limits; recording starts at `t0` on the run clock.
4. Every tick the driver collects heartbeats (non-blocking: a request goes out each interval
   and its answer is taken when ready), lets the supervisor judge silence and carries out
   its moves, fires the scenario's drills (kill a recorder actor; restart MediaMTX, in a
   thread so heartbeats keep flowing), and starts a retention sweep every
   `sweep_interval_s`. The driver never blocks on an actor inside the loop.
5. At the end, recorders stop first (each closes its segment in progress at the end of the
   run), then publishers, analyser and sweeper; every actor is killed, Ray is shut down if
   this process started it, and MediaMTX is terminated by PID. Footage gaps, file checks and
   the rest are then measured from the SQLite catalog and the files (twin.live.measure).

Times in results are seconds on the run clock: `time.time() - epoch`, with `epoch` the
wall time the driver started; `t0` is when recording was asked to start.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from twin.errors import MediaServerError, TwinError
from twin.live.settings import (
    ExternalMediaMTX,
    KillRecorderDrill,
    LiveSettings,
    RestartMediaMTXDrill,
)
from twin.scenario import Scenario

__all__ = ["LiveError", "LiveOutcome", "run_live", "external_credentials"]


#: A live run is real traffic; one machine records ~40-60 cameras with the analyser on
#: (bench/bench_live.py). Beyond this the run would only thrash.
MAX_LIVE_CAMERAS = 500


class LiveError(TwinError):
    """A part of the live twin (Ray, an actor, MediaMTX) could not run."""


@dataclass
class LiveOutcome:
    """Everything the live run observed; twin.live.measure turns it into results."""

    scenario: Scenario
    settings: LiveSettings
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
    mediamtx_pids: list[int] = field(default_factory=list)
    ray_address: str = ""
    actors_started_s: float = 0.0


def external_credentials(cfg: ExternalMediaMTX, cameras: list[str]):
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


def _start_server(settings: LiveSettings, cameras: list[str]):
    from synthetic_streams.mediamtx import MediaMTXServer
    from synthetic_streams.mediamtx_config import Endpoints

    m = settings.mediamtx
    if isinstance(m, ExternalMediaMTX):
        server = MediaMTXServer.external(
            Endpoints(m.host, m.rtsp_port, m.api_port, m.metrics_port),
            external_credentials(m, cameras))
    else:
        server = MediaMTXServer(cameras, log_level=m.log_level)
    return server.start()


def _init_ray() -> bool:
    """ray.init() (RAY_ADDRESS, if set, picks the cluster); True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False}
    if not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = False
    ray.init(**kwargs)
    return True


class _Heartbeats:
    """One outstanding heartbeat request per recorder, collected when it is ready."""

    def __init__(self) -> None:
        self.pending: dict[str, Any] = {}
        self.latest: dict[str, Any] = {}

    def poll(self, handles: dict[str, Any], alive: set[str]) -> list[str]:
        """Take the answers that are ready; send new requests; return who answered."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        answered = []
        if self.pending:
            refs = list(self.pending.values())
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            ready_set = set(ready)
            for name, ref in list(self.pending.items()):
                if ref not in ready_set:
                    continue
                del self.pending[name]
                try:
                    self.latest[name] = ray.get(ref)
                    answered.append(name)
                except (RayActorError, RayTaskError):
                    pass
        for name in sorted(alive):
            if name not in self.pending:
                self.pending[name] = handles[name].heartbeat.remote()
        return answered


def run_live(sc: Scenario, out: Path, *, duration_s: float | None = None,
             progress: Callable[[float, float, str], None] | None = None) -> LiveOutcome:
    """Run `sc` live for `duration_s` (default: live.duration_s); files go under `out/live`."""
    import ray

    from actors.analyser import AnalyserActor
    from actors.camera_set import CameraSetActor
    from actors.recorder import RecorderActor
    from actors.sweeper import SweeperActor
    from twin.city import generate_city
    from twin.live.clips import prepare_clips
    from twin.live.failover import Supervisor
    from twin.live.store import LiveStore

    settings = sc.live or LiveSettings()
    duration = float(duration_s if duration_s is not None else settings.duration_s)
    say = progress or (lambda t, total, msg: None)
    epoch = time.time()

    def now() -> float:
        return time.time() - epoch

    # -- the city, the clips, the directories --------------------------------------------------
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
    recorders = [f"live-r{k + 1:02d}" for k in range(settings.recorders.count)]
    retention_s = settings.retention_for(sc.recording.retention_days)

    outcome = LiveOutcome(
        scenario=sc, settings=settings, run_dir=run_dir, store_path=store_path,
        segments_root=segments_root, epoch=epoch, t0=0.0, t_end=0.0, cameras=cameras,
        camera_set=camera_set, camera_scene=camera_scene, recorders=recorders,
        initial_assignment={}, final_assignment={}, retention_s=retention_s,
        clip_truth_paths=[str(c.truth_path) for c in clips],
    )
    events = outcome.events

    def event(kind: str, **kw: Any) -> None:
        events.append({"t_s": round(now(), 3), "kind": kind, **kw})

    server = None
    started_ray = False
    handles: dict[str, Any] = {}
    sets: dict[str, Any] = {}
    try:
        say(0, duration, "starting MediaMTX")
        server = _start_server(settings, cameras)
        if server.pid:
            outcome.mediamtx_pids.append(server.pid)
        event("mediamtx_started", pid=server.pid, managed=server.managed)
        say(0, duration, "starting Ray")
        started_ray = _init_ray()
        outcome.ray_address = str(ray.get_runtime_context().gcs_address)

        # -- actors --------------------------------------------------------------------------
        say(0, duration, "starting actors")
        t_actors = time.monotonic()
        sweeper = SweeperActor.remote(str(store_path), str(segments_root), cameras, recorders,
                                      retention_s, settings.sweep_batch_segments)
        for r in recorders:
            handles[r] = RecorderActor.options(name=None).remote(
                r, str(segments_root / r), str(store_path), epoch, settings.segment_s,
                settings.profile.fps, settings.recorders.container,
                settings.recorders.reconnect_max_s)
        set_names = sorted(set(camera_set.values()))
        n_pub = min(len(set_names), settings.publisher_actors or len(set_names))
        actor_of = {s: (s if n_pub == len(set_names) else f"publishers-{k % n_pub + 1:02d}")
                    for k, s in enumerate(set_names)}
        by_actor: dict[str, list[tuple[str, str, str]]] = {}
        for c in cameras:
            by_actor.setdefault(actor_of[camera_set[c]], []).append(
                (c, str(clips[camera_scene[c]].path), server.rtsp_url(c, "publisher")))
        for s, cams in sorted(by_actor.items()):
            sets[s] = CameraSetActor.remote(s, cams)
        an_cfg = settings.analyser
        analysed = cameras[: an_cfg.cameras] if an_cfg.cameras else list(cameras)
        analyser = None
        if an_cfg.enabled:
            analyser = AnalyserActor.remote(
                {c: server.rtsp_url(c, "analyser") for c in analysed},
                {c: camera_scene[c] for c in analysed}, outcome.clip_truth_paths, epoch,
                settings.profile.gop_frames, an_cfg.width, an_cfg.min_interval_s)
        every = [sweeper, *handles.values(), *sets.values(), *([analyser] if analyser else [])]
        try:
            pids = ray.get([a.pid.remote() for a in every], timeout=settings.startup_timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise LiveError(
                f"{len(every)} actors did not all start within live.startup_timeout_s "
                f"({settings.startup_timeout_s} s); expected a Ray cluster with room for them: "
                f"raise the timeout or lower the number of sets") from None
        outcome.actors_started_s = time.monotonic() - t_actors
        event("actors_started", actors=len(every), seconds=round(outcome.actors_started_s, 2))
        rec_pid = dict(zip(recorders, pids[1:1 + len(recorders)]))

        # -- publish, wait until every path is on the air --------------------------------------
        say(0, duration, "publishing")
        origins: dict[str, float] = {}
        for part in ray.get([a.start.remote() for a in sets.values()]):
            origins.update(part)
        outcome.clip_origins = {c: t - epoch for c, t in origins.items()}
        deadline = time.monotonic() + settings.startup_timeout_s
        while True:
            ready = {p.name for p in server.paths() if p.ready}
            if ready >= set(cameras):
                break
            if time.monotonic() > deadline:
                raise LiveError(
                    f"{len(set(cameras) - ready)} camera paths were not published within "
                    f"{settings.startup_timeout_s} s (e.g. {sorted(set(cameras) - ready)[:3]}); "
                    f"see the MediaMTX log {server.log_path}")
            time.sleep(0.2)
        event("published", cameras=len(cameras))

        # -- place and record ----------------------------------------------------------------
        mbps = {c: settings.profile.bitrate_mbps for c in cameras}
        sup = Supervisor(recorders, settings.recorders.max_streams,
                         settings.recorders.ingest_mbps, mbps, settings.heartbeat_interval_s,
                         settings.heartbeat_timeout_s, now())
        assignment = sup.place_all()
        outcome.initial_assignment = dict(assignment)
        unplaced = sorted(c for c, r in assignment.items() if r is None)
        if unplaced:
            event("cameras_unplaced", cameras=unplaced)
        t0 = now()
        outcome.t0 = t0
        ray.get([handles[r].record.remote({c: server.rtsp_url(c, "recorder")
                                           for c in sup.cameras_of_recorder(r)})
                 for r in recorders])
        if analyser is not None:
            ray.get(analyser.start.remote(origins))
        event("recording_started", assignment={r: len(sup.cameras_of_recorder(r))
                                               for r in recorders})
        # Each recorder answered `record`: alive as of now. Beat only here, after every
        # blocking start-up call (starting 99 analyser threads took > 5 s under load, and
        # the silence before the loop was counted against the recorders).
        sup.beat(recorders, now())

        # -- the loop --------------------------------------------------------------------------
        hb = _Heartbeats()
        alive = set(recorders)
        killed: set[str] = set()
        drills = sorted(settings.drills, key=lambda d: d.at_s)
        fired: list[Any] = []
        restart_threads: list[threading.Thread] = []
        next_hb = next_sweep = now()
        next_sample = now()
        sweep_ref = None
        cpu_marks: dict[str, dict[str, float]] = {}
        steady_from = t0 + min(10.0, duration / 4)
        steady_to = min([t0 + d.at_s for d in drills] + [t0 + duration])
        t_end = t0 + duration
        last_tick = now()
        while now() < t_end:
            t = now()
            if t - last_tick > 2 * settings.heartbeat_interval_s:
                # The driver itself was held up (an overloaded machine): silence it was not
                # there to watch is not held against the recorders. A killed one stays killed.
                sup.beat(sorted(alive - killed), t)
                event("driver_stalled", seconds=round(t - last_tick, 3))
            last_tick = t
            if t >= next_hb:
                answered = hb.poll(handles, alive - killed)
                if answered:
                    sup.beat(answered, t)
                next_hb = t + settings.heartbeat_interval_s
            moves = sup.check(now())
            for rname in sorted({m.from_recorder for m in moves}):
                alive.discard(rname)
                event("recorder_lost", recorder=rname,
                      detected_after_s=round(now() - max(
                          [e["t_s"] for e in events if e["kind"] == "drill_kill_recorder"
                           and e["recorder"] == rname] or [now()]), 3))
            by_target: dict[str, dict[str, str]] = {}
            for m in moves:
                if m.to_recorder is None:
                    event("camera_unplaced", camera=m.camera, from_recorder=m.from_recorder)
                else:
                    by_target.setdefault(m.to_recorder, {})[m.camera] = server.rtsp_url(
                        m.camera, "recorder")
            for target, cams in sorted(by_target.items()):
                handles[target].record.remote(cams)
                event("cameras_moved", to_recorder=target, cameras=sorted(cams),
                      from_recorder=sorted({m.from_recorder for m in moves
                                            if m.to_recorder == target}))
            if moves:
                sup.applied()
            # CPU is sampled before any drill fires: the steady window ends at the first one.
            for mark, at in (("steady_from", steady_from), ("steady_to", steady_to)):
                if mark not in cpu_marks and now() >= at:
                    cpu_marks[mark] = _cpu_snapshot(handles, alive - killed, sets, analyser,
                                                    sweeper, server, hb)
                    cpu_marks[mark]["t"] = now()
            while drills and now() >= t0 + drills[0].at_s:
                d = drills.pop(0)
                fired.append(d)
                if isinstance(d, KillRecorderDrill):
                    name = recorders[d.recorder]
                    ray.kill(handles[name], no_restart=True)
                    killed.add(name)
                    event("drill_kill_recorder", recorder=name, pid=rec_pid.get(name),
                          cameras=sup.cameras_of_recorder(name))
                elif isinstance(d, RestartMediaMTXDrill):
                    event("drill_restart_mediamtx", old_pid=server.pid, down_s=d.down_s)

                    def _restart(down_s: float = d.down_s) -> None:
                        server.stop()
                        time.sleep(down_s)
                        server.start()
                        if server.pid:
                            outcome.mediamtx_pids.append(server.pid)
                        event("mediamtx_restarted", pid=server.pid)

                    th = threading.Thread(target=_restart, name="mediamtx-restart", daemon=True)
                    th.start()
                    restart_threads.append(th)
            if sweep_ref is not None and ray.wait([sweep_ref], timeout=0)[0]:
                rep = ray.get(sweep_ref)
                outcome.sweeps.append({
                    "t_s": round(rep.now_s, 3), "cutoff_s": round(rep.cutoff_s, 3),
                    "deleted": len(rep.deleted_keys), "deleted_bytes": rep.deleted_bytes,
                    "overdue_after": rep.overdue_after,
                    "oldest_age_s": (round(rep.oldest_age_s, 3)
                                     if math.isfinite(rep.oldest_age_s) else None),
                    "missing_files": rep.missing_files})
                sweep_ref = None
            if sweep_ref is None and now() >= next_sweep:
                sweep_ref = sweeper.sweep.remote(now())
                next_sweep += settings.sweep_interval_s
            if now() >= next_sample:
                latest = hb.latest
                rec_now = sum(1 for r in alive - killed if r in latest
                              for s in latest[r].streams if s.recording)
                segs = sum(s.segments for r in latest for s in latest[r].streams)
                outcome.samples.append({
                    "t_s": round(now() - t0, 3), "cameras_recording": rec_now,
                    "segments_written": segs,
                    "segments_deleted": sum(x["deleted"] for x in outcome.sweeps),
                    "recorders_up": len(alive - killed)})
                say(now() - t0, duration,
                    f"{rec_now}/{len(cameras)} recording, {segs} segments, "
                    f"{sum(x['deleted'] for x in outcome.sweeps)} deleted, "
                    f"{len(alive - killed)}/{len(recorders)} recorders up")
                next_sample = now() + 2.0
            time.sleep(0.1)

        # -- stop: recorders first, so footage runs to the end of the run ----------------------
        outcome.t_end = now()
        for th in restart_threads:
            th.join(30)
        if "steady_to" not in cpu_marks:
            cpu_marks["steady_to"] = _cpu_snapshot(handles, alive - killed, sets, analyser,
                                                   sweeper, server, hb)
            cpu_marks["steady_to"]["t"] = now()
        if "steady_from" in cpu_marks:
            a, b = cpu_marks["steady_from"], cpu_marks["steady_to"]
            outcome.cpu_window_s = b["t"] - a["t"]
            outcome.cpu = {k: b[k] - a[k] for k in b if k != "t" and k in a}
            event("cpu_window", from_s=round(a["t"], 3), to_s=round(b["t"], 3),
                  cpu_s={k: round(v, 3) for k, v in sorted(outcome.cpu.items())},
                  snapshot_keys=sorted(set(a) | set(b)))
        say(duration, duration, "stopping recorders")
        live_recs = [r for r in recorders if r not in killed]
        final = ray.get([handles[r].stop.remote() for r in live_recs], timeout=60)
        outcome.recorder_stats = {r: st for r, st in zip(live_recs, final)}
        say(duration, duration, "stopping publishers")
        pub_final = ray.get([a.stop.remote() for a in sets.values()], timeout=60)
        outcome.publisher_stats = {c: s for stats, _cpu in pub_final for c, s in stats.items()}
        if analyser is not None:
            outcome.analyser = ray.get(analyser.stop.remote(), timeout=60)
        if sweep_ref is not None:
            ray.get(sweep_ref, timeout=60)
        ray.get(sweeper.close.remote(), timeout=30)
        outcome.final_assignment = sup.assignment()
        outcome.events.extend({"t_s": round(e["t_s"], 3), "kind": "recorder_health",
                               **{k: v for k, v in e.items() if k != "t_s"}}
                              for e in sup.health_events)
        outcome.events.sort(key=lambda e: e["t_s"])
        event("stopped")
        return outcome
    except ray.exceptions.RayError as exc:
        raise LiveError(f"Ray failed during the live run: {exc}; expected every actor to keep "
                        f"running: see the Ray logs under /tmp/ray/session_latest/logs") from exc
    except MediaServerError:
        raise
    finally:
        for a in [*handles.values(), *sets.values()]:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - best effort: the actor may be gone already
                pass
        if started_ray:
            ray.shutdown()
        if server is not None:
            server.close()


def _cpu_snapshot(handles, alive, sets, analyser, sweeper, server, hb) -> dict[str, float]:
    """CPU seconds so far, per part of the twin (recorders from their latest heartbeat)."""
    import psutil
    import ray

    snap: dict[str, float] = {}
    refs = {f"set:{k}": a.stats.remote() for k, a in sets.items()}
    if analyser is not None:
        refs["analyser"] = analyser.cpu_s.remote()
    refs["sweeper"] = sweeper.cpu_s.remote()
    recs = {r: handles[r].heartbeat.remote() for r in sorted(alive)}
    values = ray.get(list(refs.values()) + list(recs.values()), timeout=30)
    for k, v in zip(list(refs) + [f"rec:{r}" for r in recs], values):
        if k.startswith("set:"):
            snap["publish"] = snap.get("publish", 0.0) + v[1]
        elif k.startswith("rec:"):
            snap["record"] = snap.get("record", 0.0) + v.cpu_s
        else:
            snap[k] = float(v)
    if server.pid:
        t = psutil.Process(server.pid).cpu_times()
        snap["relay"] = t.user + t.system
    snap["machine"] = sum(psutil.cpu_times()[:3])  # user + nice + system, all cores
    return snap


def started_at() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
