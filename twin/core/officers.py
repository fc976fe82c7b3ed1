"""The officer register: who is an officer, of what rank, with which key, from when to when.

Theory of operation
-------------------
Ranks are never taken from whoever types a command. The desk's register is replayed from its
own audit trail, from the OFFICER entries on it, so it can change only through audited,
signed steps:

- `bootstrap` (once, first OFFICER entry): fixes the access policy and the lowest rank that
  may change the register, and enrols the first officer. It is made by the desk itself
  (actor "desk") and MAC'd with the installation's audit key: whoever holds that key is the
  root of trust, and nobody with only the run folder can bootstrap a register of their own.
- `enrol`: an officer valid at that time, of at least `register_min_rank`, enrols another
  officer (id, rank no higher than their own, Ed25519 public key, valid from / to). Enrolling
  an id again (a promotion, a new key) ends its current record where the new one starts.
- `revoke`: such an officer ends another's (or their own) record now; the target's rank may
  not be above the revoker's.

`OfficerRegister.apply` checks each step against the register as it stood just before it
(and `as_of(officer, t)` answers for any time), so a verifier replaying a trail reaches the
same register and the same verdicts as the desk that wrote it. `check_trail` is that
verifier: every entry must be vouched for by its actor (an officer's Ed25519 signature with
the key the register holds for them at the entry's time, or the audit key's MAC for a system
component) and a rank written into an entry must be the actor's registered rank then.

Pure logic: no clock, no files. Errors: `EvidenceError` naming the entry (seq), the officer
and what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from twin.core.access import AccessPolicy
from twin.core.audit import AuditEntry, AuditKind
from twin.core.signing import (
    ED25519_PREFIX,
    HMAC_PREFIX,
    SYSTEM_ACTORS,
    load_public_key,
    mac_verifies,
    signature_verifies,
)
from twin.errors import EvidenceError

__all__ = ["OfficerRecord", "OfficerRegister", "policy_to_json", "policy_from_json", "check_trail"]


def policy_to_json(p: AccessPolicy) -> dict[str, Any]:
    """The access policy as the bootstrap entry (and evidence/policy.json) hold it."""
    return {
        "ranks": list(p.ranks),
        "view_min_rank": p.view_min_rank,
        "export_min_rank": p.export_min_rank,
        "expire_after_s": float(p.expire_after_s),
        "valid_for_s": float(p.valid_for_s),
    }


def policy_from_json(raw: Mapping[str, Any]) -> AccessPolicy:
    return AccessPolicy(
        tuple(raw["ranks"]),
        raw["view_min_rank"],
        raw["export_min_rank"],
        float(raw["expire_after_s"]),
        float(raw["valid_for_s"]),
    )


@dataclass(frozen=True, slots=True)
class OfficerRecord:
    """One period of one officer: [valid_from_s, valid_to_s) (None: open-ended)."""

    officer_id: str
    rank: str
    public_key: str  # base64 raw Ed25519
    valid_from_s: float
    valid_to_s: float | None
    enrolled_by: str
    seq: int  # the OFFICER entry that made it

    def valid_at(self, t: float) -> bool:
        return self.valid_from_s <= t and (self.valid_to_s is None or t < self.valid_to_s)


class OfficerRegister:
    """The register as replayed from OFFICER entries (see the module docstring)."""

    __slots__ = ("policy", "register_min_rank", "_records")

    def __init__(self) -> None:
        self.policy: AccessPolicy | None = None
        self.register_min_rank: str | None = None
        self._records: dict[str, list[OfficerRecord]] = {}

    @property
    def bootstrapped(self) -> bool:
        return self.policy is not None

    def as_of(self, officer_id: str, t: float) -> OfficerRecord | None:
        """The officer's record valid at `t`, or None (not enrolled, not yet, or no longer)."""
        for rec in self._records.get(officer_id, ()):
            if rec.valid_at(t):
                return rec
        return None

    def records(self) -> tuple[OfficerRecord, ...]:
        """Every record, by officer id then start."""
        return tuple(r for oid in sorted(self._records) for r in self._records[oid])

    def _level(self, rank: str) -> int:
        assert self.policy is not None
        level = self.policy.level(rank)
        if level is None:
            raise EvidenceError(
                f"rank {rank!r} is not one of the desk's ranks {list(self.policy.ranks)}: "
                "use one of them"
            )
        return level

    # -- the three steps: each returns the details of the OFFICER entry that records it -------

    @staticmethod
    def bootstrap_details(
        policy: AccessPolicy,
        register_min_rank: str,
        officer_id: str,
        rank: str,
        public_key: str,
        now: float,
    ) -> dict[str, Any]:
        """The first entry of a register (checked as `apply` checks it)."""
        details = {
            "op": "bootstrap",
            "policy": policy_to_json(policy),
            "register_min_rank": register_min_rank,
            "officer": officer_id,
            "rank": rank,
            "public_key": public_key,
            "valid_from_s": float(now),
            "valid_to_s": None,
        }
        OfficerRegister()._check(details, "desk", now, -1)
        return details

    def enrol_details(
        self,
        acting: str,
        officer_id: str,
        rank: str,
        public_key: str,
        now: float,
        valid_from_s: float | None = None,
        valid_to_s: float | None = None,
    ) -> dict[str, Any]:
        details = {
            "op": "enrol",
            "officer": officer_id,
            "rank": rank,
            "public_key": public_key,
            "valid_from_s": float(now if valid_from_s is None else valid_from_s),
            "valid_to_s": None if valid_to_s is None else float(valid_to_s),
        }
        self._check(details, acting, now, -1)
        return details

    def revoke_details(
        self, acting: str, officer_id: str, now: float, reason: str
    ) -> dict[str, Any]:
        details = {
            "op": "revoke",
            "officer": officer_id,
            "valid_to_s": float(now),
            "reason": reason,
        }
        self._check(details, acting, now, -1)
        return details

    def apply(self, entry: AuditEntry) -> None:
        """Take in one OFFICER entry (its signature is checked by `check_trail`, not here)."""
        d = entry.details
        self._check(d, entry.actor, entry.at_s, entry.seq)
        op = d["op"]
        if op == "bootstrap":
            self.policy = policy_from_json(d["policy"])
            self.register_min_rank = d["register_min_rank"]
        if op in ("bootstrap", "enrol"):
            start = float(d["valid_from_s"])
            mine = [
                replace(r, valid_to_s=start) if r.valid_to_s is None or r.valid_to_s > start else r
                for r in self._records.get(d["officer"], [])
                if r.valid_from_s < start
            ]
            end = d["valid_to_s"]
            mine.append(
                OfficerRecord(
                    d["officer"],
                    d["rank"],
                    d["public_key"],
                    start,
                    None if end is None else float(end),
                    entry.actor,
                    entry.seq,
                )
            )
            self._records[d["officer"]] = mine
        else:  # revoke
            end = float(d["valid_to_s"])
            self._records[d["officer"]] = [
                replace(r, valid_to_s=end) if r.valid_to_s is None or r.valid_to_s > end else r
                for r in self._records[d["officer"]]
                if r.valid_from_s < end
            ]

    def _check(self, d: Mapping[str, Any], actor: str, at_s: float, seq: int) -> None:
        where = f"audit entry seq {seq}: " if seq >= 0 else ""
        op = d.get("op")
        if op == "bootstrap":
            if self.bootstrapped:
                raise EvidenceError(
                    f"{where}the officer register was bootstrapped already; add "
                    "officers with `twin evidence officer add`"
                )
            if actor != "desk":
                raise EvidenceError(f"{where}a bootstrap is made by the desk, not {actor!r}")
            try:
                policy = policy_from_json(d["policy"])
            except (KeyError, TypeError, ValueError) as exc:
                raise EvidenceError(
                    f"{where}the bootstrap's policy is not a policy: {exc}"
                ) from None
            level, min_level = policy.level(d["rank"]), policy.level(d["register_min_rank"])
            if min_level is None or level is None:
                raise EvidenceError(
                    f"{where}register_min_rank {d['register_min_rank']!r} and the first officer's "
                    f"rank {d['rank']!r} must both be among the ranks {list(policy.ranks)}"
                )
            if level < min_level:
                raise EvidenceError(
                    f"{where}the first officer {d['officer']!r} has rank {d['rank']!r}, below "
                    f"register_min_rank {d['register_min_rank']!r}: they could enrol nobody; "
                    "bootstrap with a senior enough officer"
                )
            self._check_key(d, where)
            return
        if op not in ("enrol", "revoke"):
            raise EvidenceError(
                f"{where}officer register step {op!r} is unknown; expected "
                "bootstrap, enrol or revoke"
            )
        if not self.bootstrapped:
            raise EvidenceError(
                f"{where}there is no officer register yet: bootstrap it first with "
                "`twin evidence officer init`"
            )
        assert self.register_min_rank is not None
        me = self.as_of(actor, at_s)
        if me is None:
            raise EvidenceError(
                f"{where}officer {actor!r} is not in the register at t={at_s:g}, so "
                f"may not {op} officers"
            )
        if self._level(me.rank) < self._level(self.register_min_rank):
            raise EvidenceError(
                f"{where}officer {actor!r} (registered rank {me.rank!r}) may not {op} officers: it "
                f"needs rank {self.register_min_rank!r} or above; ask a senior officer"
            )
        target = d.get("officer")
        if not isinstance(target, str) or not target:
            raise EvidenceError(f"{where}the register step names no officer")
        if op == "enrol":
            if target == actor:
                raise EvidenceError(
                    f"{where}officer {actor!r} may not enrol themselves (no "
                    "self-promotion, no own key change): ask another officer"
                )
            if self._level(d["rank"]) > self._level(me.rank):
                raise EvidenceError(
                    f"{where}officer {actor!r} (rank {me.rank!r}) may not enrol {target!r} as "
                    f"{d['rank']!r}, above their own rank; ask an officer of that rank or above"
                )
            start, end = d["valid_from_s"], d["valid_to_s"]
            if not (isinstance(start, float) and math.isfinite(start) and start >= at_s):
                raise EvidenceError(
                    f"{where}valid_from_s={start!r} must be a time at or after the "
                    f"step ({at_s:g}): a register is never changed backwards"
                )
            if end is not None and not (isinstance(end, float) and end > start):
                raise EvidenceError(
                    f"{where}valid_to_s={end!r} must be after valid_from_s={start!r}"
                )
            self._check_key(d, where)
        else:
            rec = self.as_of(target, at_s) or next(
                (r for r in self._records.get(target, ()) if r.valid_from_s > at_s), None
            )
            if rec is None:
                raise EvidenceError(
                    f"{where}officer {target!r} has no current or future record to revoke"
                )
            if self._level(rec.rank) > self._level(me.rank):
                raise EvidenceError(
                    f"{where}officer {actor!r} (rank {me.rank!r}) may not revoke "
                    f"{target!r} (rank {rec.rank!r}), who is senior to them"
                )
            if d.get("valid_to_s") != float(at_s):
                raise EvidenceError(
                    f"{where}a revocation takes effect when it is made ({at_s:g}), "
                    f"not at {d.get('valid_to_s')!r}"
                )

    @staticmethod
    def _check_key(d: Mapping[str, Any], where: str) -> None:
        try:
            load_public_key(str(d.get("public_key", "")))
        except ValueError as exc:
            raise EvidenceError(f"{where}{exc}") from None


def _whose_key(register: OfficerRegister, entry: AuditEntry) -> str | None:
    for rec in register.records():
        if signature_verifies(rec.public_key, entry):
            return rec.officer_id
    return None


def check_trail(entries: Iterable[AuditEntry], audit_key: bytes) -> OfficerRegister:
    """Check who vouches for every entry (module docstring) and return the register they
    build. Raises EvidenceError at the first entry that is unsigned, signed by someone other
    than its actor, MAC'd with another key, by an actor who is no officer at its time, or that
    writes down a rank other than the actor's registered one."""
    register = OfficerRegister()
    for e in entries:
        who = f"audit entry seq {e.seq} ({e.kind.value} by {e.actor!r} at t={e.at_s:g})"
        if not e.sig:
            raise EvidenceError(
                f"{who} is unsigned: every desk entry must be signed by its "
                "officer (or MAC'd by the desk); it was added by hand"
            )
        if e.actor in SYSTEM_ACTORS:
            if not mac_verifies(audit_key, e):
                kind = "an officer's signature" if e.sig.startswith(ED25519_PREFIX) else "a MAC"
                raise EvidenceError(
                    f"{who} carries {kind} that the audit key does not confirm: it was forged, "
                    "or this is not the key the trail was written with (check CCTV_TWIN_AUDIT_KEY)"
                )
        else:
            rec = register.as_of(e.actor, e.at_s)
            if rec is None:
                raise EvidenceError(
                    f"{who}: {e.actor!r} is not an officer in the register at that "
                    "time, so the entry cannot be theirs"
                )
            if not signature_verifies(rec.public_key, e):
                other = _whose_key(register, e)
                if e.sig.startswith(HMAC_PREFIX):
                    how = "carries a MAC instead of the officer's signature"
                elif other is not None:
                    how = f"is signed with officer {other!r}'s key, not {e.actor!r}'s"
                else:
                    how = f"has a signature that {e.actor!r}'s registered key does not confirm"
                raise EvidenceError(f"{who} {how}: the entry was forged or altered")
            rank = e.details.get("rank") if e.kind is not AuditKind.OFFICER else None
            if rank is not None and rank != rec.rank:
                raise EvidenceError(
                    f"{who} records rank {rank!r}, but {e.actor!r}'s registered "
                    f"rank then was {rec.rank!r}"
                )
        if e.kind is AuditKind.OFFICER:
            register.apply(e)
    return register
