"""Evidence preservation: planning against the catalog, manifests, and the locker's life cycle."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.core.audit import AuditKind, AuditTrail, verify
from twin.core.cases import CASE_TRANSITIONS, CaseEvent, CaseState
from twin.core.evidence import HOLD_PREFIX, EvidenceLocker
from twin.core.manifest import ManifestCheck, build_manifest, verify_manifest
from twin.core.preservation import (
    CameraCoverage,
    PreservationRequest,
    merge_intervals,
    plan_preservation,
)
from twin.core.types import Interval, SegmentRef
from twin.errors import CatalogError, EvidenceError

Iv = Interval


def seg(camera: str, start: float, end: float, size: int = 100, sha: str = "") -> SegmentRef:
    return SegmentRef(camera, float(start), float(end), size, f"{camera}/{start:g}", "rec-1", sha)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def copies_of(
    segments: tuple[SegmentRef, ...] | list[SegmentRef],
) -> list[tuple[SegmentRef, str, str]]:
    return [(s, sha(s.key), f"ev/{s.key}") for s in segments]


REQUEST = PreservationRequest(
    "case-7", ("cam-b", "cam-a", "cam-c"), Iv(100.0, 400.0), 5000.0, "insp-3"
)
CATALOG = [
    seg("cam-a", 40, 100, 10),  # ends where the window starts: not needed
    seg("cam-a", 90, 160, 20),  # straddles the start
    seg("cam-a", 150, 220, 30),  # overlaps the one before
    seg("cam-a", 300, 360, 40),  # after a gap 220..300
    seg("cam-b", 380, 460, 50),  # straddles the end
    seg("cam-b", 400, 460, 60),  # starts where the window ends: not needed
    seg("cam-z", 100, 400, 70),  # a camera nobody asked for
]


# -- planning --------------------------------------------------------------------------------


def test_a_plan_names_what_to_copy_and_exactly_what_is_gone() -> None:
    plan = plan_preservation(REQUEST, reversed(CATALOG))
    assert [s.key for s in plan.segments] == ["cam-a/90", "cam-a/150", "cam-a/300", "cam-b/380"]
    assert plan.coverage == (
        CameraCoverage(
            "cam-a", (Iv(100.0, 220.0), Iv(300.0, 360.0)), (Iv(220.0, 300.0), Iv(360.0, 400.0))
        ),
        CameraCoverage("cam-b", (Iv(380.0, 400.0),), (Iv(100.0, 380.0),)),
        CameraCoverage("cam-c", (), (Iv(100.0, 400.0),)),
    )
    assert plan.missing() == (
        ("cam-a", Iv(220.0, 300.0)),
        ("cam-a", Iv(360.0, 400.0)),
        ("cam-b", Iv(100.0, 380.0)),
        ("cam-c", Iv(100.0, 400.0)),
    )
    assert (plan.requested_s, plan.available_s, plan.lost_s) == (900.0, 200.0, 700.0)
    assert plan.bytes_to_copy == 20 + 30 + 40 + 50  # whole segments, never trimmed
    assert not plan.complete


def test_a_fully_recorded_window_is_complete() -> None:
    request = PreservationRequest("c", ("cam-a",), Iv(0.0, 120.0), 200.0, "insp-3")
    plan = plan_preservation(request, [seg("cam-a", 0, 60), seg("cam-a", 60, 120)])
    assert plan.complete and plan.missing() == () and plan.lost_s == 0.0


def test_the_catalog_must_not_contradict_itself() -> None:
    with pytest.raises(
        CatalogError, match=r"segment key 'cam-a/90' was handed over twice for case 'case-7'"
    ):
        plan_preservation(REQUEST, [CATALOG[1], CATALOG[1]])
    with pytest.raises(
        CatalogError, match=r"segment 'cam-a/300' ends at 200\.0, before its start 300\.0"
    ):
        plan_preservation(REQUEST, [SegmentRef("cam-a", 300.0, 200.0, 1, "cam-a/300")])


def test_a_request_is_checked_when_made() -> None:
    with pytest.raises(
        ValueError, match=r"ends after the request at 350\.0: footage not yet recorded"
    ):
        PreservationRequest("c", ("cam-a",), Iv(100.0, 400.0), 350.0, "insp-3")
    with pytest.raises(ValueError, match=r"for case 'c' names no cameras"):
        PreservationRequest("c", (), Iv(100.0, 400.0), 500.0, "insp-3")
    with pytest.raises(ValueError, match=r"window .* for case 'c' is empty"):
        PreservationRequest("c", ("cam-a",), Iv(100.0, 100.0), 500.0, "insp-3")
    assert REQUEST.cameras == ("cam-a", "cam-b", "cam-c")


def test_merge_intervals_joins_overlapping_and_touching_spans() -> None:
    assert merge_intervals(
        [Iv(5, 6), Iv(0, 2), Iv(2, 3), Iv(1, 1.5), Iv(4, 4), Iv(7, 9), Iv(8, 10)]
    ) == (Iv(0, 3), Iv(5, 6), Iv(7, 10))


# -- manifests -------------------------------------------------------------------------------


def test_a_manifest_is_deterministic_and_sealed() -> None:
    plan = plan_preservation(REQUEST, CATALOG)
    copies = copies_of(plan.segments)
    manifest = build_manifest("case-7", copies, missing=plan.missing())
    assert build_manifest("case-7", reversed(copies), missing=reversed(plan.missing())) == manifest
    assert json.loads(json.dumps(manifest)) == manifest
    assert [f["source_key"] for f in manifest["files"]] == [s.key for s in plan.segments]
    assert manifest["files"][0] == {
        "camera": "cam-a",
        "start_s": 90.0,
        "end_s": 160.0,
        "bytes": 20,
        "source_key": "cam-a/90",
        "recorder": "rec-1",
        "sha256": sha("cam-a/90"),
        "evidence_key": "ev/cam-a/90",
    }
    assert (
        manifest["format"],
        manifest["case_id"],
        manifest["file_count"],
        manifest["total_bytes"],
    ) == ("cctv-twin/evidence-manifest/1", "case-7", 4, 140)
    assert manifest["missing"][0] == {"camera": "cam-a", "start_s": 220.0, "end_s": 300.0}
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert manifest["manifest_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_a_manifest_refuses_bad_or_corrupt_copies() -> None:
    s = seg("cam-a", 0, 60, sha=sha("original"))
    with pytest.raises(EvidenceError, match=r"has sha256 'ABC': expected 64 lowercase hex digits"):
        build_manifest("c", [(s, "ABC", "ev/1")])
    with pytest.raises(
        EvidenceError,
        match=r"copy 'ev/1' of segment 'cam-a/0' for case 'c' hashes to .* the copy is corrupt",
    ):
        build_manifest("c", [(s, sha("garbled"), "ev/1")])
    with pytest.raises(EvidenceError, match=r"evidence key 'ev/1' appears twice"):
        build_manifest(
            "c", [(s, sha("original"), "ev/1"), (seg("cam-a", 60, 120), sha("x"), "ev/1")]
        )


def test_verify_manifest_reports_missing_mismatched_and_unexpected_files() -> None:
    manifest = build_manifest("case-7", copies_of(plan_preservation(REQUEST, CATALOG).segments))
    stored = {f"ev/{k}": sha(k) for k in ("cam-a/90", "cam-a/150", "cam-a/300", "cam-b/380")}
    assert verify_manifest(manifest, stored) == ManifestCheck(True, (), (), ())
    assert verify_manifest(manifest, stored).ok

    damaged = dict(stored)
    del damaged["ev/cam-a/150"]
    damaged["ev/cam-b/380"] = sha("tampered")
    damaged["ev/stray"] = sha("stray")
    check = verify_manifest(manifest, damaged)
    assert check == ManifestCheck(
        True,
        ("ev/cam-a/150",),
        (("ev/cam-b/380", sha("cam-b/380"), sha("tampered")),),
        ("ev/stray",),
    )
    assert not check.ok

    edited = json.loads(json.dumps(manifest))
    edited["files"][0]["sha256"] = sha("tampered")
    check = verify_manifest(edited, {**stored, "ev/cam-a/90": sha("tampered")})
    assert not check.manifest_intact and not check.ok and check.mismatched == ()
    with pytest.raises(EvidenceError, match=r"not an evidence manifest: expected format"):
        verify_manifest({"files": []}, {})


# -- the locker ------------------------------------------------------------------------------


def test_the_case_table_is_the_whole_state_machine() -> None:
    S, E = CaseState, CaseEvent
    assert dict(CASE_TRANSITIONS) == {
        (S.OPEN, E.COPY): S.OPEN,
        (S.OPEN, E.COMPLETE): S.PRESERVED,
        (S.OPEN, E.RELEASE): S.RELEASED,
        (S.PRESERVED, E.RELEASE): S.RELEASED,
        (S.RELEASED, E.PURGE): S.PURGED,
    }


def test_a_case_from_hold_to_purge() -> None:
    trail = AuditTrail()
    locker = EvidenceLocker(trail)
    plan = plan_preservation(REQUEST, CATALOG)
    a90, a150, a300, b380 = plan.segments

    case = locker.open_case(plan, 5000.0)
    assert case.state is CaseState.OPEN and case.pending == plan.segments
    assert locker.holds() == (
        ("cam-a", Iv(90.0, 220.0)),
        ("cam-a", Iv(300.0, 360.0)),
        ("cam-b", Iv(380.0, 460.0)),
    )

    locker.mark_copied("case-7", copies_of([a150, b380]), 5060.0, actor="copier")
    assert locker.holds() == (("cam-a", Iv(90.0, 160.0)), ("cam-a", Iv(300.0, 360.0)))
    assert locker.bytes_held() == 80

    case = locker.mark_copied("case-7", copies_of([a90, a300, b380]), 5120.0, actor="copier")
    assert case.state is CaseState.PRESERVED and case.pending == () and locker.holds() == ()
    assert case.manifest == build_manifest(
        "case-7", copies_of(plan.segments), missing=plan.missing()
    )
    assert [c.copied_at_s for c in case.copies] == [5120.0, 5060.0, 5120.0, 5060.0]

    assert locker.release("case-7", 9000.0, actor="cip-1", reason="case closed") == (
        "ev/cam-a/150",
        "ev/cam-a/300",
        "ev/cam-a/90",
        "ev/cam-b/380",
    )
    case = locker.mark_purged("case-7", 9100.0, actor="sweeper")
    assert (case.state, case.bytes_held, case.closed_at_s) == (CaseState.PURGED, 0, 9000.0)
    assert locker.bytes_held_series() == ((5060.0, 80), (5120.0, 140), (9100.0, 0))

    assert [(e.at_s, e.kind.value, e.actor, e.subject) for e in trail.entries] == [
        (5000.0, "preservation", "insp-3", "case-7"),
        (5060.0, "copy", "copier", "case-7"),
        (5120.0, "copy", "copier", "case-7"),
        (5120.0, "copy", "copier", "case-7"),
        (9000.0, "release", "cip-1", "case-7"),
        (9100.0, "deletion", "sweeper", "case-7"),
    ]
    opened, first, second, done, released, purged = (e.details for e in trail.entries)
    assert opened == {
        "cameras": ["cam-a", "cam-b", "cam-c"],
        "window": [100.0, 400.0],
        "requested_at_s": 5000.0,
        "segments": 4,
        "bytes_to_copy": 140,
        "requested_s": 900.0,
        "available_s": 200.0,
        "lost_s": 700.0,
        "missing": [
            ["cam-a", 220.0, 300.0],
            ["cam-a", 360.0, 400.0],
            ["cam-b", 100.0, 380.0],
            ["cam-c", 100.0, 400.0],
        ],
    }
    assert (first["count"], first["bytes"], first["pending"], first["repeats"]) == (2, 80, 2, 0)
    assert (second["count"], second["pending"], second["repeats"]) == (2, 0, 1)
    assert done == {
        "complete": True,
        "manifest_sha256": case.manifest["manifest_sha256"],  # type: ignore[index]
        "file_count": 4,
        "total_bytes": 140,
        "lost_s": 700.0,
    }
    assert released == {"reason": "case closed", "copies": 4, "bytes": 140, "pending_abandoned": 0}
    assert (purged["what"], purged["count"], purged["bytes"]) == ("evidence copies", 4, 140)
    assert verify(trail.entries) == 6


def test_a_copy_is_checked_before_anything_changes() -> None:
    locker = EvidenceLocker(AuditTrail())
    plan = plan_preservation(REQUEST, CATALOG)
    locker.open_case(plan, 5000.0)
    good = copies_of(plan.segments[:1])
    stranger = copies_of([CATALOG[0]])
    with pytest.raises(
        EvidenceError, match=r"segment 'cam-a/40' is not in the plan of case 'case-7'"
    ):
        locker.mark_copied("case-7", good + stranger, 5010.0, actor="copier")
    with pytest.raises(EvidenceError, match=r"evidence key 'ev/x' is already used"):
        locker.mark_copied(
            "case-7",
            [(plan.segments[0], sha("1"), "ev/x"), (plan.segments[1], sha("2"), "ev/x")],
            5010.0,
            actor="copier",
        )
    assert locker.case("case-7").copies == () and locker.bytes_held() == 0  # nothing half-done
    locker.mark_copied("case-7", good, 5020.0, actor="copier")
    with pytest.raises(
        EvidenceError, match=r"'cam-a/90' of case 'case-7' was already copied to 'ev/cam-a/90'"
    ):
        locker.mark_copied(
            "case-7", [(plan.segments[0], sha("other"), "ev/other")], 5030.0, actor="copier"
        )

    other = PreservationRequest("case-8", ("cam-a",), Iv(100.0, 200.0), 5000.0, "insp-3")
    locker.open_case(plan_preservation(other, CATALOG), 5040.0)
    with pytest.raises(
        EvidenceError, match=r"evidence key 'ev/cam-a/90' is already used \(by case 'case-7'\)"
    ):
        locker.mark_copied("case-8", good, 5050.0, actor="copier")
    with pytest.raises(
        EvidenceError, match=r"evidence case 'case-7' is already open \(state open\)"
    ):
        locker.open_case(plan, 5060.0)
    with pytest.raises(EvidenceError, match=r"there is no evidence case 'case-9'"):
        locker.release("case-9", 5060.0, actor="x", reason="y")


def test_corrupt_copies_are_refused_when_the_source_hash_is_known() -> None:
    request = PreservationRequest("c", ("cam-a",), Iv(0.0, 60.0), 100.0, "insp-3")
    source = seg("cam-a", 0, 60, sha=sha("bytes"))
    locker = EvidenceLocker(AuditTrail())
    locker.open_case(plan_preservation(request, [source]), 100.0)
    with pytest.raises(EvidenceError, match=r"the copy is corrupt; copy the segment again"):
        locker.mark_copied("c", [(source, sha("garbled"), "ev/1")], 110.0, actor="copier")
    assert locker.holds() == (("cam-a", Iv(0.0, 60.0)),)
    assert (
        locker.mark_copied("c", [(source, sha("bytes"), "ev/1")], 120.0, actor="copier").state
        is CaseState.PRESERVED
    )


def test_releasing_an_open_case_drops_its_holds_and_returns_the_copies_made() -> None:
    trail = AuditTrail()
    locker = EvidenceLocker(trail)
    plan = plan_preservation(REQUEST, CATALOG)
    locker.open_case(plan, 5000.0)
    locker.mark_copied("case-7", copies_of(plan.segments[:1]), 5010.0, actor="copier")
    assert locker.release("case-7", 5020.0, actor="cip-1", reason="no further action") == (
        "ev/cam-a/90",
    )
    assert locker.holds() == ()
    assert trail.entries[-1].details["pending_abandoned"] == 3
    with pytest.raises(
        EvidenceError,
        match=r"'case-7' is released, so it cannot copy: allowed from released: \['purge'\]",
    ):
        locker.mark_copied("case-7", copies_of(plan.segments[1:2]), 5030.0, actor="copier")
    with pytest.raises(EvidenceError, match=r"'case-7' is released, so it cannot release"):
        locker.release("case-7", 5040.0, actor="cip-1", reason="again")
    locker.mark_purged("case-7", 5050.0, actor="sweeper")
    with pytest.raises(
        EvidenceError, match=r"'case-7' is purged, so it cannot purge: allowed from purged: nothing"
    ):
        locker.mark_purged("case-7", 5060.0, actor="sweeper")


def test_a_request_for_footage_already_deleted_is_answered_at_once() -> None:
    trail = AuditTrail()
    locker = EvidenceLocker(trail)
    request = PreservationRequest("c", ("cam-a",), Iv(0.0, 60.0), 3_000_000.0, "insp-3")
    case = locker.open_case(plan_preservation(request, []), 3_000_000.0)
    assert case.state is CaseState.PRESERVED
    assert case.manifest is not None
    assert (case.manifest["files"], case.manifest["missing"]) == (
        [],
        [{"camera": "cam-a", "start_s": 0.0, "end_s": 60.0}],
    )
    assert [e.kind for e in trail.entries] == [AuditKind.PRESERVATION, AuditKind.COPY]
    assert locker.release("c", 3_000_100.0, actor="cip-1", reason="closed") == ()
    locker.mark_purged("c", 3_000_200.0, actor="sweeper")
    assert locker.bytes_held_series() == ()


def test_hold_changes_reconcile_the_catalog_by_id() -> None:
    locker = EvidenceLocker(AuditTrail())
    plan = plan_preservation(REQUEST, CATALOG)
    locker.open_case(plan, 5000.0)
    wanted = locker.holds_by_id()
    assert list(wanted.values()) == [
        ("cam-a", Iv(90.0, 220.0)),
        ("cam-a", Iv(300.0, 360.0)),
        ("cam-b", Iv(380.0, 460.0)),
    ]
    assert next(iter(wanted)) == HOLD_PREFIX + '["case-7","cam-a",90.0,220.0]'
    catalog = {"retention-test": ("cam-z", Iv(0.0, 1.0))}  # someone else's hold: left alone
    place, release = locker.hold_changes(catalog)
    assert (place, release) == (tuple((h, c, i) for h, (c, i) in wanted.items()), ())
    catalog.update({h: ci for h, ci in wanted.items()})

    locker.mark_copied("case-7", copies_of(plan.segments[:1]), 5010.0, actor="copier")
    place, release = locker.hold_changes(catalog)
    assert place == ((HOLD_PREFIX + '["case-7","cam-a",150.0,220.0]', "cam-a", Iv(150.0, 220.0)),)
    assert release == (HOLD_PREFIX + '["case-7","cam-a",90.0,220.0]',)


# -- property: covered + missing partition the window ----------------------------------------

# Endpoints on a 1/4 grid keep every midpoint exact, so coverage can be checked cell by cell.
grid = st.integers(0, 80).map(lambda k: k / 4)


@st.composite
def catalogs(draw: st.DrawFn) -> tuple[PreservationRequest, list[SegmentRef]]:
    t0 = draw(grid)
    t1 = draw(grid.filter(lambda t: t > t0))
    cameras = draw(
        st.lists(st.sampled_from(["c1", "c2", "c3"]), min_size=1, max_size=3, unique=True)
    )
    segments = []
    for i in range(draw(st.integers(0, 14))):
        a, b = sorted((draw(grid), draw(grid)))  # may be empty, may overlap, may leave gaps
        segments.append(
            SegmentRef(
                draw(st.sampled_from(["c1", "c2", "c3", "c9"])),
                a,
                b,
                draw(st.integers(0, 99)),
                f"k{i}",
            )
        )
    return PreservationRequest("p", tuple(cameras), Iv(t0, t1), 100.0, "insp"), segments


@settings(max_examples=200, deadline=None)
@given(catalogs())
def test_covered_and_missing_partition_the_window_exactly(case: tuple) -> None:
    request, segments = case
    plan = plan_preservation(request, segments)
    t0, t1 = request.window.start_s, request.window.end_s
    assert [c.camera for c in plan.coverage] == sorted(request.cameras)
    for cov in plan.coverage:
        # Together, in order, with no overlap and no gap: exactly [t0, t1).
        pieces = sorted(
            [(i, True) for i in cov.covered] + [(i, False) for i in cov.missing],
            key=lambda p: p[0].start_s,
        )
        assert pieces[0][0].start_s == t0 and pieces[-1][0].end_s == t1
        for (a, a_cov), (b, b_cov) in zip(pieces, pieces[1:]):
            assert a.end_s == b.start_s  # contiguous
            assert a_cov != b_cov  # merged: two covered (or two missing) pieces never touch
        assert all(p.duration_s > 0 for p, _ in pieces)
        # Covered means "some segment of this camera spans it", cell by cell.
        mine = [s for s in segments if s.camera == cov.camera]
        cells = sorted({t0, t1} | {x for s in mine for x in (s.start_s, s.end_s) if t0 < x < t1})
        for lo, hi in zip(cells, cells[1:]):
            mid = (lo + hi) / 2
            recorded = any(s.start_s <= mid < s.end_s for s in mine)
            assert recorded == any(i.start_s <= mid < i.end_s for i in cov.covered)
            assert recorded != any(i.start_s <= mid < i.end_s for i in cov.missing)
        assert Fraction(cov.available_s) + Fraction(cov.lost_s) == Fraction(t1) - Fraction(t0)
    # Exactly the segments that overlap the window by a positive length, sorted.
    expected = sorted(
        (
            s
            for s in segments
            if s.camera in request.cameras and max(s.start_s, t0) < min(s.end_s, t1)
        ),
        key=lambda s: (s.camera, s.start_s, s.end_s, s.key),
    )
    assert list(plan.segments) == expected
    assert plan.bytes_to_copy == sum(s.bytes for s in expected)
    assert plan.available_s + plan.lost_s == plan.requested_s


@settings(max_examples=100, deadline=None)
@given(catalogs())
def test_the_locker_holds_every_pending_segment_until_copied(case: tuple) -> None:
    request, segments = case
    plan = plan_preservation(request, segments)
    locker = EvidenceLocker(AuditTrail())
    locker.open_case(plan, 100.0)
    for i, s in enumerate(plan.segments):
        held = locker.holds()
        for pending in plan.segments[i:]:  # still pending: held
            assert any(
                c == pending.camera and iv.start_s <= pending.start_s and pending.end_s <= iv.end_s
                for c, iv in held
            )
        locker.mark_copied("p", copies_of([s]), 100.0 + i, actor="copier")
    assert locker.holds() == ()
    assert locker.case("p").state is CaseState.PRESERVED
    assert locker.bytes_held() == plan.bytes_to_copy


def test_a_step_the_trail_refuses_leaves_the_locker_unchanged() -> None:
    trail = AuditTrail()
    locker = EvidenceLocker(trail)
    plan = plan_preservation(REQUEST, CATALOG)
    locker.open_case(plan, 5000.0)
    trail.append(6000.0, AuditKind.VIEW, "someone", "other")  # the trail has moved on
    with pytest.raises(ValueError, match=r"before the last entry's \(6000\.0\)"):
        locker.mark_copied("case-7", copies_of(plan.segments), 5500.0, actor="copier")
    case = locker.case("case-7")
    assert (case.state, case.copies, len(locker.holds()), locker.bytes_held()) == (
        CaseState.OPEN,
        (),
        3,
        0,
    )
    with pytest.raises(ValueError, match=r"before the last entry's"):
        locker.release("case-7", 5500.0, actor="cip-1", reason="closed")
    assert locker.case("case-7").state is CaseState.OPEN
