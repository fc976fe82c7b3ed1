"""Access approval by rank: the request state machine, who may decide, and what a use needs."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from twin.core.access import (
    TRANSITIONS,
    AccessDesk,
    AccessGrant,
    AccessPolicy,
    AccessRequest,
    Action,
    Officer,
    RequestEvent,
    RequestState,
    next_state,
)
from twin.core.audit import AuditKind, AuditTrail, verify
from twin.core.types import Interval
from twin.errors import AccessDenied

RANKS = ("constable", "sergeant", "inspector", "chief_inspector", "superintendent")
POLICY = AccessPolicy(
    ranks=RANKS,
    view_min_rank="inspector",
    export_min_rank="chief_inspector",
    expire_after_s=3600.0,
    valid_for_s=86400.0,
)
PC = Officer("pc-101", "constable")
SGT = Officer("sgt-7", "sergeant")
INSP = Officer("insp-3", "inspector")
CIP = Officer("cip-1", "chief_inspector")
SUPT = Officer("supt-2", "superintendent")
WINDOW = Interval(1000.0, 4600.0)


def make_desk() -> tuple[AccessDesk, AuditTrail]:
    trail = AuditTrail()
    return AccessDesk(POLICY, trail), trail


def request(
    rid: str = "r1", action: Action = Action.VIEW, who: Officer = PC, at: float = 5000.0
) -> AccessRequest:
    return AccessRequest(rid, who, "case-42", action, ("cam-2", "cam-1", "cam-2"), WINDOW, at)


def trace(trail: AuditTrail) -> list[tuple[float, str, str, str]]:
    return [(e.at_s, e.kind.value, e.actor, e.subject) for e in trail.entries]


# -- the table -------------------------------------------------------------------------------


def test_the_transition_table_is_the_whole_state_machine() -> None:
    S, E = RequestState, RequestEvent
    assert dict(TRANSITIONS) == {
        (S.PENDING, E.APPROVE): S.APPROVED,
        (S.PENDING, E.REFUSE): S.REFUSED,
        (S.PENDING, E.EXPIRE): S.EXPIRED,
        (S.APPROVED, E.VIEW): S.APPROVED,
        (S.APPROVED, E.EXPORT): S.USED,
        (S.APPROVED, E.EXPIRE): S.EXPIRED,
    }
    for state in (S.REFUSED, S.EXPIRED, S.USED):  # final states
        for ev in E:
            with pytest.raises(
                AccessDenied, match=rf"'r9' is {state.value}, so it cannot {ev.value}"
            ):
                next_state(state, ev, "r9")


def test_policy_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"export_min_rank='commissioner' is not one of the ranks"):
        AccessPolicy(RANKS, "inspector", "commissioner", 1, 1)
    with pytest.raises(ValueError, match=r"valid_for_s=0 must be a positive number of seconds"):
        AccessPolicy(RANKS, "inspector", "inspector", 1, 0)
    with pytest.raises(ValueError, match=r"must be a non-empty list of distinct names"):
        AccessPolicy(("a", "a"), "a", "a", 1, 1)
    policy = AccessPolicy(list(RANKS), "inspector", "inspector", 1, 1)  # type: ignore[arg-type]
    assert policy.ranks == RANKS  # a scenario's list is kept as a tuple
    assert pickle.loads(pickle.dumps(policy)) == policy  # safe to send to a Ray actor
    assert [POLICY.may_approve(r, Action.EXPORT) for r in RANKS] == [
        False,
        False,
        False,
        True,
        True,
    ]
    assert [POLICY.may_approve(r, Action.VIEW) for r in RANKS] == [False, False, True, True, True]
    assert not POLICY.may_approve("commissioner", Action.VIEW)


def test_a_request_normalises_its_cameras_and_needs_a_window() -> None:
    assert request().cameras == ("cam-1", "cam-2")
    assert request(action="export").action is Action.EXPORT  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'r1' has an empty window"):
        AccessRequest("r1", PC, "c", Action.VIEW, ("cam-1",), Interval(5, 5), 10)
    with pytest.raises(ValueError, match=r"'r1' names no cameras"):
        AccessRequest("r1", PC, "c", Action.VIEW, (), WINDOW, 10)


# -- whole behaviours ------------------------------------------------------------------------


def test_a_view_is_approved_used_twice_and_expires() -> None:
    desk, trail = make_desk()
    desk.submit(request())
    desk.approve("r1", INSP, 5100)
    first = desk.authorize_use("r1", Action.VIEW, 5200)
    second = desk.authorize_use("r1", Action.VIEW, 5300, officer_id="pc-101", cameras=["cam-1"])
    assert desk.expire_due(5100 + 86400 - 1) == ()
    assert desk.expire_due(5100 + 86400) == ("r1",)
    with pytest.raises(AccessDenied, match=r"'r1' is expired, not approved .*submit a new request"):
        desk.authorize_use("r1", Action.VIEW, 5100 + 86401)

    assert first == AccessGrant(
        "r1", "pc-101", "case-42", Action.VIEW, ("cam-1", "cam-2"), WINDOW, "insp-3", 5200
    )
    assert second.cameras == ("cam-1",)
    assert trace(trail) == [
        (5000.0, "request", "pc-101", "r1"),
        (5100.0, "approval", "insp-3", "r1"),
        (5200.0, "view", "pc-101", "r1"),
        (5300.0, "view", "pc-101", "r1"),
        (91500.0, "expiry", "access_desk", "r1"),
        (91501.0, "denial", "pc-101", "r1"),
    ]
    assert trail.entries[1].details == {
        "rank": "inspector",
        "required_rank": "inspector",
        "action": "view",
        "cameras": ["cam-1", "cam-2"],
        "window": [1000.0, 4600.0],
        "expires_at_s": 91500.0,
    }
    record = desk.get("r1")
    assert (record.state, record.uses, record.closed_at_s, record.decided_by) == (
        RequestState.EXPIRED,
        2,
        91500.0,
        "insp-3",
    )
    assert verify(trail.entries) == 6


def test_an_export_is_used_once() -> None:
    desk, trail = make_desk()
    desk.submit(request(action=Action.EXPORT))
    desk.approve("r1", CIP, 5100)
    desk.authorize_use("r1", Action.EXPORT, 5200)
    with pytest.raises(
        AccessDenied,
        match=r"'r1' is used, not approved \(an export approval is good for one export",
    ):
        desk.authorize_use("r1", Action.EXPORT, 5300)
    assert desk.get("r1").state is RequestState.USED
    assert desk.expire_due(10**9) == ()  # a used request never expires later
    assert [k for _, k, _, _ in trace(trail)] == ["request", "approval", "export", "denial"]


def test_an_approver_below_the_required_rank_is_denied_and_audited() -> None:
    desk, trail = make_desk()
    desk.submit(request(action=Action.EXPORT))
    with pytest.raises(
        AccessDenied,
        match=(
            r"officer 'insp-3' \(rank 'inspector'\) may not approve export request 'r1': "
            r"it needs rank 'chief_inspector' or above"
        ),
    ):
        desk.approve("r1", INSP, 5100)
    with pytest.raises(
        AccessDenied, match=r"officer 'sgt-7' \(rank 'sergeant'\) may not refuse export"
    ):
        desk.refuse("r1", SGT, 5150, reason="no")
    with pytest.raises(
        AccessDenied, match=r"officer 'x' has rank 'commissioner', which is not one of the ranks"
    ):
        desk.approve("r1", Officer("x", "commissioner"), 5160)
    assert desk.get("r1").state is RequestState.PENDING
    assert trace(trail)[1:] == [
        (5100.0, "denial", "insp-3", "r1"),
        (5150.0, "denial", "sgt-7", "r1"),
        (5160.0, "denial", "x", "r1"),
    ]
    assert trail.entries[1].details["attempt"] == "approve"


def test_nobody_approves_their_own_request() -> None:
    desk, _ = make_desk()
    desk.submit(request(who=SUPT))
    with pytest.raises(
        AccessDenied,
        match=(
            r"officer 'supt-2' \(rank 'superintendent'\) made request 'r1' and may not approve it: "
            r"another officer of rank 'inspector'"
        ),
    ):
        desk.approve("r1", SUPT, 5100)
    desk.approve("r1", INSP, 5100)  # a junior officer may approve a senior's request


def test_a_refused_request_cannot_be_used_or_decided_again() -> None:
    desk, trail = make_desk()
    desk.submit(request())
    desk.refuse("r1", INSP, 5100, reason="not proportionate")
    with pytest.raises(
        AccessDenied,
        match=r"'r1' is refused, not approved \(it was refused; submit a new request\)",
    ):
        desk.authorize_use("r1", Action.VIEW, 5200)
    with pytest.raises(
        AccessDenied, match=r"'r1' is refused, so officer 'cip-1' cannot approve it"
    ):
        desk.approve("r1", CIP, 5300)
    assert trail.entries[1].details == {"rank": "inspector", "reason": "not proportionate"}


def test_footage_is_never_used_on_a_pending_request() -> None:
    desk, _ = make_desk()
    desk.submit(request())
    with pytest.raises(
        AccessDenied,
        match=(
            r"'r1' is pending, not approved \(it must be approved first\): "
            r".*rank 'inspector' or above"
        ),
    ):
        desk.authorize_use("r1", Action.VIEW, 5100)
    with pytest.raises(AccessDenied, match=r"'nope' does not exist"):
        desk.authorize_use("nope", Action.VIEW, 5100)


def test_a_pending_request_expires_at_its_deadline_even_if_nobody_sweeps() -> None:
    desk, trail = make_desk()
    desk.submit(request())
    with pytest.raises(
        AccessDenied, match=r"'r1' is expired, so officer 'insp-3' cannot approve it"
    ):
        desk.approve("r1", INSP, 5000 + 3600)
    assert trace(trail)[1:] == [
        (8600.0, "expiry", "access_desk", "r1"),
        (8600.0, "denial", "insp-3", "r1"),
    ]
    assert trail.entries[1].details == {"was": "pending", "deadline_s": 8600.0}


def test_expire_due_goes_in_deadline_order() -> None:
    desk, trail = make_desk()
    desk.submit(request("c", at=50))
    desk.submit(request("b", at=100))
    desk.submit(request("a", at=100))
    desk.submit(request("d", at=200))
    desk.approve("d", INSP, 300)
    assert desk.expire_due(3700) == ("c", "a", "b")
    assert desk.expire_due(3700) == ()
    assert [e.subject for e in trail.entries if e.kind is AuditKind.EXPIRY] == ["c", "a", "b"]
    assert [r.state for r in desk.records()] == [RequestState.EXPIRED] * 3 + [RequestState.APPROVED]


def test_a_use_must_match_the_action_and_stay_inside_the_approval() -> None:
    desk, _ = make_desk()
    desk.submit(request())
    desk.approve("r1", INSP, 5100, cameras=["cam-2"], window=Interval(2000.0, 3000.0))
    with pytest.raises(
        AccessDenied, match=r"'r1' was approved for view, not export: submit a request for export"
    ):
        desk.authorize_use("r1", Action.EXPORT, 5200)
    with pytest.raises(
        AccessDenied,
        match=(
            r"cameras \['cam-1'\] .* not covered by request 'r1', "
            r"approved for cameras \['cam-2'\]"
        ),
    ):
        desk.authorize_use("r1", Action.VIEW, 5200, cameras=["cam-1"])
    with pytest.raises(AccessDenied, match=r"not covered by request 'r1'"):
        desk.authorize_use("r1", Action.VIEW, 5200, window=Interval(1999.0, 2500.0))
    with pytest.raises(
        AccessDenied, match=r"officer 'sgt-7' may not use request 'r1', which was made by 'pc-101'"
    ):
        desk.authorize_use("r1", Action.VIEW, 5200, officer_id="sgt-7")
    grant = desk.authorize_use("r1", Action.VIEW, 5200, window=Interval(2500.0, 3000.0))
    assert (grant.cameras, grant.window) == (("cam-2",), Interval(2500.0, 3000.0))


def test_an_approval_may_narrow_a_request_but_never_widen_it() -> None:
    desk, _ = make_desk()
    desk.submit(request())
    with pytest.raises(AccessDenied, match=r"an approval may narrow a request, never widen it"):
        desk.approve("r1", INSP, 5100, cameras=["cam-1", "cam-9"])
    with pytest.raises(AccessDenied, match=r"never widen it"):
        desk.approve("r1", INSP, 5100, window=Interval(0.0, 4600.0))
    with pytest.raises(AccessDenied, match=r"never widen it \(or be empty\)"):
        desk.approve("r1", INSP, 5100, cameras=[])
    assert desk.get("r1").state is RequestState.PENDING


def test_request_ids_are_not_reused_and_unknown_ranks_are_refused() -> None:
    desk, trail = make_desk()
    desk.submit(request())
    with pytest.raises(ValueError, match=r"access request id 'r1' is already in use"):
        desk.submit(request())
    with pytest.raises(
        AccessDenied, match=r"officer 'x' has rank 'cadet', which is not one of the ranks"
    ):
        desk.submit(request("r2", who=Officer("x", "cadet")))
    with pytest.raises(KeyError):
        desk.get("r2")
    assert [e.kind for e in trail.entries] == [AuditKind.REQUEST, AuditKind.DENIAL]


def test_a_record_is_a_picklable_snapshot() -> None:
    desk, _ = make_desk()
    before = desk.submit(request())
    desk.approve("r1", INSP, 5100)
    assert before.state is RequestState.PENDING  # the earlier snapshot did not change
    assert pickle.loads(pickle.dumps(desk.get("r1"))) == desk.get("r1")


# -- property: no export without approval from a high enough rank ---------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[AccessPolicy, list[Officer], list[tuple]]:
    n = draw(st.integers(2, 6))
    ranks = tuple(f"rank{i}" for i in range(n))
    policy = AccessPolicy(
        ranks,
        view_min_rank=draw(st.sampled_from(ranks)),
        export_min_rank=draw(st.sampled_from(ranks)),
        expire_after_s=draw(st.sampled_from([10.0, 60.0])),
        valid_for_s=draw(st.sampled_from([10.0, 60.0])),
    )
    pool = ranks + ranks + ("outsider",)  # now and then an officer with no valid rank
    officers = [
        Officer(f"o{i}", draw(st.sampled_from(pool))) for i in range(draw(st.integers(2, 4)))
    ]
    o = st.integers(0, len(officers) - 1)
    r = st.integers(0, 2)  # taken modulo the requests submitted so far, newest first
    args = {
        "submit": st.tuples(o, st.sampled_from(list(Action))),
        "approve": st.tuples(r, o),
        "refuse": st.tuples(r, o),
        # action None: the request's own action (most uses are for what was asked)
        "use": st.tuples(
            r, st.one_of(st.none(), st.sampled_from(list(Action))), st.one_of(st.none(), o)
        ),
        "use_ghost": st.tuples(st.sampled_from(list(Action))),
        "wait": st.tuples(st.sampled_from([1.0, 9.0, 10.0, 30.0])),
        "sweep": st.just(()),
    }
    # Weighted so that approvals and uses often meet a live request.
    kinds = [
        "submit",
        "approve",
        "approve",
        "approve",
        "refuse",
        "use",
        "use",
        "use",
        "use_ghost",
        "wait",
        "sweep",
    ]
    ops = []
    for _ in range(draw(st.integers(5, 40))):
        kind = draw(st.sampled_from(kinds))
        ops.append((kind, *draw(args[kind])))
    return policy, officers, ops


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_no_export_without_approval_from_a_high_enough_rank(scenario: tuple) -> None:
    policy, officers, ops = scenario
    trail = AuditTrail()
    desk = AccessDesk(policy, trail)
    now = 0.0
    submitted: list[str] = []
    exports: dict[str, int] = {}
    for op in ops:
        try:
            if op[0] == "submit":
                rid = f"r{len(submitted)}"
                desk.submit(
                    AccessRequest(
                        rid, officers[op[1]], "case", op[2], ("cam",), Interval(0, 1), now
                    )
                )
                submitted.append(rid)
            elif op[0] in ("approve", "refuse") and submitted:
                rid = submitted[-1 - op[1] % len(submitted)]
                if op[0] == "approve":
                    desk.approve(rid, officers[op[2]], now)
                else:
                    desk.refuse(rid, officers[op[2]], now, reason="r")
            elif op[0] == "use_ghost":
                desk.authorize_use("ghost", op[1], now)
                raise AssertionError("a use without any request was granted")
            elif op[0] == "use" and submitted:
                rid = submitted[-1 - op[1] % len(submitted)]
                action = desk.get(rid).request.action if op[2] is None else op[2]
                who = None if op[3] is None else officers[op[3]].officer_id
                grant = desk.authorize_use(rid, action, now, officer_id=who)
                # The oracle, from the audit trail and the policy alone:
                approvals = [
                    e for e in trail.entries if e.kind is AuditKind.APPROVAL and e.subject == rid
                ]
                assert len(approvals) == 1
                approval = approvals[0]
                request_entry = next(
                    e for e in trail.entries if e.kind is AuditKind.REQUEST and e.subject == rid
                )
                action = request_entry.details["action"]
                assert grant.action.value == action
                required = policy.export_min_rank if action == "export" else policy.view_min_rank
                assert policy.ranks.index(approval.details["rank"]) >= policy.ranks.index(required)
                assert approval.actor != request_entry.actor
                assert grant.officer_id == request_entry.actor
                assert approval.at_s <= now < approval.at_s + policy.valid_for_s
                assert approval.at_s < request_entry.at_s + policy.expire_after_s
                if action == "export":
                    exports[rid] = exports.get(rid, 0) + 1
                    assert exports[rid] == 1
            elif op[0] == "wait":
                now += op[1]
            elif op[0] == "sweep":
                desk.expire_due(now)
        except AccessDenied:
            assert trail.entries[-1].kind is AuditKind.DENIAL  # every refusal is on the trail
    event(f"exports granted: {min(sum(exports.values()), 2)}")
    event(f"views granted: {min(sum(e.kind is AuditKind.VIEW for e in trail.entries), 2)}")
    event(f"approvals: {min(sum(e.kind is AuditKind.APPROVAL for e in trail.entries), 2)}")
    assert verify(trail.entries) == len(trail)
    assert sum(e.kind is AuditKind.EXPORT for e in trail.entries) == sum(exports.values())


def test_a_step_the_trail_refuses_leaves_the_desk_unchanged() -> None:
    desk, trail = make_desk()
    desk.submit(request(at=5000))
    trail.append(6000, AuditKind.VIEW, "someone", "other")  # the trail has moved on
    with pytest.raises(ValueError, match=r"at_s=5500\.0 is before the last entry's \(6000\.0\)"):
        desk.approve("r1", INSP, 5500)
    assert desk.get("r1").state is RequestState.PENDING  # not approved without an audit entry
    desk.approve("r1", INSP, 6000)
    assert desk.get("r1").state is RequestState.APPROVED
