"""The officer register and who vouches for each entry: the core, without files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twin.core.access import AccessPolicy
from twin.core.audit import AuditKind, AuditTrail, parse_jsonl
from twin.core.catalog import RunCatalog
from twin.core.officers import OfficerRegister, check_trail
from twin.core.signing import mac_entry, public_key_b64, sign_entry
from twin.core.sweep import RetentionSweep
from twin.core.types import Interval
from twin.errors import EvidenceError

RANKS = ("Police Constable", "Inspector", "Chief Inspector", "Superintendent")
POLICY = AccessPolicy(RANKS, "Inspector", "Chief Inspector", 3600.0, 3600.0)
KEY = b"k" * 32
KEYS = {o: Ed25519PrivateKey.generate() for o in ("root", "ci", "pc", "pc2")}


def signer(entry):
    if entry.actor == "desk":
        return mac_entry(KEY, entry)
    return sign_entry(KEYS[entry.actor], entry)


def desk_trail() -> AuditTrail:
    """root (Superintendent, bootstrapped) enrols ci at t=1, who enrols pc at t=2."""
    trail = AuditTrail(signer)
    reg = OfficerRegister()
    d = OfficerRegister.bootstrap_details(
        POLICY, "Chief Inspector", "root", "Superintendent", public_key_b64(KEYS["root"]), 0.0
    )
    reg.apply(trail.append(0.0, AuditKind.OFFICER, "desk", "root", d))
    reg.apply(
        trail.append(
            1.0,
            AuditKind.OFFICER,
            "root",
            "ci",
            reg.enrol_details("root", "ci", "Chief Inspector", public_key_b64(KEYS["ci"]), 1.0),
        )
    )
    reg.apply(
        trail.append(
            2.0,
            AuditKind.OFFICER,
            "ci",
            "pc",
            reg.enrol_details("ci", "pc", "Police Constable", public_key_b64(KEYS["pc"]), 2.0),
        )
    )
    return trail


def test_a_signed_trail_verifies_and_its_register_answers_as_of_any_time() -> None:
    trail = desk_trail()
    trail.append(3.0, AuditKind.REQUEST, "pc", "req-1", {"rank": "Police Constable"})
    again = parse_jsonl(trail.to_jsonl())  # signatures survive the file format
    assert [e.sig for e in again] == [e.sig for e in trail.entries]
    reg = check_trail(again, KEY)
    assert reg.as_of("pc", 1.5) is None and reg.as_of("pc", 2.0).rank == "Police Constable"
    assert reg.as_of("ci", 5.0).enrolled_by == "root" and reg.policy == POLICY


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        ("another key", "is signed with officer 'pc2''s key, not 'pc''s"),
        ("no signature", "is unsigned"),
        ("desk MAC on an officer's entry", "carries a MAC instead of the officer's signature"),
        ("officer signature on a desk entry", "carries an officer's signature that the audit key"),
        ("claimed rank", "records rank 'Chief Inspector', but 'pc''s registered rank then was"),
        ("not yet enrolled", "'pc' is not an officer in the register at that time"),
    ],
)
def test_who_vouches_is_checked_for_every_entry(attack: str, message: str) -> None:
    trail = desk_trail()
    at, actor, details = 3.0, "pc", {"rank": "Police Constable"}
    if attack == "not yet enrolled":
        trail = AuditTrail.from_entries(trail.entries[:2])
        trail.signer = signer
        at = 1.5
    if attack == "claimed rank":
        details = {"rank": "Chief Inspector"}
    if attack == "officer signature on a desk entry":
        actor = "desk"
    entry = trail.append(at, AuditKind.REQUEST, actor, "req-1", details)
    forged = {
        "another key": lambda e: sign_entry(KEYS["pc2"], e),
        "no signature": lambda e: "",
        "desk MAC on an officer's entry": lambda e: mac_entry(KEY, e),
        "officer signature on a desk entry": lambda e: sign_entry(KEYS["pc"], e),
    }.get(attack)
    entries = list(trail.entries)
    if forged is not None:
        entries[-1] = dataclasses.replace(entry, sig=forged(entry))
    if attack == "another key":  # make pc2 an officer too, so the checker can name the key
        reg_entries = entries[:-1]
        reg = check_trail(reg_entries, KEY)
        t = AuditTrail.from_entries(reg_entries)
        t.signer = signer
        t.append(
            2.5,
            AuditKind.OFFICER,
            "ci",
            "pc2",
            reg.enrol_details("ci", "pc2", "Police Constable", public_key_b64(KEYS["pc2"]), 2.5),
        )
        e = t.append(3.0, AuditKind.REQUEST, "pc", "req-1", details)
        entries = [*t.entries[:-1], dataclasses.replace(e, sig=sign_entry(KEYS["pc2"], e))]
    with pytest.raises(EvidenceError, match=message):
        check_trail(entries, KEY)


def test_the_registers_own_rules_hold_on_replay() -> None:
    trail = desk_trail()
    reg = check_trail(trail.entries, KEY)
    with pytest.raises(EvidenceError, match="needs rank 'Chief Inspector' or above"):
        reg.enrol_details("pc", "pc2", "Police Constable", public_key_b64(KEYS["pc2"]), 5.0)
    with pytest.raises(EvidenceError, match="above their own rank"):
        reg.enrol_details("ci", "pc2", "Superintendent", public_key_b64(KEYS["pc2"]), 5.0)
    with pytest.raises(EvidenceError, match="never changed backwards"):
        reg.enrol_details("ci", "pc2", "Inspector", public_key_b64(KEYS["pc2"]), 5.0, 4.0)
    with pytest.raises(EvidenceError, match="senior to them"):
        reg.revoke_details("ci", "root", 5.0, "coup")
    # A forged OFFICER entry, signed by a constable, fails on replay even with a valid key.
    t = AuditTrail.from_entries(trail.entries)
    t.signer = signer
    t.append(
        5.0,
        AuditKind.OFFICER,
        "pc",
        "pc",
        {
            "op": "enrol",
            "officer": "pc",
            "rank": "Superintendent",
            "public_key": public_key_b64(KEYS["pc"]),
            "valid_from_s": 5.0,
            "valid_to_s": None,
        },
    )
    with pytest.raises(EvidenceError, match="seq 3: officer 'pc' .* may not enrol officers"):
        check_trail(t.entries, KEY)
    # A promotion ends the old record where the new one starts; a revocation ends it now.
    promoted = OfficerRegister()
    for e in trail.entries:
        promoted.apply(e)
    promoted.apply(
        dataclasses.replace(
            trail.entries[2],
            seq=3,
            at_s=6.0,
            details_json=(
                '{"officer":"pc","op":"enrol","public_key":"%s","rank":"Inspector",'
                '"valid_from_s":7.0,"valid_to_s":null}' % public_key_b64(KEYS["pc"])
            ),
        )
    )
    assert promoted.as_of("pc", 6.5).rank == "Police Constable"
    assert promoted.as_of("pc", 7.0).rank == "Inspector"


def test_one_sweep_use_case_plans_carries_out_applies_and_audits() -> None:
    cat = RunCatalog(["c1", "c2"], ["r1"])
    for cam in (0, 1):
        for k in range(5):
            cat.add_segment(cam, 0, 10.0 * k, 10.0 * k + 10, 100, f"c{cam}-{k}")
    cat.hold("h", 1, Interval(0, 10), np.inf)
    sweep = RetentionSweep(cat, retention_s=20.0, max_segments=100)
    trail = AuditTrail()
    seen: list[str] = []
    out = sweep.sweep(
        60.0,
        delete=lambda refs: seen.extend(r.key for r in refs) or {"missing_files": 0},
        trail=trail,
        audit_at_s=1000.0,
        run_clock_s=60.0,
    )
    # Due: segments ending by 40 (0..3 of each camera), but c2's first one is held.
    assert seen == ["c0-0", "c0-1", "c0-2", "c0-3", "c1-1", "c1-2", "c1-3"]
    assert [r.key for r in out.deleted] == seen and out.freed_by_recorder.tolist() == [700.0]
    e = out.audit
    assert (e.kind, e.actor, e.at_s) == (AuditKind.DELETION, "sweeper", 1000.0)
    assert e.details == {
        "what": "footage past retention",
        "segments": 7,
        "bytes": 700,
        "retention_s": 20.0,
        "missing_files": 0,
        "run_clock_s": 60.0,
    }
    # Nothing more due: no entry; the simulation's way (audit on its own) gives the same.
    assert sweep.sweep(60.0, trail=trail).audit is None and len(trail) == 1
    cat.release("h")
    sweep.sweep(61.0)
    assert (
        sweep.audit(trail, 1001.0).details["segments"] == 1 and sweep.audit(trail, 1002.0) is None
    )
