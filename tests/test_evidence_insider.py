"""Evidence and access tried as an insider would, on a run folder they can write to (issue 12).

Each test is one attack on a real desk (made with the real commands, tests/desk.py) and the
answer the desk must give: refused, or detected naming what changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.desk import ev
from tests.test_evidence_cli import live_run  # noqa: F401 - the fixture
from twin.core.audit import AuditKind, AuditTrail, parse_jsonl
from twin.core.signing import sign_entry
from twin.storage.keys import audit_key, load_officer_key, officer_key_path, write_officer_key
from twin.storage.trail import save


def err(capsys) -> str:
    """What the command printed on stderr, with the terminal's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def trail_of(run: Path):
    return parse_jsonl((run / "evidence" / "audit.jsonl").read_text())


def request_export(run: Path, at: float = 1000) -> None:
    assert (
        ev(
            "request",
            run,
            "--at",
            at,
            "--officer",
            "pc-1",
            "--camera",
            "cam-a",
            "--from",
            0,
            "--to",
            35,
            "--action",
            "export",
        )
        == 0
    )


def test_a_rank_claimed_on_the_command_line_is_never_trusted(live_run, capsys):  # noqa: F811
    run = live_run
    request_export(run)
    # pc-2 is registered as a Police Constable: claiming Chief Inspector changes nothing.
    capsys.readouterr()
    assert (
        ev(
            "approve",
            run,
            "req-0001",
            "--at",
            1001,
            "--officer",
            "pc-2",
            "--rank",
            "Chief Inspector",
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "--rank is never trusted and was ignored" in out
    assert "registered rank is 'Police Constable' (not 'Chief Inspector')" in out
    assert "REFUSED" in out and "needs rank 'Chief Inspector' or above" in out
    last = trail_of(run)[-1]
    assert (last.kind, last.actor) == (AuditKind.DENIAL, "pc-2") and last.sig.startswith("ed25519:")
    # The same officer as requester and "Chief Inspector" approver: refused too.
    assert (
        ev(
            "approve",
            run,
            "req-0001",
            "--at",
            1002,
            "--officer",
            "pc-1",
            "--rank",
            "Chief Inspector",
        )
        == 1
    )
    assert ev("status", run, "--at", 1003) == 0
    assert "pending" in capsys.readouterr().out
    # The registered Chief Inspector may, and the trail says with which rank.
    assert ev("approve", run, "req-0001", "--at", 1004, "--officer", "cip-1") == 0
    approval = trail_of(run)[-1]
    assert approval.kind is AuditKind.APPROVAL and approval.details["rank"] == "Chief Inspector"
    assert ev("verify-audit", run) == 0


def test_an_officer_not_in_the_register_or_with_anothers_key_is_refused(live_run, capsys):  # noqa: F811
    run = live_run
    request_export(run)
    write_officer_key("mallory")
    assert (
        ev(
            "approve",
            run,
            "req-0001",
            "--at",
            1001,
            "--officer",
            "mallory",
            "--rank",
            "Superintendent",
        )
        == 1
    )
    assert "'mallory' is not in the register" in capsys.readouterr().out
    # ip-1 signs with cip-1's key file to borrow cip-1's rank: the key is not ip-1's.
    assert (
        ev(
            "approve",
            run,
            "req-0001",
            "--at",
            1002,
            "--officer",
            "ip-1",
            "--key",
            officer_key_path("cip-1"),
        )
        == 1
    )
    assert "not their registered key" in capsys.readouterr().out
    # cip-1's key, used under cip-1's name by someone else, is the one thing no desk can tell
    # apart: keys are personal (docs/evidence.md). Both refusals are on the trail, made by the desk.
    denials = [e for e in trail_of(run) if e.kind is AuditKind.DENIAL and e.actor == "desk"]
    assert [e.subject for e in denials] == ["mallory", "ip-1"]
    assert ev("verify-audit", run) == 0


def test_the_register_changes_only_by_a_senior_enough_registered_officer(live_run, capsys):  # noqa: F811
    run = live_run
    write_officer_key("pc-9")
    from tests.desk import public_key

    key = public_key("pc-9")
    # A constable may not enrol anyone; a Chief Inspector may not mint a Superintendent.
    assert (
        ev(
            "officer",
            "add",
            run,
            "--at",
            10,
            "--officer",
            "pc-1",
            "--new",
            "pc-9",
            "--new-rank",
            "Police Constable",
            "--public-key",
            key,
        )
        == 1
    )
    assert "needs rank 'Chief Inspector' or above" in capsys.readouterr().out
    assert (
        ev(
            "officer",
            "add",
            run,
            "--at",
            11,
            "--officer",
            "cip-1",
            "--new",
            "pc-9",
            "--new-rank",
            "Superintendent",
            "--public-key",
            key,
        )
        == 1
    )
    assert "above their own rank" in capsys.readouterr().out
    # No self-promotion, even by the root officer.
    assert (
        ev(
            "officer",
            "add",
            run,
            "--at",
            12,
            "--officer",
            "cip-1",
            "--new",
            "cip-1",
            "--new-rank",
            "Chief Inspector",
            "--public-key",
            public_key("cip-1"),
        )
        == 1
    )
    assert "may not enrol themselves" in capsys.readouterr().out
    # A second bootstrap (a new root) is refused.
    assert (
        ev(
            "officer",
            "init",
            run,
            "--at",
            13,
            "--officer",
            "pc-9",
            "--rank",
            "Superintendent",
            "--public-key",
            key,
            "--scenario",
            Path(__file__).resolve().parent.parent / "scenarios" / "evidence-7000.yaml",
        )
        == 3
    )
    # A revoked officer acts no more, and what they did before still verifies.
    request_export(run, at=100)
    assert (
        ev(
            "officer",
            "revoke",
            run,
            "--at",
            200,
            "--officer",
            "supt-1",
            "--target",
            "pc-1",
            "--reason",
            "left the force",
        )
        == 0
    )
    assert (
        ev(
            "request",
            run,
            "--at",
            300,
            "--officer",
            "pc-1",
            "--camera",
            "cam-a",
            "--from",
            0,
            "--to",
            10,
        )
        == 1
    )
    assert "'pc-1' is not in the register at t=300" in capsys.readouterr().out
    assert ev("verify-audit", run) == 0
    assert ev("officer", "list", run, "--at", 300) == 0
    listing = capsys.readouterr().out
    assert "pc-1" in listing and "[0, 200)" in listing


def _forge(run: Path, signer, actor: str, kind: AuditKind, details: dict) -> None:
    """Append an entry to the desk trail and re-anchor it with the real audit key: the
    strongest insider there is short of holding an officer's key, so only the signature
    check can catch it."""
    folder = run / "evidence"
    entries = trail_of(run)
    trail = AuditTrail.from_entries(entries)
    trail.signer = signer
    trail.append(entries[-1].at_s + 1, kind, actor, "req-0001", details)
    save(folder, trail, len(entries), audit_key())


@pytest.mark.parametrize("how", ["another officer's key", "unsigned"])
def test_an_entry_signed_with_another_key_or_unsigned_fails_verify_audit(live_run, capsys, how):  # noqa: F811
    run = live_run
    request_export(run)
    ip1 = load_officer_key("ip-1")
    signer = (lambda e: sign_entry(ip1, e)) if how != "unsigned" else None
    _forge(
        run,
        signer,
        "cip-1",
        AuditKind.APPROVAL,
        {
            "rank": "Chief Inspector",
            "required_rank": "Chief Inspector",
            "action": "export",
            "cameras": ["cam-a"],
            "window": [0.0, 35.0],
            "expires_at_s": 90000.0,
        },
    )
    capsys.readouterr()
    assert ev("verify-audit", run) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "approval by 'cip-1'" in out
    if how == "unsigned":
        assert "is unsigned" in out
    else:
        assert "is signed with officer 'ip-1''s key, not 'cip-1''s" in out
    # And the desk refuses to work on such a trail.
    assert (
        ev("export", run, "req-0001", "--at", 5000, "--officer", "pc-1", "--dest", run.parent / "x")
        == 3
    )


def test_an_approval_by_a_registered_but_junior_officer_signed_by_them_fails_the_rules(
    live_run,  # noqa: F811 - the fixture imported from tests.test_evidence_cli
    capsys,
):
    """ip-1 holds their own key and writes an approval in their own name, re-anchored."""
    run = live_run
    request_export(run)
    ip1 = load_officer_key("ip-1")
    _forge(
        run,
        lambda e: sign_entry(ip1, e),
        "ip-1",
        AuditKind.APPROVAL,
        {
            "rank": "Inspector",
            "required_rank": "Chief Inspector",
            "action": "export",
            "cameras": ["cam-a"],
            "window": [0.0, 35.0],
            "expires_at_s": 90000.0,
        },
    )
    assert ev("verify-audit", run) == 1
    assert "needs rank 'Chief Inspector' or above" in capsys.readouterr().out


def test_a_resealed_manifest_is_caught_naming_the_file(live_run, tmp_path, capsys):  # noqa: F811
    from twin.core.manifest import _manifest_hash

    run, dest = live_run, tmp_path / "export"
    request_export(run)
    assert ev("approve", run, "req-0001", "--at", 1001, "--officer", "cip-1") == 0
    assert ev("export", run, "req-0001", "--at", 1002, "--officer", "pc-1", "--dest", dest) == 0
    assert ev("verify", dest) == 0
    # One byte of a copied file changed, its hash put in the manifest, the manifest re-sealed
    # with the project's own function: the manifest is self-consistent again.
    manifest = json.loads((dest / "manifest.json").read_text())
    victim = manifest["files"][1]
    path = dest / victim["evidence_key"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    victim["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    manifest["manifest_sha256"] = _manifest_hash(manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    capsys.readouterr()
    assert ev("verify", dest, "--run", run) == 1
    out = capsys.readouterr().out
    assert "was re-sealed after export" in out
    assert f"file {victim['evidence_key']}: sha256 is {victim['sha256'][:16]}" in out
    assert f"{victim['evidence_key']} hashes to {victim['sha256'][:16]}" in out
    recorded = [e for e in trail_of(run) if e.kind is AuditKind.COPY][-1]
    assert f"the trail recorded at the export of req-0001 (seq {recorded.seq}" in out


def test_a_cut_trail_is_caught_however_it_is_re_anchored(live_run, capsys):  # noqa: F811
    from twin.core.audit import AuditAnchor
    from twin.core.signing import anchor_mac

    run = live_run
    request_export(run)
    assert ev("approve", run, "req-0001", "--at", 1001, "--officer", "ip-1") == 1  # a DENIAL
    folder = run / "evidence"
    lines = (folder / "audit.jsonl").read_text().splitlines(keepends=True)
    cut = parse_jsonl("".join(lines[:-1]))
    (folder / "audit.jsonl").write_text("".join(lines[:-1]))
    capsys.readouterr()
    # 1. The anchor left as it was.
    assert ev("verify-audit", run) == 1
    assert (
        f"has {len(cut)} entries but its keyed anchor records {len(lines)}"
        in capsys.readouterr().out
    )
    # 2. Re-anchored as the old desk did (no key), 3. with a key of the attacker's own.
    head = {"count": len(cut), "head_hash": cut[-1].hash}
    for anchor in (
        head,
        {
            **head,
            "trail": "evidence/audit.jsonl",
            "hmac_sha256": anchor_mac(
                b"k" * 32, AuditAnchor(len(cut), cut[-1].hash), "evidence/audit.jsonl"
            ),
        },
    ):
        (folder / "audit_anchor.json").write_text(json.dumps(anchor))
        assert ev("verify-audit", run) == 1
        out = capsys.readouterr().out
        assert "audit_anchor.json" in out and "FAILED" in out
        assert ("not a keyed audit anchor" in out) or (
            f"the anchor (count {len(cut)}, head {cut[-1].hash[:16]}...) does not carry the "
            "audit key's MAC: it was rewritten" in out
        )


def test_an_edited_policy_file_is_caught(live_run, capsys):  # noqa: F811
    run = live_run
    policy = run / "evidence" / "policy.json"
    raw = json.loads(policy.read_text())
    raw["export_min_rank"] = "Police Constable"
    policy.write_text(json.dumps(raw))
    assert ev("approve", run, "req-0001", "--at", 10, "--officer", "pc-2") == 3
    assert "differs from the policy fixed on the trail at bootstrap" in err(capsys)


def test_keys_inside_the_run_folder_are_refused(live_run, capsys, monkeypatch):  # noqa: F811
    run = live_run
    monkeypatch.setenv("CCTV_TWIN_AUDIT_KEY", str(run / "audit.key"))
    assert ev("status", run) == 3
    assert "is inside the run folder" in err(capsys)


def test_a_writer_killed_between_append_and_anchor_leaves_a_trail_that_still_works(
    live_run,  # noqa: F811 - the fixture imported from tests.test_evidence_cli
    capsys,
):
    """A sweeper killed with kill -9 after appending its DELETION line (and half of a next
    one) but before moving the anchor: the vouched-for tail is kept, the torn line cut; an
    unvouched tail line is not accepted."""
    from twin.core.signing import mac_entry

    run = live_run
    folder = run / "evidence"
    entries = trail_of(run)
    trail = AuditTrail.from_entries(entries)
    key = audit_key()
    trail.signer = lambda e: mac_entry(key, e)
    trail.append(
        entries[-1].at_s + 1,
        AuditKind.DELETION,
        "sweeper",
        "retention",
        {"what": "footage past retention", "segments": 1, "bytes": 10},
    )
    with (folder / "audit.jsonl").open("a") as f:
        f.write(trail.to_jsonl(start=len(entries)))
        f.write('{"actor":"sweeper","at_s":')  # torn: the process died mid-write
    assert ev("verify-audit", run) == 1  # a reader does not repair
    capsys.readouterr()
    assert ev("status", run) == 0  # a writer, under the lock, does
    assert (folder / "audit.jsonl").read_text().endswith("\n")
    assert ev("verify-audit", run) == 0
    # The same tail line with its MAC removed: not vouched for, not accepted.
    lines = (folder / "audit.jsonl").read_text().splitlines(keepends=True)
    obj = json.loads(lines[-1])
    del obj["sig"]
    lines[-1] = json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"
    (folder / "audit.jsonl").write_text("".join(lines))
    capsys.readouterr()
    assert ev("verify-audit", run) == 1
    assert "is unsigned" in capsys.readouterr().out
