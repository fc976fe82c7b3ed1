"""Evidence cases: the state machine a preservation case goes through, and its snapshot.

    open  --copy (some)-->  open          open  --release-->  released  --purge-->  purged
    open  --copy (last)-->  preserved     preserved  --release-->  released

`CASE_TRANSITIONS` is the whole table (a core/states.py StateTable); `case_next` is the one
place a case moves, with an `EvidenceError` naming the case and what it may do instead. The
locker (core/evidence.py) keeps the cases and takes each step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from twin.core.manifest import EvidenceCopy
from twin.core.preservation import PreservationPlan
from twin.core.states import StateTable
from twin.core.types import SegmentRef
from twin.errors import EvidenceError

__all__ = ["CaseState", "CaseEvent", "CASE_TRANSITIONS", "case_next", "EvidenceCase"]


class CaseState(StrEnum):
    """Where a preservation case is: copies pending, all copied, closed, copies deleted."""

    OPEN = "open"
    PRESERVED = "preserved"
    RELEASED = "released"
    PURGED = "purged"


class CaseEvent(StrEnum):
    """What can happen to a case."""

    COPY = "copy"  # some copies marked, some still pending
    COMPLETE = "complete"  # the last pending copy marked
    RELEASE = "release"
    PURGE = "purge"


_C, _V = CaseState, CaseEvent
CASE_TRANSITIONS: StateTable[CaseState, CaseEvent] = StateTable(
    {
        (_C.OPEN, _V.COPY): _C.OPEN,
        (_C.OPEN, _V.COMPLETE): _C.PRESERVED,
        (_C.OPEN, _V.RELEASE): _C.RELEASED,
        (_C.PRESERVED, _V.RELEASE): _C.RELEASED,
        (_C.RELEASED, _V.PURGE): _C.PURGED,
    }
)
"""The whole case state machine: (state, event) -> next state."""


def case_next(case_id: str, state: CaseState, event: CaseEvent) -> CaseState:
    """The state `event` leads case `case_id` to; EvidenceError if the table has no such move."""

    def refuse(state: CaseState, event: CaseEvent, allowed: list[CaseEvent]) -> Exception:
        return EvidenceError(
            f"evidence case {case_id!r} is {state.value}, so it cannot {event.value}: allowed "
            f"from {state.value}: {[e.value for e in allowed] or 'nothing'}"
        )

    return CASE_TRANSITIONS.next(state, event, refuse)


@dataclass(frozen=True, slots=True)
class EvidenceCase:
    """A snapshot of one case. `manifest_json` is the canonical manifest once preserved
    (read it with `manifest`); `pending` are the planned segments not yet copied."""

    case_id: str
    state: CaseState
    plan: PreservationPlan
    opened_at_s: float
    copies: tuple[EvidenceCopy, ...]
    pending: tuple[SegmentRef, ...]
    bytes_held: int
    manifest_json: str = ""
    closed_at_s: float | None = None

    @property
    def manifest(self) -> dict[str, Any] | None:
        return json.loads(self.manifest_json) if self.manifest_json else None
