"""The failover core on its own: heartbeat health, standby placement, fail-back (no SimPy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.core.assignment import RecorderLoads
from twin.core.failover import (
    DOWN,
    RETURNING,
    SUSPECT,
    UP,
    FailoverController,
    FailoverError,
    HealthEvent,
    HeartbeatMonitor,
    detection_time,
)


def test_a_silent_recorder_is_suspect_after_one_interval_and_down_after_missed_beats():
    mon = HeartbeatMonitor(3, interval_s=5, missed_beats=3)
    trace = []
    for t in (5.0, 10.0, 15.0, 20.0):
        trace += mon.beat(np.array([0, 2]), t)  # recorder 1 fell silent after its beat at 0
        trace += mon.check(t)
    trace += mon.beat(np.array([1]), 23.0)  # it is back
    trace += mon.failback_done(1, 40.0)
    assert trace == [
        HealthEvent(5.0, 1, UP, SUSPECT),
        HealthEvent(15.0, 1, SUSPECT, DOWN),
        HealthEvent(23.0, 1, DOWN, RETURNING),
        HealthEvent(40.0, 1, RETURNING, UP),
    ]


def test_detection_time_is_the_last_beat_plus_missed_beats_intervals():
    assert detection_time(3600.0, 5, 3) == 3615.0  # a beat was due at 3600 and went out
    assert detection_time(3607.0, 5, 3) == 3620.0  # last beat 3605
    assert detection_time(0.0, 10, 1) == 10.0


def test_an_event_outside_the_table_is_refused_with_the_allowed_ones():
    mon = HeartbeatMonitor(2, interval_s=5, missed_beats=3)
    with pytest.raises(
        FailoverError,
        match=r"recorder 0 is up: event 'failback_done' is not allowed; "
        r"allowed: \['beat', 'miss', 'timeout'\]",
    ):
        mon.failback_done(0, 1.0)
    with pytest.raises(FailoverError, match=r"interval_s \(0\) must be > 0"):
        HeartbeatMonitor(1, interval_s=0, missed_beats=3)


def _pool(n_rec: int, ingest: float, streams: int, standby: int = 0):
    loads = RecorderLoads(np.zeros(n_rec), np.full(n_rec, ingest), np.full(n_rec, streams))
    sb = np.zeros(n_rec, dtype=bool)
    if standby:
        sb[-standby:] = True
    return loads, sb


def _start(loads, sb, mbps, policy="spread", reassign_s=30.0):
    ctrl = FailoverController(loads, policy, np.zeros(mbps.size, dtype=int), mbps, sb, reassign_s)
    rec = loads.place_balanced(mbps, np.zeros(mbps.size, dtype=int), ~sb)
    assert (rec >= 0).all()
    ctrl.placed(np.arange(mbps.size), rec)
    return ctrl, rec


def test_spread_with_room_short_by_k_streams_leaves_exactly_k_cameras_unassigned():
    # 3 recorders of 10 streams, 24 cameras: 8 each; survivors have 2 + 2 free, so 8 - 4 = 4 left.
    loads, sb = _pool(3, 1000.0, 10)
    ctrl, rec = _start(loads, sb, np.full(24, 4.0))
    cmd = ctrl.recorder_down(0, 100.0)
    assert cmd.at_s == 130.0 and cmd.kind == "failover"
    assert cmd.cameras.tolist() == np.flatnonzero(rec == 0).tolist()
    assert (cmd.to >= 0).sum() == 4
    assert cmd.unplaced.tolist() == np.flatnonzero(rec == 0)[4:].tolist()  # in camera order
    assert loads.streams.tolist() == [0, 10, 10]
    ctrl.apply(cmd)
    assert ctrl.unassigned().tolist() == cmd.unplaced.tolist()


def test_n_plus_1_takes_over_a_lost_recorder_on_the_idle_standby_alone():
    loads, sb = _pool(4, 1000.0, 10, standby=1)
    ctrl, rec = _start(loads, sb, np.full(24, 4.0), policy="n_plus_m")
    assert loads.streams.tolist() == [8, 8, 8, 0]
    cmd = ctrl.recorder_down(1, 0.0)
    assert cmd.to.tolist() == [3] * 8
    assert loads.streams.tolist() == [8, 0, 8, 8]
    # A second loss finds no idle standby; the standby has 2 streams left.
    cmd2 = ctrl.recorder_down(0, 5.0)
    assert (cmd2.to == 3).sum() == 2 and cmd2.unplaced.size == 6


def test_fail_back_restores_the_original_assignment_and_loads():
    loads, sb = _pool(3, 100.0, 10, standby=1)
    mbps = np.linspace(3.0, 6.0, 12)
    ctrl, rec = _start(loads, sb, mbps, policy="n_plus_m")
    before = (loads.load_mbps.copy(), loads.streams.copy())
    ctrl.apply(ctrl.recorder_down(0, 10.0))
    assert (ctrl.rec_of[rec == 0] == 2).all()
    back = ctrl.recorder_returned(0, 500.0)
    assert back.kind == "failback" and back.at_s == 530.0
    # While the cameras are in transit both ends hold them: nothing can squeeze in.
    assert loads.streams.tolist() == [before[1][0], before[1][1], before[1][0]]
    ctrl.apply(back)
    assert (ctrl.rec_of == rec).all() and (ctrl.pending == -1).all()
    assert np.allclose(loads.load_mbps, before[0]) and loads.streams.tolist() == before[1].tolist()


def test_a_plan_superseded_before_it_takes_effect_is_ignored():
    loads, sb = _pool(3, 1000.0, 10)
    ctrl, rec = _start(loads, sb, np.full(12, 4.0))
    first = ctrl.recorder_down(0, 0.0)
    second = ctrl.recorder_down(int(first.to[0]), 5.0)  # a target dies before the move
    moved = ctrl.apply(first)
    assert set(moved.tolist()).isdisjoint(second.cameras.tolist())
    ctrl.apply(second)
    assert loads.streams.sum() == (ctrl.rec_of >= 0).sum()


@settings(max_examples=150, deadline=None)
@given(
    recs=st.lists(st.tuples(st.floats(20, 200), st.integers(2, 12)), min_size=2, max_size=6),
    n_standby=st.integers(0, 2),
    policy=st.sampled_from(["spread", "n_plus_m", "none"]),
    mbps=st.lists(st.floats(1, 20), min_size=1, max_size=60),
    ops=st.lists(
        st.tuples(st.sampled_from(["down", "up", "apply", "retry"]), st.integers(0, 5)), max_size=40
    ),
)
def test_no_recorder_is_ever_over_a_limit_through_any_losses_and_returns(
    recs, n_standby, policy, mbps, ops
):
    n = len(recs)
    n_standby = min(n_standby, n - 1)
    loads = RecorderLoads(np.zeros(n), [r[0] for r in recs], [r[1] for r in recs])
    sb = np.zeros(n, dtype=bool)
    if n_standby:
        sb[-n_standby:] = True
    mbps = np.array(mbps)
    ctrl = FailoverController(loads, policy, np.zeros(mbps.size, dtype=int), mbps, sb, 30.0)
    rec = loads.place_balanced(mbps, np.zeros(mbps.size, dtype=int), ~sb)
    ok = rec >= 0
    ctrl.placed(np.flatnonzero(ok), rec[ok])
    down = np.zeros(n, dtype=bool)
    pending: list = []
    t = 0.0
    for op, k in ops:
        t += 1.0
        r = k % n
        if op == "down" and not down[r]:
            down[r] = True
            pending.append(ctrl.recorder_down(r, t))
        elif op == "up" and down[r]:
            down[r] = False
            pending.append(ctrl.recorder_returned(r, t))
        elif op == "apply" and pending:
            ctrl.apply(pending.pop(k % len(pending)))
        elif op == "retry":
            cmd = ctrl.retry(t)
            if cmd is not None:
                pending.append(cmd)
        # Never over a limit; the ledger is exactly what cameras hold (current + reserved).
        assert (loads.load_mbps <= loads.ingest_limit * (1 + 1e-9)).all()
        assert (loads.streams <= loads.stream_limit).all()
        held = [ctrl.rec_of, np.where(ctrl.pending != ctrl.rec_of, ctrl.pending, -1)]
        streams = sum(np.bincount(h[h >= 0], minlength=n) for h in held)
        assert streams.tolist() == loads.streams.tolist()
        assert not (
            np.isin(ctrl.rec_of, np.flatnonzero(down)) | np.isin(ctrl.pending, np.flatnonzero(down))
        ).any()
