"""A live run's plan: what runs, checked before anything starts.

`plan_run` reads the scenario into the run's cameras, camera sets, recorders and compiled
faults (twin.live.faults: bad ones are refused here), and refuses what a live run cannot do
(too many cameras, a relay fault on an external MediaMTX, an evidence desk of an earlier run
in the folder) before a clip is encoded or a process started; `external_credentials` reads
an external MediaMTX's logins. `prepare_folder` makes the run folder and its outcome. This
module loads neither Ray nor PyAV, so `twin live` refuses bad input at once; the placement
on Ray's nodes is twin.live.wiring.place.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from synthetic_streams.encode import EncodedClip
from synthetic_streams.mediamtx_config import Credentials, Login
from twin.errors import ScenarioError, UsageError
from twin.live.clips import prepare_clips
from twin.live.faults import LiveFault, compile_live_faults
from twin.live.outcome import LiveError, LiveOutcome
from twin.live.run_settings import LiveRun
from twin.model.city import CityModel, generate_city
from twin.scenario import Scenario
from twin.scenario.live import ExternalMediaMTX
from twin.storage.live_catalog import LiveStore

__all__ = [
    "MAX_LIVE_CAMERAS",
    "LivePlan",
    "live_recorder_names",
    "plan_run",
    "prepare_folder",
    "external_credentials",
]

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
            f"expected at most {len(names)}: add recorders to recorders.pools"
        )
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
            f"scenarios/live-trial-15.yaml)"
        )
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
        f.action == "kill_relay" for f in faults
    ):
        raise ScenarioError(
            f"{sc.name}: faults: a relay_down fault kills MediaMTX, which is external here "
            f"(live.mediamtx.type: external); expected a managed server for it: use "
            f"live.mediamtx.type: managed or remove the relay_down fault"
        )
    desk = Path(out) / "evidence"
    if desk.is_dir() and any(desk.iterdir()):
        raise UsageError(
            f"--out {out}: {desk} holds the evidence desk of an earlier live run (its trail and "
            f"holds name that run's footage, which a new run here would delete); expected a "
            f"folder without one: pass another --out, or move {desk} away first"
        )
    return LivePlan(
        city, cameras, camera_set, camera_scene, recorders, sorted(set(camera_set.values())), faults
    )


def prepare_folder(
    sc: Scenario, settings: LiveRun, plan: LivePlan, out: Path, epoch: float, source: str
) -> tuple[LiveOutcome, list[EncodedClip]]:
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
        scenario=sc,
        settings=settings,
        run_dir=run_dir,
        store_path=store_path,
        segments_root=segments_root,
        epoch=epoch,
        t0=0.0,
        t_end=0.0,
        cameras=plan.cameras,
        camera_set=plan.camera_set,
        camera_scene=plan.camera_scene,
        recorders=plan.recorders,
        initial_assignment={},
        final_assignment={},
        retention_s=settings.retention_for(sc.recording.retention_days),
        clip_truth_paths=[str(c.truth_path) for c in clips],
        source=source,
    )
    return outcome, clips


def external_credentials(cfg: ExternalMediaMTX, cameras: list[str]) -> Credentials:
    """The logins of an external MediaMTX, read from its mediamtx.yml."""
    try:
        data = yaml.safe_load(Path(cfg.config).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LiveError(
            f"live.mediamtx.config {cfg.config}: cannot read it ({exc}); expected the "
            f"external server's mediamtx.yml"
        ) from None
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
            f"analyser and admin (see synthetic_streams.mediamtx_config.build_config)"
        )

    def login(name: str) -> Login:
        return Login(name, users[name]["pass"])

    return Credentials(
        tuple((c, pubs[c]) for c in cameras), login("recorder"), login("analyser"), login("admin")
    )
