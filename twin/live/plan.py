"""A live run's plan: what runs, checked before anything starts, then placed on Ray's nodes.

`plan_run` reads the scenario into the run's cameras, camera sets, recorders and compiled
faults (twin.live.faults: bad ones are refused here), and refuses what a live run cannot do
(too many cameras, a relay fault on an external MediaMTX, an evidence desk of an earlier run
in the folder) before a clip is encoded or a process started. `prepare_folder` makes the
run folder and its outcome; `place` puts districts and recorder pools on Ray's nodes
(twin.live.cluster) and makes each recording node's folder, on that node, once Ray is up.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import ray

from twin.city import CityModel, generate_city
from twin.errors import ScenarioError, UsageError
from twin.live.analysis_pool import analyser_parts
from twin.live.clips import prepare_clips
from twin.live.cluster import cluster_nodes, plan_placement, prepare_node
from twin.live.deployment import LiveRun
from twin.live.faults import LiveFault, compile_live_faults
from twin.live.outcome import LiveError, LiveOutcome
from twin.live.store import LiveStore
from twin.scenario import Scenario
from twin.scenario.live import ExternalMediaMTX
from synthetic_streams.encode import EncodedClip

__all__ = ["MAX_LIVE_CAMERAS", "LivePlan", "live_recorder_names", "plan_run", "prepare_folder",
           "place"]

#: A live run is real traffic; one machine records ~40-60 cameras with the analyser on
#: (bench/bench_live.py). Beyond this the run would only thrash.
MAX_LIVE_CAMERAS = 500


def live_recorder_names(sc: Scenario, count: int) -> list[str]:
    """The live recorders: the first `count` recorders of the scenario's pools (`<pool>-rNN`;
    a live run records with all of them), so a fault names the same recorder in both engines."""
    names = [f"{p.name}-r{j + 1:02d}" for p in sc.recorders.pools for j in range(p.recorders)]
    if count > len(names):
        raise ScenarioError(
            f"{count} live recorders, but the scenario's pools have {len(names)} recorders; "
            f"expected at most {len(names)}: add recorders to recorders.pools")
    return names[:count]


@dataclass(frozen=True)
class LivePlan:
    """What a live run of a scenario runs: its cameras, where they belong, its faults."""

    city: CityModel
    cameras: list[str]
    camera_set: dict[str, str]  # camera -> its set (`setNNNNN`)
    camera_scene: dict[str, int]  # camera -> the scene clip it publishes
    recorders: list[str]  # every pool's, as the simulation names them
    set_names: list[str]
    faults: list[LiveFault]


def plan_run(sc: Scenario, settings: LiveRun, duration: float, out: Path) -> LivePlan:
    """The run's plan, or the error that keeps it from running (nothing started yet)."""
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
    recorders = settings.recorders.names
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
        raise UsageError(
            f"--out {out}: {desk} holds the evidence desk of an earlier live run (its trail and "
            f"holds name that run's footage, which a new run here would delete); expected a "
            f"folder without one: pass another --out, or move {desk} away first")
    return LivePlan(city, cameras, camera_set, camera_scene, recorders,
                    sorted(set(camera_set.values())), faults)


def prepare_folder(sc: Scenario, settings: LiveRun, plan: LivePlan, out: Path, epoch: float,
                   source: str) -> tuple[LiveOutcome, list[EncodedClip]]:
    """The scene clips (encoded once, cached), a fresh `out/live` folder with its catalog's
    schema, and the run's outcome so far."""
    clips = prepare_clips(settings.profile, sc.seed)
    run_dir = Path(out) / "live"
    segments_root = run_dir / "segments"
    store_path = run_dir / "catalog.sqlite"
    shutil.rmtree(segments_root, ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    segments_root.mkdir(parents=True)
    LiveStore(store_path).close()  # create the schema once, before many writers race to
    outcome = LiveOutcome(
        scenario=sc, settings=settings, run_dir=run_dir, store_path=store_path,
        segments_root=segments_root, epoch=epoch, t0=0.0, t_end=0.0, cameras=plan.cameras,
        camera_set=plan.camera_set, camera_scene=plan.camera_scene, recorders=plan.recorders,
        initial_assignment={}, final_assignment={},
        retention_s=settings.retention_for(sc.recording.retention_days),
        clip_truth_paths=[str(c.truth_path) for c in clips], source=source,
    )
    return outcome, clips


def place(o: LiveOutcome, sc: Scenario, settings: LiveRun, city: CityModel,
          faults: list[LiveFault]) -> None:
    """Districts and pools on Ray's nodes (twin.live.cluster), and each recording node's
    folder made and its catalog created, on that node."""
    districts = [d.name for d in sc.city.districts]
    o.camera_district = {c: districts[int(city.cam_district[i])] for i, c in enumerate(o.cameras)}
    with_sets = [d for d in districts if d in set(o.camera_district.values())]
    pool_of = {f"{p.name}-r{j + 1:02d}": p.name for p in sc.recorders.pools
               for j in range(p.recorders)}
    o.recorder_pool = {r: pool_of[r] for r in o.recorders}
    live_pools = [p for p in sc.recorders.pools if p.name in set(o.recorder_pool.values())]
    o.driver_node = str(ray.get_runtime_context().get_node_id())
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
