"""The evidence extension on small cities: holds against retention, lost footage, access by rank."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import scenario
from twin.core.access import AccessRequest, Action, Officer
from twin.core.audit import AuditKind
from twin.core.types import Interval
from twin.model.city import generate_city
from twin.sim.engine import CityEngine
from twin.sim.evidence import ANCHOR_EVENT, EvidenceExtension
from twin.sim.extensions import extensions_for

H = 3600.0
DAY = 86_400.0
RANKS = [
    "Police Constable",
    "Sergeant",
    "Station Sergeant",
    "Inspector",
    "Senior Inspector",
    "Chief Inspector",
    "Superintendent",
]


def evidence(incidents: float = 0.0, requests: float = 0.0, **preservation) -> dict:
    return {
        "preservation": {
            "incidents_per_camera_day": incidents,
            "request_delay": {"type": "lognormal", "median_h": 48, "p90_h": 500},
            "copy_time_s": 3600,
            "case_days": 20,
            **preservation,
        },
        "access": {
            "requests_per_camera_day": requests,
            "ranks": RANKS,
            "view_min_rank": "Inspector",
            "export_min_rank": "Chief Inspector",
            "requester_ranks": {"Police Constable": 1, "Sergeant": 1},
            "view_approver_ranks": {"Station Sergeant": 1, "Inspector": 3},
            "export_approver_ranks": {"Senior Inspector": 1, "Chief Inspector": 3},
            "approval_delay": {"type": "lognormal", "median_h": 4, "p90_h": 48},
        },
    }


def tiny(days: float = 4, retention_days: float = 1, **ev) -> object:
    """Two sets (4-6 cameras), one recorder, 60 s segments, hourly sweeps, evidence on."""
    return scenario(
        **{
            "city.districts": [{"name": "Yau Tsim Mong", "sets": 2, "backhaul_mbps": 10_000}],
            "recorders.pools": [
                {
                    "name": "c",
                    "districts": "*",
                    "recorders": 1,
                    "ingest_mbps": 1000,
                    "disk_tb": 100,
                    "max_streams": 100,
                }
            ],
            "recording.retention_days": retention_days,
            "simulation.days": days,
            "evidence": evidence(**ev),
        }
    )


class Probe:
    """An extension that runs test callbacks at fixed times (off the 60 s grid, so never at
    the same instant as a sweep or a tick)."""

    name = "probe"

    def __init__(self, at: list[tuple[float, Callable[[CityEngine], None]]]) -> None:
        self.at = sorted(at, key=lambda x: x[0])

    def attach(self, engine: CityEngine) -> None:
        def run():
            for t, fn in self.at:
                yield engine.env.timeout(t - engine.env.now)
                fn(engine)

        engine.env.process(run())

    def finish(self, engine: CityEngine) -> dict[str, float]:
        return {}

    def plot(self, outcome, out) -> dict[str, str]:
        return {}


def ev_of(run) -> EvidenceExtension:
    """The evidence extension of an engine or outcome (the engine may add its own first)."""
    return next(e for e in run.extensions if isinstance(e, EvidenceExtension))


def run_with(sc, probes: list[tuple[float, Callable[[CityEngine], None]]]):
    exts = extensions_for(sc)
    ext = exts[0]
    assert isinstance(ext, EvidenceExtension)
    o = CityEngine(sc, generate_city(sc), extensions=[*exts, Probe(probes)]).run()
    return ext, o


def on_disk(engine: CityEngine, cam: int, window: Interval) -> list[tuple[float, float]]:
    now = float(engine.env.now)
    return [(s.start_s, s.end_s) for s in engine.catalog.segments(now, camera=cam, window=window)]


def test_request_after_retention_reports_exactly_the_lost_seconds():
    # 1-day retention, hourly sweeps: at 26.5 h the 26 h sweep has deleted every segment
    # ending at or before 2 h. A window [6000, 9000) has lost [6000, 7200): 1,200 s.
    sc = tiny(copy_time_s=600)
    seen = {}

    def ask(engine):
        ext = ev_of(engine)
        cam = engine.catalog.camera_names[0]
        seen["case"] = ext.preserve([cam], Interval(6000.0, 9000.0))
        seen["left"] = on_disk(engine, 0, Interval(6000.0, 9000.0))

    ext, o = run_with(sc, [(26.5 * H + 7, ask)])
    case = ext.locker.case(seen["case"])
    assert case.plan.lost_s == 1200.0
    assert case.plan.missing() == ((case.plan.request.cameras[0], Interval(6000.0, 7200.0)),)
    assert seen["left"][0] == (7200.0, 7260.0) and len(seen["left"]) == 30
    assert ext.cases[0].lost_retention_s == 1200.0 and ext.cases[0].lost_other_s == 0.0
    m = o.extra_metrics
    assert m["evidence_lost_to_retention_s"] == 1200.0
    assert m["evidence_lost_to_retention_pct"] == pytest.approx(100 * 1200 / 3000)
    assert case.manifest["missing"] == [
        {"camera": case.plan.request.cameras[0], "start_s": 6000.0, "end_s": 7200.0}
    ]


def test_held_footage_outlives_retention_until_copied_then_is_swept():
    # Copy takes 2 days: the window's segments are held past the 1-day retention, while the
    # same camera's footage just after the window is swept as usual.
    sc = tiny(copy_time_s=2 * DAY, case_days=10)
    window, after = Interval(0.0, 1800.0), Interval(1800.0, 3600.0)
    snaps: dict[str, list] = {}

    def ask(engine):
        ev_of(engine).preserve([engine.catalog.camera_names[0]], window)

    def look(tag):
        def fn(engine):
            snaps[tag] = on_disk(engine, 0, window)
            snaps[tag + "-after"] = on_disk(engine, 0, after)
            snaps[tag + "-holds"] = sorted(engine.catalog.holds)

        return fn

    ext, _ = run_with(
        sc,
        [
            (3 * H + 7, ask),
            (1.9 * DAY + 7, look("held")),
            (2 * DAY + 3 * H + 13, look("copied")),
            (2 * DAY + 5 * H + 13, look("swept")),
        ],
    )
    held = [(float(t), float(t + 60)) for t in range(0, 1800, 60)]
    assert snaps["held"] == held  # 1.9 days old, never deleted while held
    assert snaps["held-after"] == []  # unheld footage of the same camera is gone
    assert len(snaps["held-holds"]) == 1
    assert snaps["copied-holds"] == []  # the copy completed at 2 d + 3 h: hold lifted
    assert snaps["swept"] == []  # and the next sweep deleted the originals
    case = ext.locker.case(ext.cases[0].case_id)
    assert case.state.value == "preserved" and len(case.copies) == 30
    assert case.manifest["file_count"] == 30 and case.manifest["missing"] == []


def test_a_case_closed_before_its_copy_releases_its_hold_and_the_footage_goes():
    sc = tiny(copy_time_s=5 * DAY, case_days=1.5)
    window = Interval(0.0, 600.0)
    snaps = {}

    def ask(engine):
        ev_of(engine).preserve([engine.catalog.camera_names[1]], window)

    def look(tag):
        def fn(engine):
            snaps[tag] = (on_disk(engine, 1, window), sorted(engine.catalog.holds))

        return fn

    ext, o = run_with(
        sc,
        [
            (H + 7, ask),
            (1.5 * DAY + H - 53, look("open")),
            (1.5 * DAY + H + 7, look("released")),
            (1.5 * DAY + 2 * H + 7, look("swept")),
        ],
    )
    assert len(snaps["open"][0]) == 10 and len(snaps["open"][1]) == 1
    assert snaps["released"][1] == []  # released: nothing held any more
    assert len(snaps["released"][0]) == 10  # still there until the next sweep...
    assert snaps["swept"] == ([], [])  # ...which deletes it
    kinds = [e.kind for e in ext.trail.entries if e.subject != "retention"]
    assert kinds == [AuditKind.PRESERVATION, AuditKind.RELEASE, AuditKind.DELETION]
    assert o.extra_metrics["evidence_cases_released"] == 1
    # Every retention sweep that deleted footage is one DELETION entry with its counts.
    sweeps = [e for e in ext.trail.entries if e.subject == "retention"]
    assert {e.kind for e in sweeps} == {AuditKind.DELETION}
    assert sum(e.details["segments"] for e in sweeps) == o.deleted_segments > 0
    assert all(e.at_s % 3600 == 0 for e in sweeps)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.floats(0, 2.9 * DAY), st.floats(60, 4 * H), st.floats(0, 2 * DAY), st.integers(0, 3)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_lost_seconds_are_the_window_before_the_last_sweeps_cutoff(requests):
    """Hourly sweeps of a 1-day retention delete exactly the segments ending at or before
    (last sweep - 1 day): a request's lost seconds are the part of its window before that."""
    sc = tiny(days=5)
    plans = []
    probes = []
    for w0, length, delay, cam in requests:
        at = w0 + length + 60 + delay + 7.25

        def ask(engine, w0=w0, length=length, cam=cam):
            ext = ev_of(engine)
            cid = ext.preserve([engine.catalog.camera_names[cam]], Interval(w0, w0 + length))
            cut = (engine.env.now // H) * H - DAY
            plans.append((cid, max(0.0, min(cut, w0 + length) - w0)))

        probes.append((at, ask))
    ext, _ = run_with(sc, probes)
    for cid, expected in plans:
        case = ext.locker.case(cid)
        assert case.plan.lost_s == pytest.approx(expected, abs=1e-6)


def test_no_footage_is_served_without_an_approval_and_attempts_are_audited():
    sc = tiny(days=6, retention_days=2, incidents=0.5, requests=2.0)
    results = {}

    def attempt(engine):
        ext = ev_of(engine)
        now = float(engine.env.now)
        cam = engine.catalog.camera_names[0]
        ext.desk.submit(
            AccessRequest(
                "probe-1",
                Officer("pc-1", "Police Constable"),
                "inq-1",
                Action.EXPORT,
                (cam,),
                Interval(0.0, 600.0),
                now,
            )
        )
        results["pending"] = ext.serve("probe-1", Action.EXPORT, "pc-1")
        results["unknown"] = ext.serve("no-such-request", Action.VIEW, "pc-1")
        junior = Officer("ssgt-1", "Station Sergeant")
        with pytest.raises(Exception, match="needs rank 'Chief Inspector' or above"):
            ext.desk.approve("probe-1", junior, now)
        results["after_junior"] = ext.serve("probe-1", Action.EXPORT, "pc-1")
        ext.desk.approve("probe-1", Officer("cip-1", "Chief Inspector"), now)
        results["wrong_officer"] = ext.serve("probe-1", Action.EXPORT, "pc-2")
        results["approved"] = ext.serve("probe-1", Action.EXPORT, "pc-1")
        results["used_up"] = ext.serve("probe-1", Action.EXPORT, "pc-1")

    ext, o = run_with(sc, [(2.5 * DAY + 7, attempt)])
    assert results == {
        "pending": False,
        "unknown": False,
        "after_junior": False,
        "wrong_officer": False,
        "approved": True,
        "used_up": False,
    }
    mine = [e for e in ext.trail.entries if e.subject == "probe-1"]
    assert [e.kind for e in mine] == [
        AuditKind.REQUEST,
        AuditKind.DENIAL,
        AuditKind.DENIAL,
        AuditKind.DENIAL,
        AuditKind.APPROVAL,
        AuditKind.DENIAL,
        AuditKind.EXPORT,
        AuditKind.DENIAL,
    ]
    m = o.extra_metrics
    assert m["unapproved_access"] == 0
    assert m["access_served"] > 0 and m["access_attempts_refused"] > 5
    assert m["access_denied_rank"] > 0 and m["approval_time_s_p95"] >= m["approval_time_s_p50"] > 0
    denials = sum(e.kind is AuditKind.DENIAL for e in ext.trail.entries)
    assert denials >= m["access_attempts_refused"] + m["access_denied_rank"]
    assert m["evidence_requests"] > 0 and m["evidence_copy_missing"] == 0
    assert m["audit_verified"] == 1 and m["audit_entries"] == len(ext.trail)
    anchor = [e for e in o.events if e["kind"] == ANCHOR_EVENT]
    assert anchor == [
        {
            "t_s": o.end_s,
            "kind": ANCHOR_EVENT,
            "count": len(ext.trail),
            "head_hash": ext.trail.head_hash,
            "file": "audit.jsonl",
        }
    ]


def test_evidence_draws_leave_the_city_and_recording_unchanged_and_rerun_identically():
    plain = scenario(**{"simulation.days": 3})
    with_ev = scenario(**{"simulation.days": 3, "evidence": evidence(0.5, 1.0)})
    a = CityEngine(plain, generate_city(plain)).run()
    b = CityEngine(with_ev, generate_city(with_ev), extensions=extensions_for(with_ev)).run()
    c = CityEngine(with_ev, generate_city(with_ev), extensions=extensions_for(with_ev)).run()
    assert (a.city.cam_mbps == b.city.cam_mbps).all()
    assert a.written_segments == b.written_segments
    assert b.extra_metrics == c.extra_metrics
    assert ev_of(b).trail.head_hash == ev_of(c).trail.head_hash


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    view=st.dictionaries(st.sampled_from(RANKS), st.floats(0.1, 5), min_size=1, max_size=4),
    export=st.dictionaries(st.sampled_from(RANKS), st.floats(0.1, 5), min_size=1, max_size=4),
    refuse=st.floats(0, 1),
    expire_h=st.floats(1, 96),
    refer=st.booleans(),
    seed=st.integers(0, 99),
)
def test_whatever_the_ranks_and_delays_nothing_is_served_unapproved(
    view, export, refuse, expire_h, refer, seed
):
    ev = evidence(incidents=0.2, requests=3.0)
    ev["access"].update(
        view_approver_ranks=view,
        export_approver_ranks=export,
        refuse_share=refuse,
        expire_after_h=expire_h,
        refer_up=refer,
    )
    sc = scenario(
        **{
            "seed": seed,
            "city.districts": [{"name": "Yau Tsim Mong", "sets": 2, "backhaul_mbps": 10_000}],
            "recording.retention_days": 1,
            "simulation.days": 3,
            "evidence": ev,
        }
    )
    o = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run()
    m = o.extra_metrics
    ext = ev_of(o)
    assert m["unapproved_access"] == 0 and m["audit_verified"] == 1
    assert m["access_served"] <= m["access_approved"]
    kinds = [e.kind for e in ext.trail.entries]
    assert kinds.count(AuditKind.VIEW) + kinds.count(AuditKind.EXPORT) == m["access_served"]
    assert kinds.count(AuditKind.DENIAL) == (
        m["access_attempts_refused"] + m["access_denied_rank"] + ext.late_decisions
    )
    for e in ext.trail.entries:  # every use was approved by a senior-enough officer
        if e.kind in (AuditKind.VIEW, AuditKind.EXPORT):
            approval = ext.desk.get(e.subject).approval
            assert approval is not None
            assert ext.policy.may_approve(approval.approver.rank, Action(e.kind.value))


def test_delay_tables_draw_what_they_say():
    import numpy as np

    from twin.scenario.evidence import ChoiceDelay, LognormalDelay
    from twin.sim.evidence import draw_delays_s

    rng = np.random.default_rng(1)
    d = draw_delays_s(rng, LognormalDelay(median_h=48, p90_h=504), 200_000) / H
    assert np.median(d) == pytest.approx(48, rel=0.02)
    assert np.percentile(d, 90) == pytest.approx(504, rel=0.03)
    c = draw_delays_s(rng, ChoiceDelay(hours=[1, 10], weights=[3, 1]), 100_000) / H
    assert set(np.unique(c)) == {1.0, 10.0} and (c == 1).mean() == pytest.approx(0.75, abs=0.01)
    with pytest.raises(ValueError, match="p90_h .* must be greater than median_h"):
        LognormalDelay(median_h=5, p90_h=5)
    with pytest.raises(ValueError, match="one weight per delay"):
        ChoiceDelay(hours=[1, 2], weights=[1])


def test_a_disk_lost_under_a_hold_is_found_by_the_copy_and_counted():
    # Copies take 3 days, so holds are outstanding when recorder c-r01's disk fails on day 4:
    # the copier finds those held segments gone, counts them and copies the rest.
    sc = scenario(
        **{
            "city.districts": [{"name": "Yau Tsim Mong", "sets": 4, "backhaul_mbps": 10_000}],
            "recorders.pools": [
                {
                    "name": "c",
                    "districts": "*",
                    "recorders": 2,
                    "ingest_mbps": 1000,
                    "disk_tb": 100,
                    "max_streams": 100,
                }
            ],
            "recording.retention_days": 2,
            "simulation.days": 6,
            "evidence": evidence(incidents=2.0, requests=1.0, copy_time_s=3 * DAY),
            "faults": [
                {"type": "disk_failure", "recorder": "c-r01", "at_s": 4 * DAY, "duration_s": 3600}
            ],
        }
    )
    o = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run()
    m = o.extra_metrics
    assert 0 < m["evidence_copy_missing"] <= m["segments_lost_disk_held"]
    assert m["unapproved_access"] == 0 and m["audit_verified"] == 1
    ext = ev_of(o)
    stuck = [c for c in ext.locker.cases() if c.state.value == "open" and c.copies]
    assert stuck and all(s.recorder == "c-r01" for c in stuck for s in c.pending)
