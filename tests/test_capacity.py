"""Capacity as recorders store footage (issue 15): daily curves, overwrite_oldest, RAID."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import scenario
from twin.core.curves import CurveSet, DailyCurve
from twin.core.types import Interval
from twin.model.city import generate_city
from twin.scenario import Scenario
from twin.sim.engine import DROP_REASONS, CityEngine, SimOutcome
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

LIGHT = {0: 2.0, 6: 1.0, 18: 1.5}  # night doubles the bitrate, evening 1.5x
DISK_FULL = DROP_REASONS.index("disk_full")


def hand_integral(steps: dict[int, float], t0: float, t1: float) -> float:
    """Factor-seconds of a step curve over [t0, t1], one second at a time (no shortcuts)."""
    hourly = DailyCurve.from_steps(steps).hourly
    t = np.arange(int(t0), int(t1), dtype=np.float64)
    return float(np.asarray(hourly)[((t % 86_400) // 3600).astype(int)].sum())


def run(sc: Scenario, days: float | None = None) -> tuple[CityEngine, SimOutcome]:
    e = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc))
    return e, e.run(days)


def test_curve_set_integrates_exactly_across_days() -> None:
    cs = CurveSet([DailyCurve.from_steps(LIGHT)])
    for t0, t1 in [(0, 86_400), (3_000, 200_000), (21_599, 21_601), (90_000, 90_000)]:
        assert cs.integral(1, t0, t1) == pytest.approx(hand_integral(LIGHT, t0, t1), rel=1e-12)
    assert cs.integral(0, 5.0, 17.5) == 12.5  # the flat curve is time itself
    assert DailyCurve.from_steps({6: 3.0}).hourly == (3.0,) * 24


@pytest.mark.parametrize(
    "profile",
    [
        {"light_curve": LIGHT},
        {
            "light_curve": LIGHT,
            "recording": "motion",
            "motion_share": 0.4,
            "motion_curve": {0: 0.5, 7: 2.0, 22: 1.0},
        },
    ],
)
def test_storage_with_a_curve_is_the_integral_of_the_curve_within_0_1_pct(
    profile: dict[str, Any],
) -> None:
    # Retention 1 day over 3 days: at the end the disk holds the footage from the last
    # sweep's cutoff on, which a flat-rate model would get wrong by the curve's shape.
    prof = {"name": "p", "bitrate_mbps": 4.0, "bitrate_spread_pct": 10, **profile}
    sc = scenario(
        **{"camera_profiles": [prof], "recording.retention_days": 1, "simulation.days": 3}
    )
    e, o = run(sc)
    city = o.city
    end = o.end_s
    last_sweep = (np.ceil(end / 3600) - 1) * 3600
    cutoff = last_sweep - 86_400
    share = prof.get("motion_share", 1.0) if prof.get("recording") == "motion" else 1.0
    f = dict(LIGHT)
    if "motion_curve" in prof:  # the disk sees light x motion factors, hour by hour
        light = DailyCurve.from_steps(LIGHT).hourly
        motion = DailyCurve.from_steps(prof["motion_curve"]).hourly
        f = {h: light[h] * motion[h] for h in range(24)}
    base_bps = city.cam_mbps / 2.0 * 1e6 / 8 * share  # cam_mbps is the peak (2x) stream
    hand = float(base_bps.sum()) * hand_integral(f, cutoff, end)
    assert o.stored_bytes_end.sum() == pytest.approx(hand, rel=1e-3)
    # The writer's own running bytes (the disk-full check) agree with the catalog.
    assert e.rec_used.sum() == pytest.approx(o.stored_bytes_end.sum(), rel=1e-9)
    # Ingest and backhaul are carried at the peak hour's bitrate: twice the nominal.
    m = sim_metrics(o)
    assert m["ingest_total_mbps"] == pytest.approx(2.0 * float(city.cam_mbps.sum() / 2.0), rel=1e-9)
    assert o.dropped.sum() == 0
    assert o.written_segments == o.deleted_segments + o.stored_segments_end


def test_integral_every_is_integral_of_each_curve_to_the_bit() -> None:
    """The writer's shortcut (every curve from one start) gives integral()'s very floats."""
    cs = CurveSet(
        [DailyCurve.from_steps(LIGHT), DailyCurve(tuple(1.0 + h / 23 for h in range(24)))]
    )
    every = np.arange(len(cs))[None, :]
    rng = np.random.default_rng(15)
    for m in [1, 2, 61, 64, 65, 200]:
        for t0 in [0.0, 3_540.0, 86_340.0, 30 * 86_400 + 7 * 3600.0, float(rng.uniform(0, 4e6))]:
            t1 = np.sort(
                t0 + np.r_[60.0 * np.arange(m - m // 2), rng.uniform(0, 3 * 86_400, m // 2)]
            )
            want = cs.integral(every, np.array([[t0]]), t1[:, None])
            got = cs.integral_every(t0, t1)
            assert got.shape == want.shape and got.tobytes() == want.tobytes()


def test_overwrite_plan_by_groups_of_rows_is_the_plan_row_by_row() -> None:
    """Rows of a recorder that started together are probed once per group: same plan, bit
    for bit, as row by row (cameras closed early and a sweep make some groups uneven)."""
    from twin.core.catalog import RunCatalog
    from twin.core.overwrite import plan_overwrite

    rng = np.random.default_rng(27)
    grouped = 0
    for trial in range(60):
        n_cam, n_rec = int(rng.integers(5, 300)), int(rng.integers(1, 9))
        cat = RunCatalog([f"c{i}" for i in range(n_cam)], [f"r{i}" for i in range(n_rec)])
        cat.curves = CurveSet(
            [DailyCurve.from_steps(LIGHT), DailyCurve.from_steps({0: 1.3, 8: 1.0})]
        )
        recs = rng.integers(0, n_rec, n_cam)
        curve = rng.integers(1, 3 if trial % 2 else 2, n_cam).astype(np.int16)
        starts = rng.choice([0.0, 600.0, 5 * 3600.0], n_cam)
        for s0 in np.unique(starts):
            cams = np.flatnonzero(starts == s0)
            cat.open_runs(
                cams, recs[cams], float(s0), 60.0, rng.uniform(1e6, 5e6, cams.size), curve[cams]
            )
        now = 86_400.0 * float(rng.uniform(3, 9))
        if trial % 5 == 0:
            cat.close_runs(np.flatnonzero(rng.random(n_cam) < 0.1), now / 2)
        if trial % 3 == 0:
            cat.apply(cat.plan_sweep(now, 2 * 86_400.0, 10**9))
        need = np.where(rng.random(n_rec) < 0.7, rng.uniform(1e9, 3e11, n_rec), 0.0)
        s, w = len(cat), cat.written(now)
        c = {k: cat.col(k) for k in ("start_s", "seg_s", "first", "held", "recorder", "curve")}
        args = (
            c["start_s"],
            c["seg_s"],
            w,
            c["first"],
            c["held"],
            c["recorder"],
            cat.col("bytes_per_seg") / c["seg_s"],
            need,
            now,
            cat._cumulative,
            c["curve"],
            cat._curve_cumulative,
            cat._curve_factor,
            cat._first_f(),
        )
        with np.errstate(over="ignore"):  # a recorder asking for room with nothing on it
            a, b = plan_overwrite(*args), plan_overwrite(*args, groups=cat._groups())
        grouped += len(np.unique(cat._groups()[0])) * 2 <= s
        for x, y in [
            (a.plan.rows, b.plan.rows),
            (a.plan.old_first, b.plan.old_first),
            (a.plan.new_first, b.plan.new_first),
            (a.plan.row_bytes, b.plan.row_bytes),
            (a.cutoff_s, b.cutoff_s),
            (a.short, b.short),
        ]:
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
        assert (a.plan.segments, a.plan.bytes, a.plan.cutoff_s) == (
            b.plan.segments,
            b.plan.bytes,
            b.plan.cutoff_s,
        )
    assert grouped > 20  # the groups were used, not only the row-by-row fallback


def test_scene_factor_scales_a_site_kinds_cameras() -> None:
    prof = {"name": "p", "bitrate_mbps": 4.0, "scene_factor": {"government_building": 1.5}}
    sc = scenario(**{"camera_profiles": [prof], "simulation.days": 1})
    _e, o = run(sc)
    city = o.city
    gov = city.set_site_kind[city.cam_set] == 2
    assert gov.any() and (~gov).any()
    assert np.allclose(city.cam_mbps[gov], 6.0) and np.allclose(city.cam_mbps[~gov], 4.0)
    per_day = city.cam_mbps.sum() * 1e6 / 8 * 86_400
    assert o.stored_bytes_end.sum() == pytest.approx(per_day, rel=1e-9)


# --------------------------------------------------------------------------- overwrite
def one_recorder(short: float, policy: str, days: float = 4.0, **extra: Any) -> Scenario:
    """60 sets of 4 Mbps cameras on one recorder whose disk is `short` under 2 days' need."""
    base = scenario(
        **{
            "camera_profiles": [{"name": "p", "bitrate_mbps": 4.0}],
            "recording.retention_days": 2,
            "simulation.days": days,
        }
    )
    rate = generate_city(base).cam_effective_mbps.sum() * 1e6 / 8  # bytes/s
    disk_tb = (1 - short) * rate * 2 * 86_400 / 1e12
    pool = {
        "name": "c",
        "districts": "*",
        "recorders": 1,
        "ingest_mbps": 10_000,
        "disk_tb": disk_tb,
        "max_streams": 1000,
        "full_disk": {"type": policy},
    }
    return scenario(
        **{
            "camera_profiles": [{"name": "p", "bitrate_mbps": 4.0}],
            "recording.retention_days": 2,
            "simulation.days": days,
            "recorders.pools": [pool],
            **extra,
        }
    )


def test_overwrite_oldest_with_a_disk_10_pct_short_keeps_recording_and_gives_up_retention() -> None:
    drop = run(one_recorder(0.10, "drop_new"))[1]
    assert drop.dropped[DISK_FULL].sum() > 0  # today's policy loses new footage
    e, o = run(one_recorder(0.10, "overwrite_oldest"))
    assert o.dropped.sum() == 0  # nothing new is lost
    m = sim_metrics(o)
    rate = o.city.cam_effective_mbps.sum() * 1e6 / 8
    disk = float(o.city.rec_disk_bytes[0])
    # Hand figure: the disk holds disk / rate seconds; a top-up frees an hour ahead.
    hand_days = (disk / rate - 3600) / 86_400
    assert m["retention_achieved_days_min"] == pytest.approx(hand_days, abs=120 / 86_400)
    assert m["retention_achieved_days_median"] == m["retention_achieved_days_min"]
    assert hand_days == pytest.approx(1.8 - 1 / 24, rel=1e-6)
    assert m["segments_deleted_early"] > 0 and m["footage_deleted_early_tb"] > 0
    assert o.rec_peak_bytes[0] <= disk
    assert o.written_segments == o.deleted_segments + o.stored_segments_end
    assert e.rec_used[0] == pytest.approx(o.stored_bytes_end[0], rel=1e-9)


def test_overwrite_with_room_enough_deletes_nothing_early_and_reports_full_retention() -> None:
    o = run(one_recorder(-0.05, "overwrite_oldest"))[1]
    m = sim_metrics(o)
    assert m["segments_deleted_early"] == 0
    assert m["retention_achieved_days_min"] == 2.0
    assert o.dropped.sum() == 0


class Holds:
    """Places evidence holds at given times and remembers what each held."""

    name = "holds"

    def __init__(self, holds: list[tuple[float, int, float, float]]) -> None:
        self.holds = holds
        self.held: dict[str, tuple[int, Interval, set[float]]] = {}

    def attach(self, engine: CityEngine) -> None:
        engine.env.process(self._run(engine))

    def _run(self, engine: CityEngine):  # type: ignore[no-untyped-def]
        for k, (at, cam, back_s, length_s) in enumerate(sorted(self.holds)):
            if at > engine.env.now:
                yield engine.env.timeout(at - engine.env.now)
            win = Interval(max(0.0, at - back_s), max(0.0, at - back_s) + length_s)
            now = float(engine.env.now)
            n = engine.catalog.hold(f"h{k}", cam, win, now)
            if win.start_s < now:
                got = engine.catalog.segments(
                    now, camera=cam, window=Interval(win.start_s, min(win.end_s, now))
                )
                assert len(got) == n
                self.held[f"h{k}"] = (cam, win, {s.start_s for s in got})

    def finish(self, engine: CityEngine) -> dict[str, float]:
        return {}

    def plot(self, outcome: SimOutcome, out: Any) -> dict[str, str]:
        return {}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.floats(3_600, 3.5 * 86_400),
            st.integers(0, 149),
            st.floats(600, 1.5 * 86_400),
            st.floats(60, 12 * 3600),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_overwrite_never_deletes_a_held_segment(
    holds: list[tuple[float, int, float, float]],
) -> None:
    sc = one_recorder(0.10, "overwrite_oldest")
    city = generate_city(sc)
    ext = Holds([(at, cam % city.n_cameras, back, length) for at, cam, back, length in holds])
    e = CityEngine(sc, city, extensions=[ext])
    o = e.run()
    assert ext.held
    for _hid, (cam, win, starts) in ext.held.items():
        still = {s.start_s for s in e.catalog.segments(o.end_s, camera=cam, window=win)}
        assert starts <= still  # every segment held is still on disk
    # Held footage takes room, so retention can only be shorter than without holds, and
    # anything dropped was dropped because only held footage was left to delete.
    m = sim_metrics(o)
    rate = city.cam_effective_mbps.sum() * 1e6 / 8
    assert m["retention_achieved_days_min"] <= (float(city.rec_disk_bytes[0]) / rate) / 86_400
    if o.dropped.sum():
        assert o.dropped.sum() == o.dropped[DISK_FULL].sum()


# --------------------------------------------------------------------------- drives
def raid_scenario(raid: str, fail_h: list[float], count: int = 8, spares: int = 0) -> Scenario:
    pool = {
        "name": "c",
        "districts": "*",
        "recorders": 2,
        "ingest_mbps": 10_000,
        "max_streams": 1000,
        "drives": {
            "size_tb": 10,
            "count": count,
            "raid": raid,
            "hot_spares": spares,
            "rebuild_h": 24,
        },
    }
    faults = [
        {"type": "drive_failure", "recorder": "c-r01", "at_s": 86_400 + h * 3600} for h in fail_h
    ]
    return scenario(
        **{
            "recorders.pools": [pool],
            "faults": faults,
            "simulation.days": 3,
            "recording.retention_days": 30,
        }
    )


def lost(sc: Scenario) -> dict[str, float]:
    return sim_metrics(run(sc)[1])


def test_raid_usable_capacity_is_not_raw() -> None:
    for raid, usable in (("jbod", 80), ("raid5", 70), ("raid6", 60), ("raid10", 40)):
        sc = raid_scenario(raid, [])
        assert sc.recorders.pools[0].usable_tb == usable
        city = generate_city(sc)
        assert city.rec_disk_bytes.tolist() == [usable * 1e12] * 2
    m = lost(raid_scenario("raid6", [], count=9, spares=1))
    assert m["disk_total_tb"] == 120 and m["disk_raw_tb"] == 180 and m["drives_total"] == 18


def test_raid6_survives_failures_under_rebuild_up_to_its_parity_and_loses_past_it() -> None:
    one = lost(raid_scenario("raid6", [0]))
    assert one["drive_failures"] == 1 and one["segments_lost_disk"] == 0
    assert one["camera_minutes_lost"] == 0
    two = lost(raid_scenario("raid6", [0, 2]))  # a second inside the first's 24 h rebuild
    assert two["segments_lost_disk"] == 0
    # A third while both rebuild: more failed drives than RAID 6's two parities.
    three = lost(raid_scenario("raid6", [0, 2, 4]))
    assert three["segments_lost_disk"] > 0 and three["camera_minutes_lost_disk"] > 0
    # Three failures spread out, each onto the hot spare after the last rebuild: nothing lost.
    apart = lost(raid_scenario("raid6", [0, 25, 47], count=9, spares=1))
    assert apart["segments_lost_disk"] == 0 and apart["drive_failures"] == 3


def test_raid5_loses_on_a_second_failure_during_rebuild_and_jbod_on_the_first() -> None:
    assert lost(raid_scenario("raid5", [0]))["segments_lost_disk"] == 0
    two = lost(raid_scenario("raid5", [0, 2]))
    # The whole array of c-r01: every segment it held at the second failure.
    on = run(raid_scenario("raid5", []))[1].cam_recorder == 0  # c-r01's cameras
    assert two["segments_lost_disk"] == int(on.sum()) * (86_400 + 2 * 3600) // 60
    jb = lost(raid_scenario("jbod", [0]))
    # One of 8 JBOD drives, being written: the newest eighth of a day's footage.
    assert jb["segments_lost_disk"] == pytest.approx(int(on.sum()) * 1440 / 8, rel=0.02)


# --------------------------------------------------------------------------- priority
def crash_short_of_standby(prio: list[dict[str, Any]] | None) -> Scenario:
    """Three recorders of ~50 cameras with room for 60 each: when r01 crashes for 4 h the
    other two can take only ~20 of its cameras."""
    pool = {
        "name": "c",
        "districts": "*",
        "recorders": 3,
        "ingest_mbps": 10_000,
        "disk_tb": 1000,
        "max_streams": 60,
    }
    fo: dict[str, Any] = {
        "heartbeat": {"interval_s": 5, "missed_beats": 3},
        "reassign_s": 30,
        "standby": {"type": "spread"},
    }
    if prio is not None:
        fo["priority"] = prio
    return scenario(
        **{
            "recorders.pools": [pool],
            "simulation.days": 1,
            "failover": fo,
            "faults": [
                {
                    "type": "recorder_crash",
                    "recorder": "c-r01",
                    "at_s": 3600,
                    "duration_s": 4 * 3600,
                }
            ],
        }
    )


def test_failover_places_higher_priority_first_when_standby_is_short() -> None:
    gov = [{"priority": "high", "site_kinds": ["government_building"]}]
    e, o = run(crash_short_of_standby(gov))
    city = o.city
    high = city.set_site_kind[city.cam_set] == 2
    home = e.faults.ctrl.home[: e.n_cams] == 0  # r01's cameras
    assert (home & high).sum() >= 5 and (home & ~high).sum() > 25
    lost = o.lost_s
    # Every high camera of r01 found room: it lost only detection and reassignment.
    assert lost[home & high].max() <= 60
    assert (lost[home & ~high] > 3600).sum() >= (home & ~high).sum() - 20
    m = sim_metrics(o)
    assert m["camera_minutes_lost_high"] * 60 == pytest.approx(lost[high].sum(), rel=1e-9)
    assert m["camera_minutes_lost_high"] < m["camera_minutes_lost_normal"] / 10
    # Without priorities the high cameras take their turn in camera order and lose more.
    e0, o0 = run(crash_short_of_standby(None))
    assert o0.lost_s[home & high].sum() > 10 * lost[home & high].sum()
    assert "camera_minutes_lost_high" not in sim_metrics(o0)


def test_priority_none_is_never_moved() -> None:
    e, o = run(crash_short_of_standby([{"priority": "none", "districts": ["Wan Chai"]}]))
    home = e.faults.ctrl.home[: e.n_cams] == 0
    wc = o.city.cam_district == 1
    assert (home & wc).any()
    # They wait the whole 4 h outage for their recorder.
    assert o.lost_s[home & wc].min() >= 4 * 3600 - 60


# --------------------------------------------------------------------------- backfill
def backhaul_cut(backfill: dict[str, Any] | None) -> Scenario:
    prof: dict[str, Any] = {"name": "p", "bitrate_mbps": 4.0}
    if backfill is not None:
        prof["backfill"] = backfill
    return scenario(
        **{
            "camera_profiles": [prof],
            "simulation.days": 1,
            "faults": [
                {
                    "type": "backhaul_cut",
                    "district": "Wan Chai",
                    "at_s": 3600,
                    "duration_s": 2 * 3600,
                }
            ],
        }
    )


def test_backfill_recovers_the_cards_footage_and_its_upload_raises_the_backhaul_peak() -> None:
    _e0, off = run(backhaul_cut(None))
    e, on = run(backhaul_cut({"edge_hours": 1, "link_mbps": 20, "share": 0.5}))
    m0, m = sim_metrics(off), sim_metrics(on)
    wc = on.city.cam_district == 1
    n = int(wc.sum())
    assert n > 30
    # Hand figures: each Wan Chai camera's card holds the last hour of its 2 h gap: 60
    # segments; 4 Mbps for 3,600 s is 1.8 GB, uploaded at 10 Mbps in 1,440 s, all at once.
    assert m["camera_minutes_backfilled"] == n * 60
    assert m["backfill_tb"] == pytest.approx(n * 4e6 / 8 * 3600 / 1e12, rel=1e-9)
    assert m0["camera_minutes_lost"] - m["camera_minutes_lost"] == pytest.approx(n * 60, abs=1e-6)
    base = float(on.city.cam_mbps[wc].sum())
    assert m["backfill_backhaul_mbps_max"] == pytest.approx(base + n * 10.0, rel=1e-9)
    # The footage is on disk: written = deleted + stored still holds, with n x 60 more.
    assert on.written_segments == off.written_segments + n * 60
    assert on.written_segments == on.deleted_segments + on.stored_segments_end
    assert on.stored_bytes_end.sum() - off.stored_bytes_end.sum() == pytest.approx(
        n * 4e6 / 8 * 3600, rel=1e-9
    )


def test_a_power_cut_leaves_nothing_on_the_card_to_backfill() -> None:
    sc = scenario(
        **{
            "camera_profiles": [{"name": "p", "bitrate_mbps": 4.0, "backfill": {"edge_hours": 4}}],
            "simulation.days": 1,
            "faults": [
                {"type": "district_power", "district": "Wan Chai", "at_s": 3600, "duration_s": 3600}
            ],
        }
    )
    m = sim_metrics(run(sc)[1])
    assert m["camera_minutes_backfilled"] == 0 and m["camera_minutes_lost"] > 0
