"""The live driver's logic: supervision, faults, sweeps and sampling as SimPy processes.

Theory of operation
-------------------
The driver owns the clock and the plan; the parts of the twin (MediaMTX, recorders, camera
sets, analyser, sweeper) are behind the :class:`Parts` interface, whose real implementation
(twin.live.parts) talks to Ray and MediaMTX and whose calls never block for long. The same
process code runs on `simpy.rt.RealtimeEnvironment` live and on `simpy.Environment` in tests,
so the driver's decisions are tested on virtual time without Ray or MediaMTX.

Four kinds of process share the environment:

- supervision, every `heartbeat_interval_s`: recorder heartbeats go to the core failover
  objects (twin.live.failover over twin.core.failover); a recorder declared down has its
  cameras moved within the survivors' limits and, unless a scripted fault keeps it down, is
  started again at once; a restarted recorder that beats again rejoins as spare capacity and
  cameras left without a recorder are placed on it. MediaMTX is watched (process alive, Control
  API answering) and restarted with the same configuration and logins when it died or hung;
  camera-set, analyser and sweeper actors found dead are started again.
- one process per scripted fault (twin.live.faults): at its start the real process is
  killed (`kill -9`) or the set's power cut; at its end the part is started again.
- sweeps, every `sweep_interval_s`: one retention sweep at a time.
- sampling, every `sample_s`: cameras recording, segments, recorders up, and a progress line.

Given the wall clock (`clock`, on the run clock as env.now is), the driver also measures its
own lag: each time one of its processes wakes, how long after its scheduled time it ran
(`lag`, per kind of process); a scripted fault carried out late says so (`late_s`). On
SimPy's virtual clock (tests) there is no lag to measure.

Every fault, scripted or not, becomes one record in :class:`FaultLog` with its kind, the
part, when it was injected (scripted) or last seen working (unscripted), when the supervisor
detected it, when the part was started again and answered. When its cameras were recorded
again is measured afterwards from the catalog (twin.live.measure), not from what actors said.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

import simpy

from twin.live.failover import Move, Supervisor
from twin.live.faults import LiveFault

__all__ = ["Parts", "FaultLog", "DriverConfig", "LiveDriver", "RELAY", "SWEEPER", "ANALYSER"]

RELAY = "relay:mediamtx"
SWEEPER = "sweeper"
ANALYSER = "analyser"

#: Kind of an unscripted fault, by the part that died.
_KIND_OF_PART = {
    "recorder": "recorder_crash",
    "relay": "relay_down",
    "set": "publisher_crash",
    ANALYSER: "analyser_crash",
    SWEEPER: "sweeper_crash",
    "node": "node_lost",
}


def part_kind(part: str) -> str:
    return _KIND_OF_PART[part.split(":", 1)[0]]


class Parts(Protocol):
    """What the driver needs of the running twin; every call returns at once."""

    def poll_recorders(self, alive: list[str]) -> tuple[list[str], list[str]]:
        """Heartbeats answered since the last call, and recorders whose process is gone."""

    def record(self, recorder: str, cameras: list[str]) -> None:
        """Ask `recorder` to record these cameras too."""

    def start_recorder(self, recorder: str) -> None:
        """Start a new process for a dead recorder (it recovers its left-over files first)."""

    def relay_state(self, part: str = RELAY) -> str:
        """A relay's MediaMTX: "up", "dead" (process gone), "hung" (API silent) or
        "restarting". (Parts with several relays also have `relay_parts()`, their names.)"""

    def restart_relay(self, part: str = RELAY) -> None:
        """Start MediaMTX again, same ports, configuration and logins (in the background)."""

    def poll_actors(self) -> tuple[list[str], list[str], list[str]]:
        """(parts found dead, parts restarted and answering, parts that answered a ping)
        since the last call."""

    def restart_actor(self, part: str) -> None:
        """Start a dead camera-set, analyser or sweeper actor again."""

    def kill(self, part: str) -> int | None:
        """`kill -9` of the OS process behind `part`; returns its PID (None: none running)."""

    def power(self, camera_set: str, on: bool) -> list[str]:
        """Cut or restore a set's power; returns its cameras."""

    def sweep_start(self, now_s: float) -> bool:
        """Start a sweep at `now_s` unless one is running; True if started."""

    def sweep_poll(self) -> dict[str, Any] | None:
        """The report of a finished sweep (once); None while one runs; {} when none is under
        way (never started, or lost with a dead sweeper)."""

    def sample(self) -> dict[str, float]:
        """Counters from the latest heartbeats: cameras recording, segments written."""

    def cameras_of(self, part: str) -> list[str]:
        """The cameras a part serves (a set actor's, all for the relay; recorders: none)."""


@dataclass
class FaultLog:
    """One record per fault, scripted or not (see the module docstring)."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def open(
        self,
        part: str,
        *,
        kind: str,
        scripted: bool,
        label: str = "",
        injected_s: float | None = None,
        last_seen_s: float | None = None,
        cameras: list[str] | None = None,
        pid: int | None = None,
    ) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": len(self.records) + 1,
            "kind": kind,
            "part": part,
            "scripted": scripted,
            "label": label,
            "injected_s": injected_s,
            "last_seen_s": last_seen_s,
            "detected_s": None,
            "restarted_s": None,
            "restored_s": None,
            "pid": pid,
            "cameras": sorted(cameras or []),
            "ended_s": None,
        }
        self.records.append(rec)
        return rec

    def active(self, part: str) -> dict[str, Any] | None:
        """The latest record of `part` that is not restored yet."""
        for rec in self.records[::-1]:  # (mypy reads reversed() of this list as Any)
            if rec["part"] == part and rec["restored_s"] is None:
                return rec
        return None

    def scripted_hold(self, part: str) -> bool:
        """A scripted fault keeps `part` down now (injected, not ended)."""
        return any(
            r["part"] == part and r["scripted"] and r["ended_s"] is None for r in self.records
        )


@dataclass(frozen=True)
class DriverConfig:
    t0: float  # recording started (run clock)
    t_end: float  # recording stops (run clock)
    heartbeat_interval_s: float
    sweep_interval_s: float
    sample_s: float = 2.0
    startup_s: float = 3.0  # cameras not recording yet this long after t0 are no warning


class LiveDriver:
    """The processes of one live run (module docstring), on any SimPy environment."""

    def __init__(
        self,
        env: simpy.Environment,
        parts: Parts,
        sup: Supervisor,
        cfg: DriverConfig,
        faults: list[LiveFault],
        event: Callable[..., None] | None = None,
        say: Callable[[str], None] | None = None,
        on_sample: Callable[[], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.env, self.parts, self.sup, self.cfg = env, parts, sup, cfg
        self._clock = clock
        #: Seconds each wake-up of a process came after its scheduled time, per kind.
        self.lag: dict[str, list[float]] = {"heartbeat": [], "sample": [], "sweep": [], "fault": []}
        self.lag_at: dict[str, list[float]] = {k: [] for k in self.lag}  # when (run clock)
        self.faults = faults
        self.log = FaultLog()
        self._event = event or (lambda kind, **kw: None)
        self._say = say or (lambda msg: None)
        self._on_sample = on_sample or (lambda: None)
        self.down: set[str] = set()  # recorders declared down, not back yet
        self.restarting: set[str] = set()  # recorders started again, not beating yet
        self.sweeps: list[dict[str, Any]] = []
        self.samples: list[dict[str, float]] = []
        self.unplaced: list[str] = []
        self._last_round = env.now
        self._born = env.now
        self._relay_seen: dict[str, float] = {}  # relay part -> last seen up
        self._actor_seen: dict[str, float] = {}  # part -> last answered ping
        self._gone: set[str] = set()  # recorders whose process Ray reported gone, not yet down
        self.lost_parts: set[str] = set()  # parts on a node the cluster lost: never restarted

    # -- set-up ----------------------------------------------------------------------------
    def start(self) -> None:
        env = self.env
        env.process(self._supervise())
        env.process(self._sweeper())
        env.process(self._sampler())
        for f in self.faults:
            env.process(self._fault(f))

    def event(self, kind: str, **kw: Any) -> None:
        self._event(kind, **kw)

    def _woke(self, kind: str) -> float:
        """Note how late this wake-up of a `kind` process is against its schedule; returns it."""
        if self._clock is None:
            return 0.0
        late = max(0.0, self._clock() - self.env.now)
        self.lag[kind].append(late)
        self.lag_at[kind].append(self.env.now)
        return late

    # -- supervision -----------------------------------------------------------------------
    def _supervise(self) -> Generator[simpy.Event, Any, None]:
        hb = self.cfg.heartbeat_interval_s
        while True:
            self._woke("heartbeat")
            self.round()
            yield self.env.timeout(hb)

    def round(self) -> None:
        """One supervision round at env.now (see the module docstring)."""
        now = self.env.now
        sup = self.sup
        self._watch_nodes(now)
        alive = sorted(set(sup.recorders) - self.down)
        answered, gone = self.parts.poll_recorders(alive + sorted(self.restarting))
        self._gone |= set(gone) - self.restarting
        if now - self._last_round > 2 * self.cfg.heartbeat_interval_s:
            # The driver itself was held up (an overloaded machine): silence it was not there
            # to watch is not held against the recorders, except those whose process Ray
            # already reported gone. One declared down stays down.
            sup.beat(sorted(set(sup.recorders) - self.down - self.restarting - self._gone), now)
            self.event("driver_stalled", seconds=round(now - self._last_round, 3))
        self._last_round = now
        for r in sorted(set(gone) & self.restarting):  # the new process died before it beat
            if f"recorder:{r}" in self.lost_parts:
                self.restarting.discard(r)
                continue
            self.event("recorder_restart_failed", recorder=r)
            self._restart_recorder(r, now)
        back = sorted(set(answered) & self.restarting)
        beating = sorted(set(answered) - self.restarting)
        if beating:
            sup.beat(beating, now)
        for r in back:
            self._rejoin(r, now)
        moves = sup.check(now)
        for rname in sup.lost:  # every recorder newly down, a spare one with no cameras too
            self._recorder_lost(rname, now, [m.camera for m in moves if m.from_recorder == rname])
        self._carry_out(moves)
        self._watch_relay(now)
        self._watch_actors(now)

    def _carry_out(self, moves: list[Move]) -> None:
        by_target: dict[str, list[str]] = {}
        for m in moves:
            if m.to_recorder in self.down:
                continue  # planned onto a recorder lost in the same round: a later plan moves it
            if m.to_recorder is None:
                self.unplaced.append(m.camera)
                self.event("camera_unplaced", camera=m.camera, from_recorder=m.from_recorder)
            else:
                by_target.setdefault(m.to_recorder, []).append(m.camera)
        for target, cams in sorted(by_target.items()):
            self.parts.record(target, sorted(cams))
            self.event(
                "cameras_moved",
                to_recorder=target,
                cameras=sorted(cams),
                from_recorder=sorted({m.from_recorder for m in moves if m.to_recorder == target}),
            )
        if moves:
            self.sup.applied()

    def _recorder_lost(self, rname: str, now: float, cameras: list[str]) -> None:
        part = f"recorder:{rname}"
        self.down.add(rname)
        self._gone.discard(rname)
        if part in self.lost_parts:  # with its node: that fault's, its cameras fail over
            self.event("recorder_lost", recorder=rname, with_node=True, cameras=sorted(cameras))
            return
        rec = self.log.active(part)
        if rec is None or rec["detected_s"] is not None:
            rec = self.log.open(
                part,
                kind="recorder_crash",
                scripted=False,
                last_seen_s=self.sup.last_beat(rname),
                cameras=cameras,
            )
        else:
            rec["cameras"] = sorted(set(rec["cameras"]) | set(cameras))
        rec["detected_s"] = now
        since = rec["injected_s"] if rec["injected_s"] is not None else rec["last_seen_s"]
        self.event(
            "recorder_lost",
            recorder=rname,
            fault=rec["id"],
            scripted=rec["scripted"],
            detected_after_s=round(now - since, 3),
            cameras=sorted(cameras),
        )
        if not self.log.scripted_hold(part) and part not in self.lost_parts:
            self._restart_recorder(rname, now)

    def _restart_recorder(self, rname: str, now: float) -> None:
        self.parts.start_recorder(rname)
        self.restarting.add(rname)
        rec = self.log.active(f"recorder:{rname}")
        if rec is not None:
            rec["restarted_s"] = now
        self.event("recorder_restarted", recorder=rname)

    def _rejoin(self, rname: str, now: float) -> None:
        """A restarted recorder beats: it is spare capacity again; waiting cameras go to it."""
        self.restarting.discard(rname)
        self.down.discard(rname)
        moves = self.sup.rejoin(rname, now)
        rec = self.log.active(f"recorder:{rname}")
        if rec is not None:
            rec["restored_s"] = now
        self.event("recorder_rejoined", recorder=rname, cameras=sorted(m.camera for m in moves))
        self._carry_out(moves)

    def _relay_parts(self) -> list[str]:
        """The media relays: one MediaMTX per node that hosts camera sets (RELAY alone on one
        machine)."""
        fn = getattr(self.parts, "relay_parts", None)
        return list(fn()) if fn is not None else [RELAY]

    def _watch_relay(self, now: float) -> None:
        for part in self._relay_parts():
            self._watch_one_relay(part, now)

    def _watch_one_relay(self, part: str, now: float) -> None:
        if part in self.lost_parts:
            return  # lost with its node: that fault's
        state = self.parts.relay_state(part)
        rec = self.log.active(part)
        if state in ("dead", "hung") and rec is None:
            self._watch_nodes(now, fresh=True)  # as for actors: not started on a lost node
            if part in self.lost_parts:
                return
        if state in ("dead", "hung"):
            if rec is None:
                rec = self.log.open(
                    part,
                    kind="relay_down",
                    scripted=False,
                    last_seen_s=self._relay_seen.get(part, self._born),
                    cameras=self.parts.cameras_of(part),
                )
            if rec["detected_s"] is None:
                rec["detected_s"] = now
                rec["state"] = state
                self.event(
                    "relay_lost",
                    fault=rec["id"],
                    state=state,
                    scripted=rec["scripted"],
                    **({} if part == RELAY else {"relay": part}),
                )
            if (
                not self.log.scripted_hold(part)
                and rec["restarted_s"] is None
                and part not in self.lost_parts
            ):
                self.parts.restart_relay(part)
                rec["restarted_s"] = now
                self.event("relay_restarting", fault=rec["id"])
        elif state == "up":
            self._relay_seen[part] = now
            if rec is not None and rec["restarted_s"] is not None:
                rec["restored_s"] = now
                self.event("relay_restored", fault=rec["id"])

    def _watch_nodes(self, now: float, fresh: bool = False) -> None:
        """A node the cluster lost (its relay, camera sets, recorders, sweeper with it) is one
        fault, `node:<label>`, whose cameras are every camera it published or relayed and
        every camera its recorders were recording; nothing is started again there, the
        recorders' cameras fail over like any lost recorder's."""
        fn = getattr(self.parts, "lost_nodes", None)
        for node, on_it in fn(fresh=fresh) if fn is not None else []:
            cams: set[str] = set()
            for part in on_it:
                if part.startswith("recorder:"):
                    cams |= set(self.sup.cameras_of_recorder(part.split(":", 1)[1]))
                else:
                    cams |= set(self.parts.cameras_of(part))
            self.lost_parts |= set(on_it)
            # A part found dead a moment before its node was (Ray marks a node dead only after
            # its health checks fail) was asked to start again there, pinned to a node that is
            # gone: that start never ran. Its record says so, and the node's fault owns it.
            for part in on_it:
                early = self.log.active(part)
                if early is not None and early["restarted_s"] is not None:
                    early["restart_on_lost_node_s"] = early["restarted_s"]
                    early["restarted_s"] = None
            # Last seen working: the earliest its parts were last heard from.
            seen = [
                self.sup.last_beat(p.split(":", 1)[1]) for p in on_it if p.startswith("recorder:")
            ]
            seen += [self._relay_seen[p] for p in on_it if p in self._relay_seen]
            seen += [self._actor_seen[p] for p in on_it if p in self._actor_seen]
            rec = self.log.open(
                f"node:{node}",
                kind="node_lost",
                scripted=False,
                last_seen_s=min(seen, default=self._last_round),
                cameras=sorted(cams),
            )
            rec["detected_s"] = now
            rec["parts"] = sorted(on_it)
            self.event(
                "node_lost", node=node, fault=rec["id"], parts=sorted(on_it), cameras=sorted(cams)
            )

    def _watch_actors(self, now: float) -> None:
        dead, back, answered = self.parts.poll_actors()
        for part in answered:
            self._actor_seen[part] = now
        if any(p not in self.lost_parts for p in dead):
            # Parts die with their node before the node-lost check (once a second) sees it:
            # ask now, so that nothing is started again on a node the cluster has lost.
            self._watch_nodes(now, fresh=True)
        for part in dead:
            if part in self.lost_parts:
                continue  # lost with its node: that fault's, nothing to start it on
            rec = self.log.active(part)
            if rec is None:
                rec = self.log.open(
                    part,
                    kind=part_kind(part),
                    scripted=False,
                    last_seen_s=self._actor_seen.get(part),
                    cameras=self.parts.cameras_of(part),
                )
            rec["detected_s"] = now
            self.event("actor_lost", part=part, fault=rec["id"])
            self.parts.restart_actor(part)
            rec["restarted_s"] = now
        for part in back:
            rec = self.log.active(part)
            if rec is not None:
                rec["restored_s"] = now
            self.event("actor_restored", part=part)

    # -- scripted faults -------------------------------------------------------------------
    def _fault(self, f: LiveFault) -> Generator[simpy.Event, Any, None]:
        env, t0 = self.env, self.cfg.t0
        start = t0 + f.start_s
        if start > env.now:
            yield env.timeout(start - env.now)
        if env.now >= self.cfg.t_end:
            return
        late = self._woke("fault")
        part = self._part_of(f)
        cams = (
            self.parts.cameras_of(part)
            if f.action != "kill_recorder"
            else self.sup.cameras_of_recorder(f.target)
        )
        rec = self.log.open(
            part, kind=f.kind, scripted=True, label=f.label, injected_s=env.now, cameras=cams
        )
        rec["fault_index"] = f.index
        if self._clock is not None:
            rec["late_s"] = round(late, 3)  # carried out this long after the plan said
        if f.action == "power_off":
            rec["cameras"] = sorted(self.parts.power(f.target, False))
        else:
            rec["pid"] = self.parts.kill(part)
        self.event(
            "fault_injected",
            fault=rec["id"],
            fault_kind=f.kind,
            part=part,
            pid=rec["pid"],
            cameras=rec["cameras"],
            label=f.label,
        )
        end = t0 + f.end_s
        if end >= self.cfg.t_end:
            return
        yield env.timeout(max(0.0, end - env.now))
        rec["ended_s"] = env.now
        if f.action == "power_off":
            self.parts.power(f.target, True)
            rec["restarted_s"] = rec["restored_s"] = env.now
        elif f.action == "kill_relay":
            if rec["restarted_s"] is None:
                self.parts.restart_relay(part)
                rec["restarted_s"] = env.now
        elif f.target in self.down and f.target not in self.restarting:
            self._restart_recorder(f.target, env.now)
        self.event("fault_ended", fault=rec["id"], part=part)

    @staticmethod
    def _part_of(f: LiveFault) -> str:
        if f.action == "kill_recorder":
            return f"recorder:{f.target}"
        if f.action == "kill_relay":
            return RELAY
        return f"power:{f.target}"

    # -- sweeps and samples ----------------------------------------------------------------
    def _sweeper(self) -> Generator[simpy.Event, Any, None]:
        env, every = self.env, self.cfg.sweep_interval_s
        due = env.now
        while True:
            self._woke("sweep")
            self.parts.sweep_start(env.now)
            while True:
                rep = self.parts.sweep_poll()
                if rep is not None:
                    if rep:
                        self.sweeps.append(rep)
                    break  # done, or lost with its sweeper: the next one catches up
                yield env.timeout(0.2)
            due += every
            while due < env.now:  # a sweep longer than the interval: skip the slots it took
                due += every
            yield env.timeout(due - env.now)

    def _sampler(self) -> Generator[simpy.Event, Any, None]:
        env, cfg = self.env, self.cfg
        while True:
            self._woke("sample")
            s = self.parts.sample()
            row = {
                "t_s": round(env.now - cfg.t0, 3),
                **s,
                "segments_deleted": sum(x["deleted"] for x in self.sweeps),
                "recorders_up": len(self.sup.recorders) - len(self.down),
            }
            self.samples.append(row)
            n_cams = len(self.sup.cameras)
            warn = ""
            if s.get("cameras_recording", n_cams) < n_cams and env.now - cfg.t0 > cfg.startup_s:
                active = sorted({r["part"] for r in self.log.records if r["restored_s"] is None})
                warn = "  WARNING: " + (
                    ", ".join(active) + " down"
                    if active
                    else f"{n_cams - int(s.get('cameras_recording', 0))} cameras not recording"
                )
            self._say(
                f"{int(s.get('cameras_recording', 0))}/{n_cams} recording, "
                f"{int(s.get('segments_written', 0))} segments, "
                f"{row['segments_deleted']} deleted, "
                f"{row['recorders_up']}/{len(self.sup.recorders)} recorders up{warn}"
            )
            self._on_sample()
            yield env.timeout(cfg.sample_s)
