"""The live driver's processes on virtual time: supervision, faults, sweeps (no Ray, no MediaMTX).

`SimParts` stands in for the running twin (twin.live.parts.RayParts talks to the real one): a
part "dies" when the test says so, and from then on behaves as a dead process does to the
driver: no heartbeat, a failed ping, a MediaMTX process that is gone. Everything the driver
decides (who is declared down, where cameras go, what is started again, what each fault
record says) is the production code, on `simpy.Environment`.
"""

from __future__ import annotations

import simpy

from tests.helpers import scenario
from twin.live.driver import ANALYSER, RELAY, SWEEPER, DriverConfig, LiveDriver
from twin.live.failover import Supervisor
from twin.live.faults import LiveFault, compile_live_faults

RECS = ["p-r01", "p-r02", "p-r03"]
CAMS = [f"c{i:02d}" for i in range(12)]
HB, TIMEOUT = 0.5, 2.0


class SimParts:
    """The twin's parts as the driver sees them, on the environment's clock."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.dead: set[str] = set()  # parts whose process is gone
        self.restart_at: dict[str, float] = {}  # part -> when its new process answers
        self.calls: list[tuple] = []
        self.relay = "up"
        self.sweep_running_until: float | None = None
        self.sweeps_started: list[float] = []
        self.on_recorder: dict[str, set[str]] = {r: set() for r in RECS}
        self.actors = ["set:set00001", "set:set00002", ANALYSER, SWEEPER]
        self._reported_dead: set[str] = set()

    def die(self, part: str) -> None:
        self.dead.add(part)
        if part == RELAY:
            self.relay = "dead"
        if part.startswith("recorder:"):
            self.on_recorder[part.split(":")[1]] = set()

    def _answering(self, part: str) -> bool:
        if part in self.restart_at and self.env.now >= self.restart_at[part]:
            self.dead.discard(part)
            del self.restart_at[part]
            self._reported_dead.discard(part)
        return part not in self.dead and part not in self.restart_at

    # -- Parts -----------------------------------------------------------------------------
    def poll_recorders(self, alive):
        ok = [r for r in alive if self._answering(f"recorder:{r}")]
        return ok, [
            r
            for r in alive
            if f"recorder:{r}" in self.dead and f"recorder:{r}" not in self.restart_at
        ]

    def record(self, recorder, cameras):
        self.calls.append(("record", self.env.now, recorder, tuple(cameras)))
        self.on_recorder[recorder] |= set(cameras)

    def start_recorder(self, recorder):
        self.calls.append(("start_recorder", self.env.now, recorder))
        self.restart_at[f"recorder:{recorder}"] = self.env.now + 1.5

    def relay_state(self, part="relay:mediamtx"):
        if RELAY in self.restart_at:
            if self._answering(RELAY):
                self.relay = "up"
                return "up"
            return "restarting"
        return self.relay

    def restart_relay(self, part="relay:mediamtx"):
        self.calls.append(("restart_relay", self.env.now))
        self.restart_at[RELAY] = self.env.now + 0.3

    def poll_actors(self):
        dead = [
            p
            for p in self.actors
            if p in self.dead and p not in self.restart_at and p not in self._reported_dead
        ]
        self._reported_dead |= set(dead)
        back = [p for p in self.actors if p in self.restart_at and self._answering(p)]
        answered = [p for p in self.actors if p not in self.dead and p not in self.restart_at]
        return dead, back, answered

    def restart_actor(self, part):
        self.calls.append(("restart_actor", self.env.now, part))
        self.restart_at[part] = self.env.now + 2.0

    def kill(self, part):
        self.calls.append(("kill", self.env.now, part))
        self.die(part)
        return 4242

    def power(self, camera_set, on):
        self.calls.append(("power", self.env.now, camera_set, on))
        return ["c00", "c01"] if camera_set == "set00001" else ["c02"]

    def sweep_start(self, now_s):
        if self.sweep_running_until is not None or SWEEPER in self.dead:
            return False
        self.sweeps_started.append(now_s)
        self.sweep_running_until = now_s + 0.5
        return True

    def sweep_poll(self):
        if self.sweep_running_until is None:
            return {}
        if SWEEPER in self.dead:  # the sweeper died under its sweep: the sweep is lost
            self.sweep_running_until = None
            return {}
        if self.env.now >= self.sweep_running_until:
            self.sweep_running_until = None
            return {"t_s": self.env.now, "deleted": 1}
        return None

    def sample(self):
        return {
            "cameras_recording": float(sum(len(v) for v in self.on_recorder.values())),
            "segments_written": 0.0,
        }

    def cameras_of(self, part):
        return list(CAMS) if part == RELAY else (["c00", "c01"] if "set00001" in part else [])


def _run(faults: list[LiveFault], until: float, script=None):
    env = simpy.Environment(initial_time=100.0)
    parts = SimParts(env)
    sup = Supervisor(
        RECS,
        max_streams=6,
        ingest_mbps=100.0,
        camera_mbps={c: 1.0 for c in CAMS},
        interval_s=HB,
        timeout_s=TIMEOUT,
        now_s=env.now,
    )
    sup.place_all()
    for r in RECS:
        parts.record(r, sup.cameras_of_recorder(r))
    events: list[tuple] = []
    driver = LiveDriver(
        env,
        parts,
        sup,
        DriverConfig(t0=100.0, t_end=100.0 + until, heartbeat_interval_s=HB, sweep_interval_s=5.0),
        faults,
        event=lambda kind, **kw: events.append((env.now, kind, kw)),
    )
    driver.start()
    if script:
        env.process(script(env, parts))
    env.run(until=100.0 + until)
    return driver, parts, sup, events


def test_an_unscripted_recorder_death_is_detected_its_cameras_move_and_it_is_started_again():
    def script(env, parts):
        yield env.timeout(10.2)
        parts.die("recorder:p-r01")

    driver, parts, sup, events = _run([], 30.0, script)
    (rec,) = driver.log.records
    assert rec["kind"] == "recorder_crash" and not rec["scripted"]
    # Last beat answered at 110.0; silent for missed_beats (4) intervals: down at 112.0.
    assert rec["last_seen_s"] == 110.0 and rec["detected_s"] == 112.0
    moved = [c for c in parts.calls if c[0] == "record" and c[1] == 112.0]
    assert sorted(cam for c in moved for cam in c[3]) == sorted(rec["cameras"]) and rec["cameras"]
    assert all(r != "p-r01" for _, _, r, _ in moved)
    assert ("start_recorder", 112.0, "p-r01") in parts.calls
    # The new process answers 1.5 s later: it rejoins as spare capacity.
    assert rec["restored_s"] == 113.5 and "p-r01" not in driver.down
    assert sup.state("p-r01") == "up"
    # No recorder is ever over its limit of 6 streams.
    assert all(len(v) <= 6 for v in parts.on_recorder.values())


def test_a_scripted_crash_stays_down_for_its_duration_then_starts_again():
    f = LiveFault(0, "recorder_crash", "kill_recorder", "p-r02", 5.0, 15.0, "drill")
    driver, parts, sup, events = _run([f], 30.0)
    (rec,) = driver.log.records
    assert rec["scripted"] and rec["injected_s"] == 105.0 and rec["pid"] == 4242
    assert ("kill", 105.0, "recorder:p-r02") in parts.calls
    # The kill at 105.0 comes before that instant's round: the last beat was at 104.5, and
    # missed_beats (4) intervals of silence later it is declared down.
    assert rec["detected_s"] == 106.5
    starts = [c for c in parts.calls if c[0] == "start_recorder"]
    assert starts == [("start_recorder", 115.0, "p-r02")]  # at the fault's end, not before
    assert rec["ended_s"] == 115.0 and rec["restored_s"] == 116.5


def test_mediamtx_found_dead_is_restarted_at_once_but_a_scripted_relay_fault_waits():
    def script(env, parts):
        yield env.timeout(3.1)
        parts.die(RELAY)

    driver, parts, _, _ = _run([], 10.0, script)
    (rec,) = driver.log.records
    assert (rec["kind"], rec["scripted"], rec["detected_s"]) == ("relay_down", False, 103.5)
    assert ("restart_relay", 103.5) in parts.calls and rec["restored_s"] == 104.0
    assert rec["cameras"] == sorted(CAMS)

    f = LiveFault(1, "relay_down", "kill_relay", "mediamtx", 2.0, 6.0, "")
    driver, parts, _, _ = _run([f], 10.0)
    (rec,) = driver.log.records
    assert rec["scripted"] and rec["detected_s"] == 102.0
    assert [c for c in parts.calls if c[0] == "restart_relay"] == [("restart_relay", 106.0)]
    assert rec["restored_s"] == 106.5


def test_dead_camera_set_analyser_and_sweeper_actors_are_started_again():
    def script(env, parts):
        yield env.timeout(4.2)
        parts.die("set:set00001")
        yield env.timeout(3.0)
        parts.die(SWEEPER)
        parts.die(ANALYSER)

    driver, parts, _, _ = _run([], 20.0, script)
    by_part = {r["part"]: r for r in driver.log.records}
    assert set(by_part) == {"set:set00001", SWEEPER, ANALYSER}
    assert by_part["set:set00001"]["kind"] == "publisher_crash"
    assert by_part["set:set00001"]["cameras"] == ["c00", "c01"]
    assert by_part[SWEEPER]["kind"] == "sweeper_crash"
    # Died at 104.2 and 107.2: last answered the rounds at 104.0 and 107.0, found dead at the
    # next round, started again at once; the new process answers 2 s later.
    assert [
        (by_part[p]["last_seen_s"], by_part[p]["detected_s"], by_part[p]["restored_s"])
        for p in ("set:set00001", SWEEPER, ANALYSER)
    ] == [(104.0, 104.5, 106.5), (107.0, 107.5, 109.5), (107.0, 107.5, 109.5)]
    for part, rec in by_part.items():
        assert ("restart_actor", rec["detected_s"], part) in parts.calls


def test_power_faults_cut_and_restore_a_set_and_sweeps_never_overlap():
    f = LiveFault(0, "set_power", "power_off", "set00001", 3.0, 8.0, "")
    driver, parts, _, _ = _run([f], 30.0)
    assert [c for c in parts.calls if c[0] == "power"] == [
        ("power", 103.0, "set00001", False),
        ("power", 108.0, "set00001", True),
    ]
    (rec,) = driver.log.records
    assert rec["cameras"] == ["c00", "c01"] and rec["restored_s"] == 108.0
    starts = parts.sweeps_started
    assert starts[0] == 100.0 and len(starts) == len(driver.sweeps) + (
        1 if parts.sweep_running_until else 0
    )
    assert all(b - a >= 5.0 for a, b in zip(starts, starts[1:]))


def test_a_stalled_driver_does_not_declare_healthy_recorders_down():
    env = simpy.Environment(initial_time=0.0)
    parts = SimParts(env)
    sup = Supervisor(RECS, 6, 100.0, {c: 1.0 for c in CAMS}, HB, TIMEOUT, 0.0)
    sup.place_all()
    driver = LiveDriver(env, parts, sup, DriverConfig(0.0, 100.0, HB, 5.0), [])
    driver.round()
    env.run(until=10.0)  # nobody ran a round for 10 s: the driver was held up
    driver.round()
    assert driver.down == set() and driver.log.records == []


def test_random_live_faults_are_drawn_from_the_seed_like_the_simulation():
    base = {
        "live": {"duration_s": 600},
        "recorders.pools": [
            {
                "name": "p",
                "districts": "*",
                "recorders": 3,
                "ingest_mbps": 100,
                "disk_tb": 1,
                "max_streams": 10,
            }
        ],
        "faults": [{"type": "recorder_crash", "recorder": "*", "mtbf_h": 0.05, "mttr_h": 0.005}],
    }
    a = compile_live_faults(scenario(**base), RECS, {}, 600.0)
    b = compile_live_faults(scenario(**base), RECS, {}, 600.0)
    c = compile_live_faults(scenario(seed=99, **base), RECS, {}, 600.0)
    assert a == b and a != c
    assert a and all(f.action == "kill_recorder" and 0 <= f.start_s < 600 < 10**6 for f in a)
    assert {f.target for f in a} <= set(RECS)
    # Mean up time 180 s per recorder over 600 s: about 10 crashes in all.
    assert 3 <= len(a) <= 25


def test_cameras_nobody_could_take_are_placed_when_a_recorder_rejoins():
    """Two of three recorders die: the survivor takes what fits (6 streams), the rest wait,
    unplaced, and go to the first recorder that runs again; nobody is ever over a limit."""

    def script(env, parts):
        yield env.timeout(5.2)
        parts.die("recorder:p-r01")
        parts.die("recorder:p-r02")

    driver, parts, sup, events = _run([], 20.0, script)
    assert {r["part"] for r in driver.log.records} == {"recorder:p-r01", "recorder:p-r02"}
    # 8 cameras lost; the survivor had 4 of 6 streams: 2 moved, 6 unplaced at 107.0.
    moved_at_loss = [c for c in parts.calls if c[0] == "record" and c[1] == 107.0]
    assert sum(len(c[3]) for c in moved_at_loss) == 2 and len(driver.unplaced) == 6
    # Both restart at once and answer 1.5 s later: the waiting cameras are placed on them.
    later = [c for c in parts.calls if c[0] == "record" and c[1] == 108.5]
    assert sorted(cam for c in later for cam in c[3]) == sorted(driver.unplaced)
    assert all(len(v) <= 6 for v in parts.on_recorder.values())
    assert sum(len(v) for v in parts.on_recorder.values()) == len(CAMS)
    assert sup.assignment() and None not in sup.assignment().values()


def test_a_restarted_recorder_that_dies_before_it_beats_is_started_again():
    def script(env, parts):
        yield env.timeout(5.2)
        parts.die("recorder:p-r01")
        yield env.timeout(2.0)  # down at 107.0, restarting: its new process dies at once
        parts.restart_at.pop("recorder:p-r01")
        parts.dead.add("recorder:p-r01")

    driver, parts, sup, events = _run([], 20.0, script)
    assert [k for _, k, _ in events].count("recorder_restart_failed") == 1
    starts = [c[1] for c in parts.calls if c[0] == "start_recorder"]
    assert starts == [107.0, 107.5]
    (rec,) = driver.log.records
    assert rec["restored_s"] == 109.0 and sup.state("p-r01") == "up"


def test_a_sweep_lost_with_its_sweeper_does_not_stop_the_sweeps():
    def script(env, parts):
        yield env.timeout(10.1)  # the sweep started at 110.0 runs until 110.5
        parts.die(SWEEPER)

    driver, parts, _, _ = _run([], 30.0, script)
    rec = next(r for r in driver.log.records if r["part"] == SWEEPER)
    assert rec["restored_s"] is not None
    # Sweeps keep their cadence; the one under way at 110.0 died with the sweeper (112.5 back).
    assert parts.sweeps_started == [100.0, 105.0, 110.0, 115.0, 120.0, 125.0]
    assert [round(s["t_s"], 1) for s in driver.sweeps] == [100.6, 105.6, 115.6, 120.6, 125.6]


def test_a_dead_recorder_is_found_even_when_the_driver_keeps_stalling():
    """Stalls credit the recorders with beats they could not be watched for, but not one
    whose process Ray already reported gone."""
    env = simpy.Environment(initial_time=0.0)
    parts = SimParts(env)
    sup = Supervisor(RECS, 6, 100.0, {c: 1.0 for c in CAMS}, HB, TIMEOUT, 0.0)
    sup.place_all()
    driver = LiveDriver(env, parts, sup, DriverConfig(0.0, 100.0, HB, 5.0), [])
    driver.round()
    parts.die("recorder:p-r03")
    for t in (1.5, 3.0, 4.5, 6.0):  # every round 1.5 s late: a stall each time
        env.run(until=t)
        driver.round()
    (rec,) = driver.log.records
    assert (rec["part"], rec["last_seen_s"], rec["detected_s"], rec["restored_s"]) == (
        "recorder:p-r03",
        0.0,
        3.0,
        4.5,
    )  # found at the 2nd round, back 1.5 s after restart
    assert not driver.down


def test_a_spare_recorder_with_no_cameras_that_dies_is_found_and_started_again():
    """A restarted recorder rejoins empty; killed again, it has no cameras to move, and it is
    still a fault, found, and started again (the 10-minute chaos run once missed it)."""

    def script(env, parts):
        yield env.timeout(5.2)
        parts.die("recorder:p-r03")
        yield env.timeout(10.0)  # rejoined at 108.5 with no cameras
        parts.die("recorder:p-r03")

    driver, parts, sup, events = _run([], 30.0, script)
    recs = [r for r in driver.log.records if r["part"] == "recorder:p-r03"]
    assert [(r["detected_s"], r["restored_s"], len(r["cameras"])) for r in recs] == [
        (107.0, 108.5, 4),
        (117.0, 118.5, 0),
    ]
    assert [c[1] for c in parts.calls if c[0] == "start_recorder"] == [107.0, 117.0]


class NodeParts(SimParts):
    """SimParts on two nodes: p-r01, set00001 and the relay on node "n2", which the cluster
    loses at `lost_at` (every part there dies with it)."""

    ON_N2 = ["recorder:p-r01", "set:set00001", RELAY]

    def __init__(self, env: simpy.Environment, lost_at: float) -> None:
        super().__init__(env)
        self.lost_at = lost_at
        self.reported = False

    def lost_nodes(self, fresh: bool = False):
        if self.env.now >= self.lost_at and not self.reported:
            self.reported = True
            return [("n2", list(self.ON_N2))]
        return []

    def start_recorder(self, recorder):
        if f"recorder:{recorder}" in self.ON_N2 and self.env.now >= self.lost_at:
            raise AssertionError("a recorder on a lost node was started again")
        super().start_recorder(recorder)


def test_a_lost_node_is_one_fault_covering_every_camera_it_served_and_nothing_restarts_there():
    env = simpy.Environment(initial_time=100.0)
    parts = NodeParts(env, lost_at=110.2)
    sup = Supervisor(
        RECS,
        max_streams=6,
        ingest_mbps=100.0,
        camera_mbps={c: 1.0 for c in CAMS},
        interval_s=HB,
        timeout_s=TIMEOUT,
        now_s=env.now,
    )
    sup.place_all()
    for r in RECS:
        parts.record(r, sup.cameras_of_recorder(r))
    on_r01 = set(sup.cameras_of_recorder("p-r01"))
    driver = LiveDriver(
        env,
        parts,
        sup,
        DriverConfig(t0=100.0, t_end=130.0, heartbeat_interval_s=HB, sweep_interval_s=5.0),
        [],
    )
    driver.start()

    def script(env, parts):
        yield env.timeout(10.1)
        for p in parts.ON_N2:
            parts.die(p)

    env.process(script(env, parts))
    env.run(until=130.0)
    (node,) = [r for r in driver.log.records if r["kind"] == "node_lost"]
    assert node["part"] == "node:n2" and node["detected_s"] == 110.5
    # Its cameras: those it published (set00001), relayed (all, here) and recorded (p-r01's).
    assert set(node["cameras"]) >= on_r01 | {"c00", "c01"} and node["restored_s"] is None
    # The recorder's cameras failed over to the survivors on the other node ...
    moved = {cam for c in parts.calls if c[0] == "record" and c[1] > 110.0 for cam in c[3]}
    assert moved == on_r01
    # ... and nothing was started again on the lost node.
    assert not any(c[0] in ("start_recorder", "restart_relay") for c in parts.calls)
    assert not any(c[0] == "restart_actor" and c[2] == "set:set00001" for c in parts.calls)
