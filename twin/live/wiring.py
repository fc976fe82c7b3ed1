"""The wiring of a live run's Ray parts: placed on nodes, relays started, every actor's spec,
one RayParts.

`place` puts districts and recorder pools on Ray's nodes (twin.live.cluster) and makes each
recording node's folder, on that node, once Ray is up.

`PartsWiring` takes everything it needs at construction (the outcome's placement, the run's
settings, the clips, the clock's epoch) and makes the parts in one call, `parts()`: each
node's relay is started first (the cameras need their addresses), then each other actor
becomes an `ActorSpec` whose `make` is a bound method here, so a part started again after a
crash is made exactly as the first time. No actor but the relays starts before
`RayParts.start_all`.

Two dicts are shared between the specs and the parts, by design: a camera set's clip origins
(filled when publishing starts; a set started again reuses them, so its cameras carry on the
same time line) and the analyser pool's plan (filled when analysis is admitted; an analyser
started again takes the same cameras). The wiring makes them; RayParts fills them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import ray

from actors.analyser import AnalyserActor
from actors.camera_set import CameraSetActor
from actors.recorder import RecorderActor
from actors.relay import RelayActor
from actors.sweeper import SweeperActor
from synthetic_streams.encode import EncodedClip
from synthetic_streams.mediamtx import MediaMTXServer
from synthetic_streams.mediamtx_config import Credentials, Endpoints, make_credentials
from twin.errors import ScenarioError
from twin.live.analysis_pool import analyser_parts
from twin.live.cluster import cluster_nodes, pinned, plan_placement, prepare_node
from twin.live.driver import RELAY, SWEEPER
from twin.live.faults import LiveFault
from twin.live.outcome import LiveError, LiveOutcome
from twin.live.parts import ActorRelay, ActorSpec, DriverRelay, RayParts, Relay, RelayWatch
from twin.live.plan import external_credentials
from twin.live.run_settings import LiveRun
from twin.model.city import CityModel
from twin.scenario import Scenario
from twin.scenario.live import ExternalMediaMTX, ManagedMediaMTX

__all__ = [
    "PartsWiring",
    "place",
    "start_external_server",
    "relay_hung_after_s",
    "RELAY_HUNG_MIN_S",
]

#: A relay whose Control API (or whose relay actor) has not answered for this long, or for the
#: heartbeat timeout if longer, is hung and is started again. Not the recorders' 2 s: a MediaMTX
#: on a busy machine answers late, not never, and a restart drops every stream it relays, so a
#: storm of reconnections follows. At 150 cameras on 2 cores, a 2 s bound had it restarted
#: every ~6 s for the whole run.
RELAY_HUNG_MIN_S = 10.0


def relay_hung_after_s(heartbeat_timeout_s: float) -> float:
    """How long a relay may stay silent before it is called hung (RELAY_HUNG_MIN_S)."""
    return max(heartbeat_timeout_s, RELAY_HUNG_MIN_S)


def start_external_server(settings: LiveRun, cameras: list[str]) -> MediaMTXServer:
    """Attach to the scenario's external MediaMTX (a managed one runs in a relay actor per
    node, made by the wiring)."""
    m = settings.mediamtx
    assert isinstance(m, ExternalMediaMTX)
    server = MediaMTXServer.external(
        Endpoints(m.host, m.rtsp_port, m.api_port, m.metrics_port, api_host=m.host),
        external_credentials(m, cameras),
    )
    return server.start()


def place(
    o: LiveOutcome, sc: Scenario, settings: LiveRun, city: CityModel, faults: list[LiveFault]
) -> None:
    """Districts and pools on Ray's nodes (twin.live.cluster), and each recording node's
    folder made and its catalog created, on that node."""
    districts = [d.name for d in sc.city.districts]
    o.camera_district = {c: districts[int(city.cam_district[i])] for i, c in enumerate(o.cameras)}
    with_sets = [d for d in districts if d in set(o.camera_district.values())]
    pool_of = {
        f"{p.name}-r{j + 1:02d}": p.name for p in sc.recorders.pools for j in range(p.recorders)
    }
    o.recorder_pool = {r: pool_of[r] for r in o.recorders}
    live_pools = [p for p in sc.recorders.pools if p.name in set(o.recorder_pool.values())]
    o.driver_node = str(ray.get_runtime_context().get_node_id())
    an = settings.analyser
    pl = plan_placement(
        cluster_nodes(),
        with_sets,
        [(p.name, p.districts) for p in live_pools],
        o.driver_node,
        analyser_parts(an.actors) if an.enabled else [],
    )
    o.placement = pl
    relay_nodes = sorted(set(pl.district_node.values()))
    if len(relay_nodes) > 1 and isinstance(settings.mediamtx, ExternalMediaMTX):
        raise ScenarioError(
            f"{sc.name}: live.mediamtx.type is external, but the districts are placed on "
            f"{len(relay_nodes)} nodes, each with its own relay; expected a managed MediaMTX "
            f"on a cluster: use live.mediamtx.type: managed"
        )
    if len(relay_nodes) > 1 and any(f.action == "kill_relay" for f in faults):
        raise ScenarioError(
            f"{sc.name}: faults: a relay_down fault kills the one media relay, but this run has "
            f"{len(relay_nodes)} (one per node with cameras); expected one node for it: kill a "
            f"node's relay from outside (live/parts.json names each), or run on one node"
        )
    # A district's pool records its cameras; a central pool serving no camera of its own
    # (every district has its pool) is the standby for all of them, as in the deployment.
    own = {d: p.name for p in live_pools if p.districts != "*" for d in p.districts}
    central = next((p.name for p in live_pools if p.districts == "*"), None)
    recs_of = {p.name: [r for r in o.recorders if o.recorder_pool[r] == p.name] for p in live_pools}
    if central is not None and all(d in own for d in with_sets):
        o.standby = list(recs_of[central])
    m = sc.failover.standby_per_pool  # N+1 / N+M: each pool's last M recorders, as simulated
    if m:
        o.standby = sorted(set(o.standby) | {r for p in live_pools for r in recs_of[p.name][-m:]})
    active = [r for r in o.recorders if r not in o.standby]
    o.homes = {
        c: (recs_of[own[d]] if d in own else recs_of.get(central or "", []) or active)
        for c, d in o.camera_district.items()
    }
    o.storage_nodes = sorted({pl.pool_node[p] for p in o.recorder_pool.values()}, key=pl.label)
    o.run_key = f"{sc.name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(o.epoch))}-{os.getpid()}"
    refs = [
        prepare_node(n, o.run_key, str(o.run_dir.resolve()), o.driver_node) for n in o.storage_nodes
    ]
    try:
        for n, in_run in zip(o.storage_nodes, ray.get(refs, timeout=settings.startup_timeout_s)):
            o.storage_kind[n] = "run folder" if in_run else "node folder"
    except ray.exceptions.RayTaskError as exc:
        raise LiveError(str(exc.cause) if exc.cause is not None else str(exc)) from None


class PartsWiring:
    """The actors of one live run, each pinned to its node; `parts()` makes their RayParts.

    mypy does not apply a class decorator's return type: it sees the plain actor classes, not
    the ActorClass ray.remote makes of them, hence the ignores on `.options` below.
    """

    def __init__(
        self,
        o: LiveOutcome,
        settings: LiveRun,
        server: MediaMTXServer | None,
        clips: list[EncodedClip],
        set_names: list[str],
        event: Callable[..., None],
    ) -> None:
        """`server`: the external MediaMTX (None: a managed one per node with cameras);
        `event(kind, **details)`: the run's event log."""
        self.o, self.settings, self.server, self.clips = o, settings, server, clips
        self.event = event
        pl = o.placement
        self.relay_nodes = sorted(set(pl.district_node.values()), key=pl.label)
        self.relay_part = {
            n: (RELAY if len(self.relay_nodes) == 1 else f"relay:{pl.label(n)}")
            for n in self.relay_nodes
        }
        self.relay_of = {
            c: RELAY
            if server is not None
            else self.relay_part[pl.district_node[o.camera_district[c]]]
            for c in o.cameras
        }
        self.creds: dict[str, Credentials] = {}
        self.endpoints: dict[str, Endpoints] = {}
        n_pub = min(len(set_names), settings.publisher_actors or len(set_names))
        self.set_actor = {
            s: (f"set:{s}" if n_pub == len(set_names) else f"set:publishers-{k % n_pub + 1:02d}")
            for k, s in enumerate(set_names)
        }
        self.set_cameras: dict[str, list[str]] = {s: [] for s in set_names}
        self.cameras_of: dict[str, list[str]] = {}  # camera-set actor part -> its cameras
        self.node_of: dict[str, str] = {}  # camera-set actor part -> its node
        for c in o.cameras:
            s, part = o.camera_set[c], self.set_actor[o.camera_set[c]]
            self.set_cameras[s].append(c)
            self.cameras_of.setdefault(part, []).append(c)
            self.node_of.setdefault(part, pl.district_node[o.camera_district[c]])
        an = settings.analyser
        self.analysed = o.cameras[: an.cameras] if an.cameras else list(o.cameras)
        self.origins: dict[str, float] = {}  # shared with RayParts: see the module docstring
        self.assigned: dict[str, list[str]] = {}  # likewise
        self.storage = (o.run_key, str(o.run_dir.resolve()), o.driver_node)  # workers' cwd differs
        self.desk = str(o.run_dir.parent.resolve() / "evidence")

    def parts(self, ray_temp_dir: Path | None) -> RayParts:
        """Start the relays, and return the RayParts of every actor (none started yet)."""
        relays = self._relays()
        specs: dict[str, ActorSpec] = {}
        for part in sorted(self.cameras_of):
            specs[part] = ActorSpec(
                make=partial(self._camera_set, part), after_start=lambda h: h.start.remote()
            )
        an = self.settings.analyser
        if an.enabled:
            for part in analyser_parts(an.actors):
                specs[part] = ActorSpec(
                    make=partial(self._analyser, part),
                    after_start=partial(self._start_analyser, part),
                )
        pl, storage_nodes = self.o.placement, self.o.storage_nodes
        for n in storage_nodes:
            part = SWEEPER if len(storage_nodes) == 1 else f"{SWEEPER}:{pl.label(n)}"
            specs[part] = ActorSpec(make=partial(self._sweeper, n))
        return RayParts(
            relays=relays,
            recorder_spec=lambda r: ActorSpec(make=partial(self._recorder, r)),
            actor_specs=specs,
            cameras_of=self.cameras_of,
            set_cameras=self.set_cameras,
            set_actor=self.set_actor,
            all_cameras=self.o.cameras,
            recorder_url=partial(self.url, role="recorder"),
            origins=self.origins,
            analysis_assigned=self.assigned,
            analysis_candidates=self.analysed,
            clip_paths=[c.path for c in self.clips],
            label=pl.label,
            ray_temp_dir=ray_temp_dir,
        )

    def url(self, camera: str, role: str) -> str:
        """The RTSP URL of `camera` on its relay, with the login of `role`."""
        part = self.relay_of[camera]
        cr = self.creds[part]
        login = {
            "publisher": cr.publisher(camera) if role == "publisher" else None,
            "recorder": cr.recorder,
            "analyser": cr.analyser,
        }[role]
        return str(self.endpoints[part].rtsp_url(camera, login))

    # -- relays ------------------------------------------------------------------------------
    def _relays(self) -> dict[str, Relay]:
        o, settings = self.o, self.settings
        relays: dict[str, Relay] = {}
        if self.server is not None:  # external: one server for every camera, watched from here
            relays[RELAY] = DriverRelay(
                RelayWatch(
                    self.server,
                    settings.heartbeat_interval_s,
                    relay_hung_after_s(settings.heartbeat_timeout_s),
                    self._mediamtx_pid,
                ),
                o.driver_node,
                o.cameras,
            )
            self.creds[RELAY], self.endpoints[RELAY] = (
                self.server.credentials,
                self.server.endpoints,
            )
            return relays
        actor_relays: dict[str, ActorRelay] = {}
        for n in self.relay_nodes:
            part = self.relay_part[n]
            self.creds[part] = make_credentials(self._cameras_on(n))
            actor_relays[part] = ActorRelay(
                partial(self._relay_actor, n, part),
                n,
                self._cameras_on(n),
                relay_hung_after_s(settings.heartbeat_timeout_s),
                self._mediamtx_pid,
            )
        for relay in actor_relays.values():
            relay.start(settings.startup_timeout_s)
        self.endpoints = {part: r.endpoints for part, r in actor_relays.items()}
        o.relay_dirs = [r.run_dir for r in actor_relays.values() if r.run_dir]
        relays.update(actor_relays)
        return relays

    def _cameras_on(self, node: str) -> list[str]:
        pl = self.o.placement
        return [c for c in self.o.cameras if pl.district_node[self.o.camera_district[c]] == node]

    def _relay_actor(self, node: str, part: str, endpoints: Endpoints | None) -> Any:
        settings = self.settings
        assert isinstance(settings.mediamtx, ManagedMediaMTX)  # external: no relay actor
        return RelayActor.options(**pinned(node)).remote(  # type: ignore[attr-defined]
            self._cameras_on(node),
            self.creds[part],
            self.o.placement.address(node),
            endpoints,
            settings.heartbeat_interval_s,
            relay_hung_after_s(settings.heartbeat_timeout_s),
            settings.mediamtx.log_level,
            settings.startup_timeout_s,
        )

    def _mediamtx_pid(self, pid: int) -> None:
        self.o.mediamtx_pids.append(pid)
        self.event("mediamtx_started", pid=pid, managed=True)

    # -- the other actors ---------------------------------------------------------------------
    def _camera_set(self, part: str) -> Any:
        o = self.o
        cams = [
            (c, str(self.clips[o.camera_scene[c]].path), self.url(c, "publisher"))
            for c in self.cameras_of[part]
        ]
        return CameraSetActor.options(**pinned(self.node_of[part])).remote(  # type: ignore[attr-defined]
            part.split(":", 1)[1],
            cams,
            {c: self.origins[c] for c, _, _ in cams if c in self.origins},
        )

    def _analyser(self, part: str) -> Any:
        o, settings = self.o, self.settings
        an = settings.analyser
        return AnalyserActor.options(  # type: ignore[attr-defined]
            **pinned(o.placement.analyser_node[part])
        ).remote(
            {c: self.url(c, "analyser") for c in self.analysed},
            {c: o.camera_scene[c] for c in self.analysed},
            o.clip_truth_paths,
            o.epoch,
            settings.profile.gop_frames,
            an.width,
            an.min_interval_s,
        )

    def _start_analyser(self, part: str, handle: Any) -> Any:
        return handle.start.remote(self.origins, self.assigned.get(part, []))

    def _sweeper(self, node: str) -> Any:
        o = self.o
        return SweeperActor.options(**pinned(node)).remote(  # type: ignore[attr-defined]
            self.storage,
            o.cameras,
            o.recorders,
            o.retention_s,
            self.settings.sweep_batch_segments,
            self.desk,
        )

    def _recorder(self, name: str) -> Any:
        o, settings = self.o, self.settings
        node = o.placement.pool_node[o.recorder_pool[name]]
        return RecorderActor.options(**pinned(node)).remote(  # type: ignore[attr-defined]
            name,
            self.storage,
            o.epoch,
            settings.segment_s,
            settings.profile.fps,
            settings.recorders.container,
            settings.recorders.reconnect_max_s,
        )
