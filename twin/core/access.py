"""Access to footage, approved by rank, with every step on the audit trail.

Theory of operation
-------------------
An officer who wants to view or export footage submits an `AccessRequest` (who, for which case,
which action, which cameras, which time window). The request then moves through the table
`TRANSITIONS` and nowhere else:

    pending  --approve-->  approved  --view-->    approved   (a view approval may be used
    pending  --refuse--->  refused                            again until it expires)
    pending  --expire--->  expired   approved  --export-->  used  (an export, once)
                                     approved  --expire-->  expired

`refused`, `expired` and `used` are final. Who may approve or refuse is set by the scenario's
`AccessPolicy`: the ranks in order (lowest first) and the lowest rank that may approve a view
and an export. Nobody decides on their own request. An approval may narrow the request (fewer
cameras, a shorter window) but never widen it, and it is good for `valid_for_s`; a request
nobody decides on expires after `expire_after_s`.

`AccessDesk` holds the requests by id. It has no clock: every call takes `now`. Deadlines are
enforced both lazily (a call that finds a request past its deadline expires it first) and by
`expire_due(now)`, which the engines call on their tick so that expiries are on the trail even
for requests nobody touches again. Every transition appends to the `AuditTrail`; so does every
refused attempt (kind DENIAL) before `AccessDenied` is raised, so the trail shows who tried
what. Footage is only served against the `AccessGrant` that `authorize_use` returns.

Errors: `AccessDenied` for anything an officer is not allowed to do (its message names the
officer, their rank and the rank required); ValueError for malformed inputs (a policy whose
ranks do not include its own minimum, a duplicate request id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, NoReturn

from twin.core.audit import AuditKind, AuditTrail
from twin.core.states import StateTable
from twin.core.types import Interval
from twin.errors import AccessDenied

__all__ = [
    "Action",
    "RequestState",
    "RequestEvent",
    "TRANSITIONS",
    "next_state",
    "Officer",
    "AccessPolicy",
    "AccessRequest",
    "Approval",
    "RequestRecord",
    "AccessGrant",
    "AccessDesk",
]


class Action(StrEnum):
    """What footage is wanted for."""

    VIEW = "view"
    EXPORT = "export"


class RequestState(StrEnum):
    """Where an access request is in its life."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"
    USED = "used"


class RequestEvent(StrEnum):
    """What can happen to an access request."""

    APPROVE = "approve"
    REFUSE = "refuse"
    EXPIRE = "expire"
    VIEW = "view"
    EXPORT = "export"


_S, _E = RequestState, RequestEvent
TRANSITIONS: StateTable[RequestState, RequestEvent] = StateTable(
    {
        (_S.PENDING, _E.APPROVE): _S.APPROVED,
        (_S.PENDING, _E.REFUSE): _S.REFUSED,
        (_S.PENDING, _E.EXPIRE): _S.EXPIRED,
        (_S.APPROVED, _E.VIEW): _S.APPROVED,
        (_S.APPROVED, _E.EXPORT): _S.USED,
        (_S.APPROVED, _E.EXPIRE): _S.EXPIRED,
    }
)
"""The whole access-request state machine: (state, event) -> next state."""

_OPEN_STATES = frozenset({_S.PENDING, _S.APPROVED})
_FIX = {
    _S.PENDING: "it must be approved first",
    _S.REFUSED: "it was refused; submit a new request",
    _S.EXPIRED: "it has expired; submit a new request",
    _S.USED: "an export approval is good for one export; submit a new request",
    _S.APPROVED: "it is already decided; submit a new request to change it",
}


def next_state(state: RequestState, event: RequestEvent, request_id: str = "?") -> RequestState:
    """The state `event` leads to from `state`; AccessDenied if the table has no such move."""

    def refuse(state: RequestState, event: RequestEvent, _allowed: list[RequestEvent]) -> Exception:
        return AccessDenied(
            f"access request {request_id!r} is {state.value}, so it cannot {event.value}: "
            f"{_FIX[state]}"
        )

    return TRANSITIONS.next(state, event, refuse)


@dataclass(frozen=True, slots=True)
class Officer:
    """An officer as the access desk sees them: an id and a rank from the policy's ranks."""

    officer_id: str
    rank: str


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Who may approve what, and for how long (scenario data; seconds on the scenario clock).

    `ranks` lists every rank, lowest first. `view_min_rank` and `export_min_rank` are the
    lowest ranks that may approve (or refuse) a view and an export request; they may differ.
    A pending request expires `expire_after_s` after it was made; an approval is good for
    `valid_for_s` after it was given.
    """

    ranks: tuple[str, ...]
    view_min_rank: str
    export_min_rank: str
    expire_after_s: float
    valid_for_s: float

    def __post_init__(self) -> None:
        ranks = tuple(self.ranks)
        object.__setattr__(self, "ranks", ranks)
        if not ranks or len(set(ranks)) != len(ranks):
            raise ValueError(
                f"ranks {list(ranks)} must be a non-empty list of distinct names, lowest first"
            )
        for name in ("view_min_rank", "export_min_rank"):
            if getattr(self, name) not in ranks:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is not one of the ranks {list(ranks)}"
                )
        for name in ("expire_after_s", "valid_for_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive number of seconds")

    def level(self, rank: str) -> int | None:
        """Position of `rank` in `ranks` (0 = lowest), or None if it is not a rank here."""
        # A handful of ranks: a scan is as fast as a dict and keeps the policy plainly picklable.
        return self.ranks.index(rank) if rank in self.ranks else None

    def required_rank(self, action: Action) -> str:
        """The lowest rank that may approve `action`."""
        return self.export_min_rank if Action(action) is Action.EXPORT else self.view_min_rank

    def may_approve(self, rank: str, action: Action) -> bool:
        """True if an officer of `rank` is senior enough to decide on `action`."""
        level = self.level(rank)
        return level is not None and level >= self.ranks.index(self.required_rank(action))


def _cameras(cameras: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(cameras)))


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """A request to view or export the footage of `cameras` over `window` for `case_id`.
    Cameras are kept sorted and unique."""

    request_id: str
    requester: Officer
    case_id: str
    action: Action
    cameras: tuple[str, ...]
    window: Interval
    created_at_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "cameras", _cameras(self.cameras))
        if not self.cameras:
            raise ValueError(
                f"access request {self.request_id!r} names no cameras: name at least one"
            )
        if not self.window.duration_s > 0:
            raise ValueError(
                f"access request {self.request_id!r} has an empty window {self.window}: "
                "give a window with end_s > start_s"
            )


@dataclass(frozen=True, slots=True)
class Approval:
    """What an approver granted: possibly fewer cameras and a shorter window than requested."""

    approver: Officer
    approved_at_s: float
    expires_at_s: float
    cameras: tuple[str, ...]
    window: Interval


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A snapshot of one request and where it stands. `deadline_s` is when it expires if it
    is still pending or approved then."""

    request: AccessRequest
    state: RequestState
    deadline_s: float
    approval: Approval | None = None
    decided_by: str = ""
    closed_at_s: float | None = None
    uses: int = 0


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """Permission for one use of footage, as returned by `AccessDesk.authorize_use`: serve
    exactly these cameras over exactly this window, no more."""

    request_id: str
    officer_id: str
    case_id: str
    action: Action
    cameras: tuple[str, ...]
    window: Interval
    approved_by: str
    at_s: float


def _window_json(window: Interval) -> list[float]:
    return [float(window.start_s), float(window.end_s)]


def _covers(outer: Interval, inner: Interval) -> bool:
    return outer.start_s <= inner.start_s and inner.end_s <= outer.end_s


class AccessDesk:
    """Holds access requests by id and moves them through `TRANSITIONS`, auditing each step.

    The engines call `submit`, `approve` / `refuse`, `authorize_use` as officers act, and
    `expire_due(now)` on their tick. Times must not go backwards (the trail enforces it).
    """

    __slots__ = ("policy", "trail", "_records", "_open")

    def __init__(self, policy: AccessPolicy, trail: AuditTrail) -> None:
        self.policy = policy
        self.trail = trail
        self._records: dict[str, RequestRecord] = {}
        # Requests that can still change state, in submission order.
        self._open: dict[str, None] = {}

    # -- queries -----------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestRecord:
        """The current record of `request_id` (KeyError if unknown)."""
        return self._records[request_id]

    def records(self) -> tuple[RequestRecord, ...]:
        """Every request's record, in submission order."""
        return tuple(self._records.values())

    # -- transitions -------------------------------------------------------------------------

    def submit(self, request: AccessRequest) -> RequestRecord:
        """Record a new pending request at `request.created_at_s`. An officer whose rank is
        not in the policy is denied (and the attempt audited); a reused id is a ValueError."""
        rid = request.request_id
        if rid in self._records:
            raise ValueError(
                f"access request id {rid!r} is already in use: give each request a new id"
            )
        who = request.requester
        if self.policy.level(who.rank) is None:
            self._deny(
                request.created_at_s,
                who.officer_id,
                rid,
                "submit",
                f"officer {who.officer_id!r} has rank {who.rank!r}, which is not one of the "
                f"ranks {list(self.policy.ranks)}: correct the officer's rank",
            )
        record = RequestRecord(
            request=request,
            state=RequestState.PENDING,
            deadline_s=request.created_at_s + self.policy.expire_after_s,
        )
        return self._commit(
            record,
            request.created_at_s,
            AuditKind.REQUEST,
            who.officer_id,
            {
                "rank": who.rank,
                "case_id": request.case_id,
                "action": request.action.value,
                "cameras": list(request.cameras),
                "window": _window_json(request.window),
                "deadline_s": float(record.deadline_s),
            },
        )

    def approve(
        self,
        request_id: str,
        approver: Officer,
        now: float,
        *,
        cameras: Iterable[str] | None = None,
        window: Interval | None = None,
    ) -> RequestRecord:
        """Approve a pending request, optionally for fewer cameras / a shorter window.

        Raises AccessDenied (after auditing the attempt) if the approver's rank is below the
        policy's minimum for the request's action, if they made the request themselves, if
        the request is not pending (or has just expired), or if the approval would cover more
        than was requested.
        """
        record = self._decidable(request_id, approver, now, "approve")
        request = record.request
        granted_cameras = request.cameras if cameras is None else _cameras(cameras)
        granted_window = request.window if window is None else window
        extra = sorted(set(granted_cameras) - set(request.cameras))
        if extra or not granted_cameras or not _covers(request.window, granted_window):
            self._deny(
                now,
                approver.officer_id,
                request_id,
                "approve",
                f"officer {approver.officer_id!r} tried to approve cameras {list(granted_cameras)} "
                f"over {granted_window} but request {request_id!r} asked for cameras "
                f"{list(request.cameras)} over {request.window}: an approval may narrow a "
                "request, never widen it (or be empty); ask for a new request",
            )
        approval = Approval(
            approver=approver,
            approved_at_s=now,
            expires_at_s=now + self.policy.valid_for_s,
            cameras=granted_cameras,
            window=granted_window,
        )
        record = replace(
            record,
            state=next_state(record.state, RequestEvent.APPROVE, request_id),
            deadline_s=approval.expires_at_s,
            approval=approval,
            decided_by=approver.officer_id,
        )
        return self._commit(
            record,
            now,
            AuditKind.APPROVAL,
            approver.officer_id,
            {
                "rank": approver.rank,
                "required_rank": self.policy.required_rank(request.action),
                "action": request.action.value,
                "cameras": list(granted_cameras),
                "window": _window_json(granted_window),
                "expires_at_s": float(approval.expires_at_s),
            },
        )

    def refuse(
        self, request_id: str, approver: Officer, now: float, *, reason: str
    ) -> RequestRecord:
        """Refuse a pending request. The same rank rules as `approve` apply to who refuses."""
        record = self._decidable(request_id, approver, now, "refuse")
        record = replace(
            record,
            state=next_state(record.state, RequestEvent.REFUSE, request_id),
            decided_by=approver.officer_id,
            closed_at_s=now,
        )
        return self._commit(
            record,
            now,
            AuditKind.REFUSAL,
            approver.officer_id,
            {"rank": approver.rank, "reason": reason},
        )

    def expire_due(self, now: float, *, actor: str = "access_desk") -> tuple[str, ...]:
        """Expire every pending request and approval whose deadline is at or before `now`,
        in deadline order (then request id), auditing each; return their ids."""
        due = sorted(
            (self._records[rid].deadline_s, rid)
            for rid in self._open
            if self._records[rid].deadline_s <= now
        )
        for _, rid in due:
            self._expire(rid, now, actor)
        return tuple(rid for _, rid in due)

    def authorize_use(
        self,
        request_id: str,
        action: Action,
        now: float,
        *,
        officer_id: str | None = None,
        cameras: Iterable[str] | None = None,
        window: Interval | None = None,
    ) -> AccessGrant:
        """Permit one use of footage under an approved request, or raise AccessDenied.

        The request must exist, be approved and not expired, be for `action`, and its
        approval must cover `cameras` and `window` (default: all that was approved). If
        `officer_id` is given it must be the requester's: an approval is not transferable.
        A view leaves the approval usable; an export uses it up. The use is audited as a VIEW
        or EXPORT entry; a refused attempt as a DENIAL entry.
        """
        action = Action(action)
        actor = officer_id if officer_id is not None else "unknown"
        record = self._records.get(request_id)
        if record is None:
            self._deny(
                now,
                actor,
                request_id,
                action.value,
                f"access request {request_id!r} does not exist: footage may only be used under "
                "an approved request; submit one",
            )
        request = record.request
        requester = request.requester.officer_id
        actor = officer_id if officer_id is not None else requester
        if officer_id is not None and officer_id != requester:
            self._deny(
                now,
                actor,
                request_id,
                action.value,
                f"officer {officer_id!r} may not use request {request_id!r}, which was made by "
                f"{requester!r}: approvals are not transferable; submit your own request",
            )
        record = self._expire_if_due(record, now)
        if record.state is not RequestState.APPROVED:
            required = self.policy.required_rank(request.action)
            self._deny(
                now,
                actor,
                request_id,
                action.value,
                f"access request {request_id!r} is {record.state.value}, not approved "
                f"({_FIX[record.state]}): footage is used only under a request approved by an "
                f"officer of rank {required!r} or above",
            )
        if action is not request.action:
            self._deny(
                now,
                actor,
                request_id,
                action.value,
                f"access request {request_id!r} was approved for {request.action.value}, not "
                f"{action.value}: submit a request for {action.value}",
            )
        approval = record.approval
        assert approval is not None  # approved implies an approval
        use_cameras = approval.cameras if cameras is None else _cameras(cameras)
        use_window = approval.window if window is None else window
        outside = sorted(set(use_cameras) - set(approval.cameras))
        if outside or not use_cameras or not _covers(approval.window, use_window):
            self._deny(
                now,
                actor,
                request_id,
                action.value,
                f"the use of cameras {list(use_cameras)} over {use_window} is not covered by "
                f"request {request_id!r}, approved for cameras {list(approval.cameras)} over "
                f"{approval.window}: stay within the approval or submit a new request",
            )
        event = RequestEvent.EXPORT if action is Action.EXPORT else RequestEvent.VIEW
        state = next_state(record.state, event, request_id)
        record = replace(
            record,
            state=state,
            uses=record.uses + 1,
            closed_at_s=None if state in _OPEN_STATES else now,
        )
        self._commit(
            record,
            now,
            AuditKind.EXPORT if action is Action.EXPORT else AuditKind.VIEW,
            actor,
            {
                "case_id": request.case_id,
                "cameras": list(use_cameras),
                "window": _window_json(use_window),
                "approved_by": approval.approver.officer_id,
                "use": record.uses,
            },
        )
        return AccessGrant(
            request_id=request_id,
            officer_id=actor,
            case_id=request.case_id,
            action=action,
            cameras=use_cameras,
            window=use_window,
            approved_by=approval.approver.officer_id,
            at_s=now,
        )

    # -- internals ---------------------------------------------------------------------------

    def _decidable(
        self, request_id: str, approver: Officer, now: float, verb: str
    ) -> RequestRecord:
        """The record of a request `approver` may decide on now, or a (audited) denial."""
        who = approver.officer_id
        record = self._records.get(request_id)
        if record is None:
            self._deny(
                now,
                who,
                request_id,
                verb,
                f"access request {request_id!r} does not exist: check the id",
            )
        request = record.request
        required = self.policy.required_rank(request.action)
        if self.policy.level(approver.rank) is None:
            self._deny(
                now,
                who,
                request_id,
                verb,
                f"officer {who!r} has rank {approver.rank!r}, which is not one of the ranks "
                f"{list(self.policy.ranks)}; to {verb} a {request.action.value} request needs rank "
                f"{required!r} or above: correct the officer's rank",
            )
        if not self.policy.may_approve(approver.rank, request.action):
            self._deny(
                now,
                who,
                request_id,
                verb,
                f"officer {who!r} (rank {approver.rank!r}) may not {verb} {request.action.value} "
                f"request {request_id!r}: it needs rank {required!r} or above; refer it to a "
                "senior officer",
            )
        if who == request.requester.officer_id:
            self._deny(
                now,
                who,
                request_id,
                verb,
                f"officer {who!r} (rank {approver.rank!r}) made request {request_id!r} and may "
                f"not {verb} it: another officer of rank {required!r} or above must decide",
            )
        record = self._expire_if_due(record, now)
        if record.state is not RequestState.PENDING:
            self._deny(
                now,
                who,
                request_id,
                verb,
                f"access request {request_id!r} is {record.state.value}, so officer {who!r} "
                f"cannot {verb} it: only a pending request can be decided; {_FIX[record.state]}",
            )
        return record

    def _expire_if_due(self, record: RequestRecord, now: float) -> RequestRecord:
        rid = record.request.request_id
        if rid in self._open and record.deadline_s <= now:
            return self._expire(rid, now, "access_desk")
        return record

    def _expire(self, request_id: str, now: float, actor: str) -> RequestRecord:
        record = self._records[request_id]
        was = record.state
        record = replace(
            record,
            state=next_state(was, RequestEvent.EXPIRE, request_id),
            closed_at_s=now,
        )
        return self._commit(
            record,
            now,
            AuditKind.EXPIRY,
            actor,
            {"was": was.value, "deadline_s": float(record.deadline_s)},
        )

    def _commit(
        self,
        record: RequestRecord,
        now: float,
        kind: AuditKind,
        actor: str,
        details: dict[str, Any],
    ) -> RequestRecord:
        """Audit a transition, then store it. In that order: if the trail refuses the entry
        (a time going backwards), the desk is left as it was, so no step goes unaudited."""
        rid = record.request.request_id
        self.trail.append(now, kind, actor, rid, details)
        self._records[rid] = record
        if record.state in _OPEN_STATES:
            self._open[rid] = None
        else:
            self._open.pop(rid, None)
        return record

    def _deny(self, now: float, actor: str, subject: str, attempt: str, message: str) -> NoReturn:
        details: dict[str, Any] = {"attempt": attempt, "reason": message}
        self.trail.append(now, AuditKind.DENIAL, actor, subject, details)
        raise AccessDenied(message)
