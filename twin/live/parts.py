"""The running parts of a live twin on Ray and MediaMTX: the real side of twin.live.driver.Parts.

Theory of operation. Every call returns at once: requests to actors go out as Ray object refs
and their answers are taken when ready (`ray.wait(..., timeout=0)`), so the driver's SimPy
processes keep the wall clock. A part is found dead when Ray says its actor died (the worker
process is gone: `kill -9`, a crash, an out-of-memory kill) or, for MediaMTX, when its process
exited or its Control API stopped answering for `hung_after_s`. Starting a part again makes a
new actor with the same arguments (a camera set keeps its clip origins, so its cameras carry
on the same time line; a recorder first recovers the files its predecessor left behind).

`kill(part)` is a real crash: SIGKILL to the OS process behind the part (the actor's worker,
or MediaMTX), on the node where it runs.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import ray
from ray.exceptions import (
    ActorUnschedulableError,
    GetTimeoutError,
    RayActorError,
    RayError,
    RayTaskError,
    TaskUnschedulableError,
)
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from twin.live.driver import ANALYSER, RELAY, SWEEPER

__all__ = ["ActorSpec", "RayParts", "RelayWatch", "ActorRelay", "DriverRelay", "Relay", "sweep_row"]

#: What Ray raises for a part that is gone: its process died, or (a part started again on a
#: node the cluster has lost) it can never be scheduled.
_DEAD = (RayActorError, RayTaskError, ActorUnschedulableError, TaskUnschedulableError)


def sweep_row(rep: Any) -> dict[str, Any]:
    """A sweeper's report as the row results keep."""
    return {
        "t_s": round(rep.now_s, 3),
        "cutoff_s": round(rep.cutoff_s, 3),
        "deleted": len(rep.deleted_keys),
        "deleted_bytes": rep.deleted_bytes,
        "overdue_after": rep.overdue_after,
        "oldest_age_s": (round(rep.oldest_age_s, 3) if math.isfinite(rep.oldest_age_s) else None),
        "missing_files": rep.missing_files,
    }


@ray.remote(num_cpus=0)
def _kill_pid(pid: int) -> bool:
    """SIGKILL a process on the node this task runs on (for parts on other nodes)."""
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


@dataclass
class ActorSpec:
    """How to (re)start one actor: its class, its arguments, and a call once it exists."""

    make: Callable[[], Any]  # returns a new actor handle
    after_start: Callable[[Any], Any] | None = None  # handle -> ref (e.g. start publishing)


class RelayWatch:
    """MediaMTX: process alive and Control API answering, probed in a thread of its own.

    The same long-lived thread restarts the server: MediaMTX is started with a parent-death
    signal, which Linux ties to the starting *thread*, so a short-lived thread must not start it.
    """

    def __init__(
        self,
        server: Any,
        interval_s: float,
        hung_after_s: float,
        on_pid: Callable[[int], None],
        *,
        start: bool = False,
    ) -> None:
        """`start`: the thread starts the server first (a relay actor's own server)."""
        self.server = server
        self.interval_s, self.hung_after_s = interval_s, hung_after_s
        self._on_pid = on_pid
        self._last_ok = time.monotonic()
        self._restart = threading.Event()
        if start:
            self._restart.set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._restart.is_set():
                try:
                    self.server.stop(grace_s=1.0)
                    self.server.start()
                    if self.server.pid:
                        self._on_pid(self.server.pid)
                    with self._lock:
                        self._last_ok = time.monotonic()
                except Exception:  # noqa: BLE001 - the supervisor asks again next round
                    pass
                finally:
                    self._restart.clear()
                continue
            try:
                admin = self.server.credentials.admin
                r = httpx.get(
                    self.server.endpoints.api_url + "/v3/paths/list",
                    auth=(admin.user, admin.password),
                    timeout=self.hung_after_s,
                )
                if r.status_code == 200:
                    with self._lock:
                        self._last_ok = time.monotonic()
            except Exception:  # noqa: BLE001 - any failure to answer is "not answering"
                pass
            self._stop.wait(self.interval_s)

    def state(self) -> str:
        if self._restart.is_set():
            return "restarting"
        if self.server.managed and self.server.pid is None:
            return "dead"
        with self._lock:
            silent = time.monotonic() - self._last_ok
        return "hung" if silent > self.hung_after_s else "up"

    def restart(self) -> None:
        """Stop what is left of the process and start it again (in the watch thread)."""
        self._restart.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def path_bytes(metrics: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Bytes received per path, from MediaMTX's Prometheus metrics (MediaMTXServer.metrics)."""
    return {
        str(x["labels"].get("name")): float(x["value"])
        for x in metrics.get("paths_bytes_received", [])
        if x["labels"].get("name")
    }


def _is_analyser(part: str) -> bool:
    """A part of the analyser pool (`analyser`, `analyser:2`, ...)."""
    return part.split(":", 1)[0] == ANALYSER


class DriverRelay:
    """A relay watched from the driver's own process (an external MediaMTX, or a server the
    driver started): the RelayWatch behind the relay interface."""

    def __init__(self, watch: RelayWatch, node_id: str, cameras: list[str]) -> None:
        self.watch = watch
        self.node_id = node_id
        self.cameras = list(cameras)
        self.run_dir = str(watch.server.log_path.parent) if watch.server.log_path else ""

    @property
    def pid(self) -> int | None:
        pid: int | None = self.watch.server.pid
        return pid

    def state(self) -> str:
        return self.watch.state()

    def restart(self) -> None:
        self.watch.restart()

    def cpu_s(self) -> float | None:
        if not self.pid:
            return None
        try:
            t = psutil.Process(self.pid).cpu_times()
        except psutil.Error:
            return None
        return float(t.user + t.system)

    def bytes_in(self) -> dict[str, float]:
        """Bytes MediaMTX received per camera path (its own counters; {} if it cannot say)."""
        try:
            return path_bytes(self.watch.server.metrics())
        except Exception:  # noqa: BLE001 - a dead or restarting server: no witness now
            return {}

    def close(self) -> None:
        self.watch.close()


class ActorRelay:
    """A relay actor (actors.relay.RelayActor) on its node, seen from the driver: every call
    returns at once. Its MediaMTX's state comes from the actor's own watch; an actor that died
    (its MediaMTX with it) is "dead", one that stopped answering for `hung_after_s` "hung".
    Starting it again after its actor died makes a new actor on the same node, with the same
    ports and logins."""

    def __init__(
        self,
        make: Callable[[Any], Any],
        node_id: str,
        cameras: list[str],
        hung_after_s: float,
        on_pid: Callable[[int], None],
    ) -> None:
        self._make = make  # endpoints (None: new ones) -> actor handle
        self.node_id = node_id
        self.cameras = list(cameras)
        self.hung_after_s = hung_after_s
        self._on_pid = on_pid
        self.handle: Any = None
        self.endpoints: Any = None
        self.pid: int | None = None
        self.actor_pid: int | None = None
        self.run_dir = ""
        self._seen: set[int] = set()
        self._ref: Any = None
        self._state = "up"
        self._actor_dead = False
        self._asked = time.monotonic()  # when the state request in flight was sent

    def start(self, timeout_s: float) -> None:
        """Create the actor (MediaMTX is up once it exists) and learn its ports."""
        self.handle = self._make(None)
        try:
            self.endpoints, st, self.run_dir = ray.get(
                [
                    self.handle.endpoints.remote(),
                    self.handle.state.remote(),
                    self.handle.run_dir.remote(),
                ],
                timeout=timeout_s,
            )
        except GetTimeoutError:
            raise TimeoutError(f"a media relay did not start within {timeout_s} s") from None
        self._take(st)

    def _take(self, st: tuple[str, int | None, list[int], int]) -> None:
        self._state, self.pid, pids, self.actor_pid = st
        for p in pids:
            if p not in self._seen:
                self._seen.add(p)
                self._on_pid(p)

    def state(self) -> str:
        if self._ref is not None and ray.wait([self._ref], timeout=0)[0]:
            ref, self._ref = self._ref, None
            try:
                self._take(ray.get(ref))
            except _DEAD:
                self._actor_dead, self._state, self.pid = True, "dead", None
        if self._ref is None and not self._actor_dead:
            self._ref = self.handle.state.remote()
            self._asked = time.monotonic()
        if self._silent():
            return "hung"
        return self._state

    def _silent(self) -> bool:
        """The actor has not answered a state request for `hung_after_s`."""
        return (
            not self._actor_dead
            and self._ref is not None
            and time.monotonic() - self._asked > self.hung_after_s
        )

    def restart(self) -> None:
        """Start MediaMTX again (in the actor's watch thread), or a new actor if it died or
        stopped answering."""
        if self._actor_dead or self._silent():
            try:
                ray.kill(self.handle, no_restart=True)
            except Exception:  # noqa: BLE001 - it may be gone already
                pass
            self.handle = self._make(self.endpoints)
            self._actor_dead = False
            self._ref = None
        else:
            self.handle.restart.remote()
        self._state = "restarting"

    def cpu_s(self) -> float | None:
        try:
            return float(ray.get(self.handle.cpu_s.remote(), timeout=10)["relay"])
        except (RayError, GetTimeoutError):
            return None

    def ready_paths(self, timeout_s: float) -> list[str]:
        return list(ray.get(self.handle.ready_paths.remote(), timeout=timeout_s))

    def bytes_in(self) -> dict[str, float]:
        """Bytes MediaMTX received per camera path (its own counters; {} if it cannot say)."""
        try:
            return dict(ray.get(self.handle.path_bytes.remote(), timeout=10))
        except (RayError, GetTimeoutError):
            return {}

    def close(self) -> None:
        try:
            ray.get(self.handle.stop.remote(), timeout=15)
        except Exception:  # noqa: BLE001 - a dead relay has nothing to stop
            pass
        try:
            ray.kill(self.handle, no_restart=True)
        except Exception:  # noqa: BLE001
            pass


#: A relay as the parts see it: watched from the driver's process, or an actor on its node.
Relay = DriverRelay | ActorRelay


def merge_sweep_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One sweep over several nodes' sweepers (each its node's catalog) as one row."""
    if len(rows) == 1:
        return rows[0]
    ages = [r["oldest_age_s"] for r in rows if r["oldest_age_s"] is not None]
    return {
        "t_s": rows[0]["t_s"],
        "cutoff_s": min(r["cutoff_s"] for r in rows),
        "deleted": sum(r["deleted"] for r in rows),
        "deleted_bytes": sum(r["deleted_bytes"] for r in rows),
        "overdue_after": sum(r["overdue_after"] for r in rows),
        "oldest_age_s": max(ages) if ages else None,
        "missing_files": sum(r["missing_files"] for r in rows),
    }


class RayParts:
    """The live twin's actors and MediaMTX behind the driver's Parts interface."""

    def __init__(
        self,
        *,
        relays: dict[str, Relay],
        recorder_spec: Callable[[str], ActorSpec],
        actor_specs: dict[str, ActorSpec],
        cameras_of: dict[str, list[str]],
        set_cameras: dict[str, list[str]],
        set_actor: dict[str, str],
        all_cameras: list[str],
        recorder_url: Callable[[str], str],
        origins: dict[str, float],
        analysis_assigned: dict[str, list[str]],
        analysis_candidates: list[str],
        clip_paths: list[Path],
        label: Callable[[str], str],
        ray_temp_dir: Path | None,
    ) -> None:
        """`cameras_of`: cameras per actor part; `set_cameras`: cameras per camera set;
        `set_actor`: the actor part publishing each set; `relays`: relay part -> DriverRelay
        or ActorRelay (one per node hosting camera sets); `label`: a node id's label;
        `ray_temp_dir`: a local Ray's own folder (None: a cluster).

        `origins` (camera -> clip origin, wall clock) and `analysis_assigned` (analyser part
        -> its cameras, the pool plan) are the very dicts the specs read when they make an
        actor (twin.live.wiring): `publish` and `assign_analysis` fill them in place, so a
        part started again reuses them."""
        self.relays = relays
        self._recorder_spec = recorder_spec
        self._specs = actor_specs  # part -> spec (sets, analyser, sweeper)
        self._cameras_of = cameras_of
        self._set_cameras = set_cameras
        self._set_actor = set_actor
        self._all = list(all_cameras)
        self.url = recorder_url
        self.origins = origins
        self.analysis_assigned = analysis_assigned
        self.analysis_candidates = list(analysis_candidates)
        self.clip_paths = list(clip_paths)
        self.label = label
        self.ray_temp_dir = ray_temp_dir
        self.recorders: dict[str, Any] = {}
        self.actors: dict[str, Any] = {}
        self.where: dict[str, tuple[int, str]] = {}  # part -> (pid, node id)
        self.pid_history: list[dict[str, Any]] = []
        self._hb: dict[str, Any] = {}
        self.latest: dict[str, Any] = {}
        self._ping: dict[str, Any] = {}
        self._starting: dict[str, list[Any]] = {}  # part -> [where ref, start ref...]
        self._sweep_refs: dict[str, Any] = {}  # sweeper part -> ref of the sweep under way
        self._sweep_rows: list[dict[str, Any]] = []
        self._sweeping = False
        self.sweeper_restarts = 0
        # The analyser pool's parts (`analyser`, `analyser:2`, ...): the last snapshot of each.
        self._snap_refs: dict[str, Any] = {}
        self.analyser_snapshots: dict[str, dict[str, Any]] = {}
        self.analyser_done: list[dict[str, Any]] = []  # last snapshots of dead analysers
        # Each camera-set actor's latest publisher counters ({camera: PublisherStats}, CPU s),
        # asked for at every sample and read at the next one (never waited for).
        self._pub_refs: dict[str, Any] = {}
        self.publishers: dict[str, tuple[dict[str, Any], float]] = {}
        self.dead_stats: dict[str, Any] = {}  # last heartbeat of recorders that died
        self.recovered: list[tuple[str, Any]] = []  # (recorder, Recovered) of restarted ones
        self.node_id = ray.get_runtime_context().get_node_id()
        self._lost: set[str] = set()  # node ids found lost
        self._nodes_checked = 0.0

    # -- start-up --------------------------------------------------------------------------
    def start_all(self, recorder_names: list[str], timeout_s: float) -> None:
        """Create every actor and wait until each answers (start-up may block)."""
        for r in recorder_names:
            self.recorders[r] = self._recorder_spec(r).make()
        for part, spec in self._specs.items():
            self.actors[part] = spec.make()
        parts = [*(f"recorder:{r}" for r in self.recorders), *self.actors]
        handles = [*self.recorders.values(), *self.actors.values()]
        try:
            got = ray.get([h.where.remote() for h in handles], timeout=timeout_s)
        except GetTimeoutError:
            raise TimeoutError(
                f"{len(handles)} actors did not all start within {timeout_s} s"
            ) from None
        for part, w in zip(parts, got):
            self._note(part, w)

    def publish(self, timeout_s: float) -> dict[str, float]:
        """Every camera set starts publishing; returns the clip origins (camera -> wall clock),
        kept for the sets and analysers started again later."""
        sets = [p for p in self.actors if p.startswith("set:")]
        for origins in ray.get([self.actors[p].start.remote() for p in sets], timeout=timeout_s):
            self.origins.update(origins)
        return dict(self.origins)

    def assign_analysis(self, cameras_of: dict[str, list[str]]) -> None:
        """The analyser pool's plan: the cameras each analyser part takes (restarts too)."""
        self.analysis_assigned.update(cameras_of)

    def _note(self, part: str, where: tuple[int, str]) -> None:
        self.where[part] = (int(where[0]), str(where[1]))
        self.pid_history.append({"part": part, "pid": int(where[0]), "node": str(where[1])})

    def current(self) -> dict[str, Any]:
        """Every part's OS process now: {part: {"pid", "node"}} (each relay's MediaMTX as its
        relay part)."""
        out = {p: {"pid": pid, "node": node} for p, (pid, node) in sorted(self.where.items())}
        for part, relay in sorted(self.relays.items()):
            if relay.pid:
                out[part] = {"pid": relay.pid, "node": relay.node_id}
        return out

    def lost_nodes(self, fresh: bool = False) -> list[tuple[str, list[str]]]:
        """Nodes the cluster has lost since the last call (checked at most every second, or
        now if `fresh`): (label, the parts that ran there)."""
        now = time.monotonic()
        if not fresh and now - self._nodes_checked < 1.0:
            return []
        self._nodes_checked = now
        try:
            alive = {
                str(n["NodeID"])
                for n in ray.nodes()  # type: ignore[no-untyped-call]
                if n.get("Alive")
            }
        except Exception:  # noqa: BLE001 - the GCS busy: ask again next round
            return []
        used = {node for _, node in self.where.values()} | {r.node_id for r in self.relays.values()}
        out = []
        for node in sorted(used - alive - self._lost):
            self._lost.add(node)
            on_it = sorted(
                {p for p, (_, n) in self.where.items() if n == node}
                | {p for p, r in self.relays.items() if r.node_id == node}
            )
            out.append((self.label(node), on_it))
        return out

    def lost(self) -> frozenset[str]:
        """The node ids found lost so far (`lost_nodes`): what they held cannot be read."""
        return frozenset(self._lost)

    def part_nodes(self) -> dict[str, str]:
        """The node id of every part now (actors and relays)."""
        out = {p: node for p, (_, node) in self.where.items()}
        out.update({p: r.node_id for p, r in self.relays.items()})
        return out

    def sweepers(self) -> list[str]:
        return sorted(p for p in self.actors if p.split(":", 1)[0] == SWEEPER)

    # -- recorders -------------------------------------------------------------------------
    def poll_recorders(self, alive: list[str]) -> tuple[list[str], list[str]]:
        answered, gone = [], []
        if self._hb:
            refs = list(self._hb.values())
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            ready_set = set(ready)
            for name, ref in list(self._hb.items()):
                if ref not in ready_set:
                    continue
                del self._hb[name]
                try:
                    self.latest[name] = ray.get(ref)
                    answered.append(name)
                except _DEAD:
                    gone.append(name)
                    if name in self.latest:
                        self.dead_stats.setdefault(name, []).append(self.latest.pop(name))
        for name in sorted(alive):
            if name not in self._hb and name in self.recorders:
                self._hb[name] = self.recorders[name].heartbeat.remote()
        return answered, gone

    def record(self, recorder: str, cameras: list[str]) -> None:
        self.recorders[recorder].record.remote({c: self.url(c) for c in cameras})

    def start_recorder(self, recorder: str) -> None:
        self._hb.pop(recorder, None)
        h = self._recorder_spec(recorder).make()
        self.recorders[recorder] = h
        self._starting[f"recorder:{recorder}"] = [h.where.remote(), h.recovered.remote()]

    # -- relay -----------------------------------------------------------------------------
    def relay_parts(self) -> list[str]:
        return sorted(self.relays)

    def relay_state(self, part: str = RELAY) -> str:
        return str(self.relays[part].state())

    def restart_relay(self, part: str = RELAY) -> None:
        self.relays[part].restart()

    # -- other actors ----------------------------------------------------------------------
    def poll_actors(self) -> tuple[list[str], list[str], list[str]]:
        dead, back, answered = [], [], []
        refs = [*self._ping.values(), *(r for rs in self._starting.values() for r in rs)]
        ready_set = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0]) if refs else set()
        for part, ref in list(self._ping.items()):
            if ref in ready_set:
                del self._ping[part]
                try:
                    ray.get(ref)
                    answered.append(part)
                except _DEAD:
                    dead.append(part)
        for part, rs in list(self._starting.items()):
            if not all(r in ready_set for r in rs):
                continue
            del self._starting[part]
            try:
                values = ray.get(rs)
            except _DEAD:
                if not part.startswith("recorder:"):  # a recorder's death shows in heartbeats
                    dead.append(part)
                continue
            self._note(part, values[0])
            if part.startswith("recorder:"):
                self.recovered.append((part.split(":", 1)[1], values[1]))
            else:
                back.append(part)
        for part, h in self.actors.items():
            if part not in self._ping and part not in self._starting and part not in dead:
                self._ping[part] = h.where.remote()
        return sorted(set(dead)), sorted(back), sorted(answered)

    def restart_actor(self, part: str) -> None:
        spec = self._specs[part]
        if _is_analyser(part):
            last = self.analyser_snapshots.pop(part, None)
            if last is not None:
                self.analyser_done.append(last)
            self._snap_refs.pop(part, None)
        if part.split(":", 1)[0] == SWEEPER:
            self._sweep_refs.pop(part, None)
            self.sweeper_restarts += 1
        h = spec.make()
        self.actors[part] = h
        self._ping.pop(part, None)
        self._starting[part] = [h.where.remote()] + (
            [spec.after_start(h)] if spec.after_start is not None else []
        )

    # -- faults ----------------------------------------------------------------------------
    def kill(self, part: str) -> int | None:
        pid: int | None
        if part in self.relays:
            relay = self.relays[part]
            pid, node = relay.pid, relay.node_id
        else:
            pid, node = self.where.get(part, (0, ""))
        if not pid:
            return None
        if node == self.node_id:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return None
        else:
            _kill_pid.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(pid)
        return pid

    def power(self, camera_set: str, on: bool) -> list[str]:
        part = self._set_actor[camera_set]
        cams = list(self._set_cameras[camera_set])
        self.actors[part].power.remote(cams, on)
        return cams

    # -- sweeps, samples ---------------------------------------------------------------------
    def sweep_start(self, now_s: float) -> bool:
        """One sweep on every node's sweeper (each its own node's catalog and files)."""
        if self._sweeping:
            return False
        self._sweeping = True
        self._sweep_rows = []
        self._sweep_refs = {
            p: self.actors[p].sweep.remote(now_s)
            for p in self.sweepers()
            if p not in self._starting
        }
        return True

    def sweep_pending(self) -> bool:
        return self._sweeping

    def sweep_poll(self) -> dict[str, Any] | None:
        if not self._sweeping:
            return {}  # none under way
        for part, ref in list(self._sweep_refs.items()):
            if not ray.wait([ref], timeout=0)[0]:
                continue
            del self._sweep_refs[part]
            try:
                self._sweep_rows.append(sweep_row(ray.get(ref)))
            except _DEAD:
                pass  # lost with its sweeper: the next sweep catches up
        if self._sweep_refs:
            return None
        self._sweeping = False
        return merge_sweep_rows(self._sweep_rows) if self._sweep_rows else {}

    def sample(self) -> dict[str, float]:
        rec = sum(1 for s in self.latest.values() for st in s.streams if st.recording)
        segs = sum(st.segments for s in self.latest.values() for st in s.streams)
        segs += sum(st.segments for ss in self.dead_stats.values() for s in ss for st in s.streams)
        for part in [p for p in self.actors if _is_analyser(p)]:
            ref = self._snap_refs.get(part)
            if ref is not None and ray.wait([ref], timeout=0)[0]:
                try:
                    self.analyser_snapshots[part] = ray.get(ref)
                except _DEAD:
                    pass
                del self._snap_refs[part]
                ref = None
            if ref is None and part not in self._starting:
                self._snap_refs[part] = self.actors[part].snapshot.remote()
        for part in [p for p in self.actors if p.startswith("set:")]:
            ref = self._pub_refs.get(part)
            if ref is not None and ray.wait([ref], timeout=0)[0]:
                del self._pub_refs[part]
                try:
                    self.publishers[part] = ray.get(ref)
                except _DEAD:
                    pass
                ref = None
            if ref is None and part not in self._starting:
                self._pub_refs[part] = self.actors[part].stats.remote()
        return {"cameras_recording": float(rec), "segments_written": float(segs)}

    def cameras_of(self, part: str) -> list[str]:
        if part in self.relays:
            return list(self.relays[part].cameras)
        return list(self._cameras_of.get(part, []))

    # -- the end ---------------------------------------------------------------------------
    def stop_recorders(self, names: list[str], timeout_s: float) -> dict[str, Any]:
        """Stop these recorders (each closes its segment in progress); {name: final status}."""
        refs = {r: self.recorders[r].stop.remote() for r in names}
        out: dict[str, Any] = {}
        for r, ref in refs.items():
            try:
                out[r] = ray.get(ref, timeout=timeout_s)
            except (*_DEAD, GetTimeoutError):
                pass
        return out

    def call_all(self, method: str, timeout_s: float) -> dict[str, Any]:
        """Call `method` on every non-recorder actor; {part: result} of those that answered."""
        refs = {
            p: getattr(h, method).remote() for p, h in self.actors.items() if hasattr(h, method)
        }
        out: dict[str, Any] = {}
        for p, ref in refs.items():
            try:
                out[p] = ray.get(ref, timeout=timeout_s)
            except (*_DEAD, GetTimeoutError, RayError):
                pass
        return out

    def close_sweepers(self, timeout_s: float) -> None:
        """Each sweeper closes its catalog (a dead one has nothing to close)."""
        for part in self.sweepers():
            try:
                ray.get(self.actors[part].close.remote(), timeout=timeout_s)
            except Exception:  # noqa: BLE001 - a dead sweeper has nothing to close
                pass

    def kill_all(self) -> None:
        for h in [*self.recorders.values(), *self.actors.values()]:
            try:
                ray.kill(h, no_restart=True)
            except Exception:  # noqa: BLE001 - best effort: the actor may be gone already
                pass
