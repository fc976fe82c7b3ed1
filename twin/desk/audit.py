"""Verifying the audit trails of a run folder: a simulated run's, and the access desk's.

`verify_run_audit` checks every trail a run folder holds: a simulated run's audit.jsonl
(unkeyed, anchored in results.json and audit_anchor.json: `twin simulate` re-derives it),
and the desk's (keyed anchor, chain, the signature or MAC of every entry, the officer
register and the access rules replayed: `open_desk`). Each check gives (ok, one line naming
what is wrong, the first bad line of the file where the chain breaks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twin.core.audit import GENESIS_HASH, AuditAnchor, AuditEntry, parse_jsonl, verify
from twin.desk.desk import open_desk
from twin.errors import AuditError, EvidenceError
from twin.storage.trail import ANCHOR, DESK_DIR, TRAIL

__all__ = ["verify_trail_file", "verify_desk_trail", "verify_run_audit", "SIM_ANCHOR_EVENT"]

# = twin.sim.evidence.ANCHOR_EVENT, not imported so that this module loads without SimPy.
SIM_ANCHOR_EVENT = "evidence.audit_anchor"


def _anchor_from(obj: Any, where: str) -> AuditAnchor:
    try:
        return AuditAnchor(int(obj["count"]), str(obj["head_hash"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise EvidenceError(
            f"{where}: not an audit anchor (expected count and head_hash): {exc}"
        ) from None


def _first_bad_line(entries: list[AuditEntry]) -> str:
    """Where the chain first breaks, as a line of the file (entries are one a line)."""
    prev = GENESIS_HASH
    for i, e in enumerate(entries):
        if e.compute_hash() != e.hash or e.seq != i or e.prev_hash != prev:
            return f"line {i + 1} (seq {e.seq})"
        prev = e.hash
    return f"the end of the file (after line {len(entries)})"


def verify_trail_file(path: Path, anchors: list[tuple[str, AuditAnchor]]) -> tuple[bool, str]:
    """Verify one audit.jsonl against its anchors; (ok, a one-line account)."""
    try:
        entries = parse_jsonl(path.read_text(encoding="ascii"))
    except (AuditError, UnicodeDecodeError) as exc:
        return False, f"{path}: {exc}"
    if not anchors:
        return False, f"{path}: no anchor found, so a cut at its end could not be detected"
    for where, anchor in anchors:
        try:
            verify(entries, anchor)
        except AuditError as exc:
            return False, f"{path}: {_first_bad_line(entries)}: {exc} (anchor: {where})"
    heads = ", ".join(f"{where}" for where, _ in anchors)
    head = entries[-1].hash[:16] if entries else "-"
    return True, f"{path}: {len(entries):,} entries verify; head {head}... matches {heads}"


def _verify_sim_trail(run_dir: Path) -> tuple[bool, str] | None:
    sim = run_dir / TRAIL
    if not sim.exists():
        return None
    anchors: list[tuple[str, AuditAnchor]] = []
    res = run_dir / "results.json"
    if res.exists():
        for ev in json.loads(res.read_text()).get("events", []):
            if ev.get("kind") == SIM_ANCHOR_EVENT:
                anchors.append(("results.json", _anchor_from(ev, str(res))))
    side = run_dir / ANCHOR
    if side.exists():
        anchors.append((ANCHOR, _anchor_from(json.loads(side.read_text()), str(side))))
    ok, line = verify_trail_file(sim, anchors)
    # A simulated trail is a reproducible output of scenario and seed, anchored unkeyed: the
    # proof that it is the real one is to run the scenario again.
    return ok, line + (
        "; unkeyed (a simulation: re-run the scenario to re-derive it)" if ok else ""
    )


def verify_desk_trail(run_dir: Path, key: bytes | None = None) -> tuple[bool, str]:
    """The desk trail: keyed anchor, chain, who vouches for each entry, the register and the
    access rules replayed; (ok, a one-line account naming what is wrong)."""
    path = run_dir / DESK_DIR / TRAIL
    try:
        d = open_desk(run_dir, key=key, need_register=False)
    except EvidenceError as exc:
        return False, f"{path}: {exc}"
    n = len(d.trail)
    head = d.trail.head_hash[:16] if n else "-"
    officers = len({r.officer_id for r in d.register.records()})
    return True, (
        f"{path}: {n:,} entries verify, each signed by its officer or MAC'd by the "
        f"desk; {officers} officer(s) in the register; head {head}... matches the "
        f"keyed {DESK_DIR}/{ANCHOR}"
    )


def verify_run_audit(run_dir: Path, key: bytes | None = None) -> list[tuple[bool, str]]:
    """Every audit trail in a run folder (simulated run, access desk)."""
    found: list[tuple[bool, str]] = []
    sim = _verify_sim_trail(run_dir)
    if sim is not None:
        found.append(sim)
    if (run_dir / DESK_DIR / TRAIL).exists() or (run_dir / DESK_DIR / ANCHOR).exists():
        found.append(verify_desk_trail(run_dir, key))
    if not found:
        raise EvidenceError(
            f"{run_dir}: no audit trail here (expected {TRAIL} from `twin simulate` of a scenario "
            f"with an evidence: section, or {DESK_DIR}/{TRAIL} from the access desk or a live run)"
        )
    return found
