"""The access desk of a run folder, on disk: its signed trail, register and policy.

Theory of operation
-------------------
This module is an adapter: the decisions are the core's (twin/core/access.py, audit.py,
officers.py, signing.py); here are the files. The desk has no store of its own: its audit
trail (`evidence/audit.jsonl`, twin/storage/trail.py) IS its state. Opening a desk
(`open_desk`) reads the trail, checks its keyed anchor and chain, checks who vouches for every
entry and replays the officer register from it (`check_trail`), and replays the requests,
decisions, expiries and uses into a fresh AccessDesk under the policy fixed at bootstrap
(`replay_desk`).

The acting officer is known, not claimed: `authenticate` finds them in the register as of now
and checks that the private key they hold is the one registered; their rank is the
registered one. From then on every entry the step appends is signed with that key (entries of
the desk's own components with the audit key's MAC). An officer who is not in the register,
or whose key is not theirs, is refused with a DENIAL entry made by the desk.

Beside it: exports and their verification (twin/desk/export.py), live preservation cases
(twin/desk/cases.py), verifying every trail of a run folder (twin/desk/audit.py); the live
catalog is read through the live store's read API (twin/storage/live_catalog.py).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twin.core.access import AccessDesk, AccessPolicy, AccessRequest, Action, Officer, RequestState
from twin.core.audit import AuditEntry, AuditKind, AuditTrail
from twin.core.officers import OfficerRegister, check_trail, policy_to_json
from twin.core.signing import SYSTEM_ACTORS, mac_entry, public_key_b64, sign_entry
from twin.core.types import Interval
from twin.errors import AccessDenied, EvidenceError, ScenarioError
from twin.scenario import load_scenario
from twin.storage.keys import audit_key
from twin.storage.trail import DESK_DIR, open_trail, save

__all__ = [
    "Desk",
    "open_desk",
    "bootstrap_desk",
    "authenticate",
    "replay_desk",
    "policy_from_scenario",
    "scenario_of",
    "live_paths",
    "POLICY",
    "EXPORTS",
    "CASES",
]

POLICY = "policy.json"
EXPORTS = "exports"
CASES = "cases"


# -- the access desk, rebuilt from its trail ---------------------------------------------------


def replay_desk(entries: list[AuditEntry], policy: AccessPolicy) -> AccessDesk:
    """An AccessDesk in the state the (verified) entries leave it in. Raises EvidenceError if
    an entry cannot be replayed (the trail and the policy disagree)."""
    desk = AccessDesk(policy, AuditTrail())
    for e in entries:
        d = e.details
        try:
            if e.kind is AuditKind.REQUEST:
                desk.submit(
                    AccessRequest(
                        e.subject,
                        Officer(e.actor, d["rank"]),
                        d["case_id"],
                        Action(d["action"]),
                        tuple(d["cameras"]),
                        Interval(*d["window"]),
                        e.at_s,
                    )
                )
            elif e.kind is AuditKind.APPROVAL:
                desk.approve(
                    e.subject,
                    Officer(e.actor, d["rank"]),
                    e.at_s,
                    cameras=d["cameras"],
                    window=Interval(*d["window"]),
                )
            elif e.kind is AuditKind.REFUSAL:
                desk.refuse(e.subject, Officer(e.actor, d["rank"]), e.at_s, reason=d["reason"])
            elif e.kind is AuditKind.EXPIRY:
                # Expire exactly this request, as the original did: `expire_due` would take
                # every due one, and some were expired later (lazily) in the original. A use
                # attempt expires a due request lazily and is then refused, on the scratch
                # trail only.
                with contextlib.suppress(AccessDenied):
                    desk.authorize_use(e.subject, Action.VIEW, e.at_s)
                if desk.get(e.subject).state is not RequestState.EXPIRED:
                    raise ValueError(f"request {e.subject!r} was not due to expire at {e.at_s}")
            elif e.kind in (AuditKind.VIEW, AuditKind.EXPORT):
                action = Action.EXPORT if e.kind is AuditKind.EXPORT else Action.VIEW
                desk.authorize_use(
                    e.subject,
                    action,
                    e.at_s,
                    officer_id=e.actor,
                    cameras=d["cameras"],
                    window=Interval(*d["window"]),
                )
        except (AccessDenied, KeyError, TypeError, ValueError) as exc:
            raise EvidenceError(
                f"audit entry seq {e.seq} ({e.kind.value} of {e.subject!r}) cannot be replayed "
                f"under the desk's policy: {exc}; the trail and {DESK_DIR}/{POLICY} disagree"
            ) from None
    return desk


@dataclass
class Desk:
    """The desk of one run folder: its verified trail, register, policy and access desk."""

    run_dir: Path
    key: bytes
    trail: AuditTrail
    written: int
    register: OfficerRegister
    desk: AccessDesk | None = None
    acting: str | None = None
    private: Ed25519PrivateKey | None = None

    @property
    def folder(self) -> Path:
        return self.run_dir / DESK_DIR

    @property
    def policy(self) -> AccessPolicy:
        if self.register.policy is None:
            raise EvidenceError(
                f"{self.folder}: there is no officer register yet, so no access policy; "
                "bootstrap it with `twin evidence officer init` (see docs/evidence.md, 'Officers')"
            )
        return self.register.policy

    @property
    def access(self) -> AccessDesk:
        if self.desk is None:
            self.policy  # noqa: B018 - raises the error that says how to bootstrap
            raise AssertionError("unreachable")
        return self.desk

    def save(self) -> None:
        """Append what is new on the trail, then move the keyed anchor."""
        self.written = save(self.folder, self.trail, self.written, self.key)

    def sign(self, entry: AuditEntry) -> str:
        if entry.actor in SYSTEM_ACTORS:
            return mac_entry(self.key, entry)
        if self.private is not None and entry.actor == self.acting:
            return sign_entry(self.private, entry)
        raise EvidenceError(
            f"an entry for actor {entry.actor!r} was about to be written, but only "
            f"{self.acting!r} is signed in: nobody may act in another officer's name"
        )


def open_desk(
    run_dir: Path, *, key: bytes | None = None, need_register: bool = True, repair: bool = False
) -> Desk:
    """The desk of `run_dir`, verified (module docstring). EvidenceError naming what is wrong.
    `repair`: the caller holds the desk's lock and may cut a torn last line."""
    folder = run_dir / DESK_DIR
    if key is None:
        key = audit_key(run_dir=run_dir)
    trail, written = open_trail(folder, key, repair=repair)
    register = check_trail(trail.entries, key)
    d = Desk(run_dir, key, trail, written, register)
    trail.signer = d.sign
    if register.policy is None:
        if need_register:
            d.policy  # noqa: B018 - raises the error that says how to bootstrap
        return d
    policy_file = folder / POLICY
    if policy_file.exists() and json.loads(policy_file.read_text()) != policy_to_json(
        register.policy
    ):
        raise EvidenceError(
            f"{policy_file}: differs from the policy fixed on the trail at bootstrap: the file was "
            "edited (the trail's policy is the one that applies); restore it or delete it"
        )
    desk = replay_desk(list(trail.entries), register.policy)
    desk.trail = trail  # from here on, steps go on the run's own trail
    d.desk = desk
    return d


def bootstrap_desk(
    run_dir: Path,
    policy: AccessPolicy,
    register_min_rank: str,
    officer_id: str,
    rank: str,
    public_key: str,
    now: float,
) -> Desk:
    """Fix the policy and enrol the first officer: one OFFICER entry MAC'd by the desk. Needs
    the audit key (made here on first use): whoever holds it is the root of trust."""
    key = audit_key(create=True, run_dir=run_dir)
    d = open_desk(run_dir, key=key, need_register=False, repair=True)
    if d.register.bootstrapped:
        raise EvidenceError(
            f"{d.folder}: the officer register was bootstrapped already; add "
            "officers with `twin evidence officer add`"
        )
    details = OfficerRegister.bootstrap_details(
        policy, register_min_rank, officer_id, rank, public_key, now
    )
    d.trail.append(now, AuditKind.OFFICER, "desk", officer_id, details)
    d.folder.mkdir(parents=True, exist_ok=True)
    (d.folder / POLICY).write_text(json.dumps(policy_to_json(policy), indent=2) + "\n")
    d.save()
    return open_desk(run_dir, key=key)


def authenticate(
    d: Desk, officer_id: str, private: Ed25519PrivateKey, now: float, attempt: str
) -> Officer:
    """The acting officer as the register knows them at `now`, once their key is checked;
    AccessDenied (after a DENIAL entry by the desk, saved) if they are not who they say."""
    rec = d.register.as_of(officer_id, now)
    if rec is None:
        why = (
            f"officer {officer_id!r} is not in the register at t={now:g} (never enrolled, "
            "not yet valid, or revoked): ask an officer of the register's rank to enrol them"
        )
    elif public_key_b64(private) != rec.public_key:
        why = (
            f"the key given for officer {officer_id!r} is not their registered key: sign with "
            "your own key (or have a senior officer enrol your new one)"
        )
    else:
        d.acting, d.private = officer_id, private
        return Officer(officer_id, rec.rank)
    d.trail.append(
        now,
        AuditKind.DENIAL,
        "desk",
        officer_id,
        {"attempt": attempt, "claimed_officer": officer_id, "reason": why},
    )
    d.save()
    raise AccessDenied(why)


def policy_from_scenario(path: Path) -> AccessPolicy:

    sc = load_scenario(path, check_memory=False)  # only its policy is read: no city is built
    if sc.evidence is None:
        raise ScenarioError(
            f"{path}: has no evidence: section, so no access policy; use a scenario with one "
            "(e.g. scenarios/evidence-7000.yaml)"
        )
    a = sc.evidence.access
    return AccessPolicy(
        tuple(a.ranks),
        a.view_min_rank,
        a.export_min_rank,
        a.expire_after_h * 3600.0,
        a.valid_for_h * 3600.0,
    )


def scenario_of(run_dir: Path) -> Path:
    res = run_dir / "results.json"
    if res.exists():
        src = Path(json.loads(res.read_text())["scenario"]["source"])
        if src.exists():
            return src
    raise ScenarioError(
        f"{run_dir}: cannot tell which scenario's access policy applies; pass "
        "--scenario FILE (a scenario with an evidence: section)"
    )


# -- where a live run keeps its catalog and footage ----------------------------------------------


def live_paths(run_dir: Path, catalog: str | None, segments: str | None) -> tuple[Path, Path]:
    files: dict[str, str] = {}
    res = run_dir / "results.json"
    if res.exists():
        files = json.loads(res.read_text()).get("files", {})
    db = Path(catalog) if catalog else run_dir / files.get("catalog", "live/catalog.sqlite")
    root = Path(segments) if segments else run_dir / files.get("segments_root", "live/segments")
    if not db.exists():
        raise EvidenceError(
            f"{db}: no segment catalog (the SQLite file of `twin live`); pass --catalog FILE"
        )
    return db, root
