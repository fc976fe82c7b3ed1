"""The access desk of a run folder, on disk: its signed trail, register, exports and holds.

Theory of operation
-------------------
This module is an adapter: the decisions are the core's (twin/core/access.py, evidence.py,
audit.py, officers.py, signing.py); here are the files. The desk has no store of its own: its
audit trail (`evidence/audit.jsonl`, twin/desk_trail.py) IS its state. Opening a desk
(`open_desk`) reads the trail, checks its keyed anchor and chain, checks who vouches for every
entry and replays the officer register from it (`check_trail`), and replays the requests,
decisions, expiries and uses into a fresh AccessDesk under the policy fixed at bootstrap.

The acting officer is known, not claimed: `authenticate` finds them in the register as of now
and checks that the private key they hold is the one registered; their rank is the
registered one. From then on every entry the step appends is signed with that key (entries of
the desk's own components with the audit key's MAC). An officer who is not in the register,
or whose key is not theirs, is refused with a DENIAL entry made by the desk.

Exports (`export_request`) write the copies and `manifest.json` into the destination, keep the
authentic manifest at `evidence/exports/<request>.manifest.json`, and put its hash on the
trail; `verify_export` checks the files against the manifest AND the manifest against the hash
on the trail, so a manifest re-sealed after a file was changed is caught, naming the file.

Preservation of live footage (`preserve_case`, `copy_case`, `release_case`) is the
simulation's: the core EvidenceLocker plans the case, its holds become rows of the live
catalog's `holds` table (which the live sweeper obeys, across restarts), the copies are made
with their SHA-256 under `evidence/cases/<case>/`, their holds are released, and the case is
closed and its copies purged, each step signed on the trail.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twin.core.access import AccessDesk, AccessPolicy, AccessRequest, Action, Officer, RequestState
from twin.core.audit import (
    GENESIS_HASH,
    AuditAnchor,
    AuditEntry,
    AuditKind,
    AuditTrail,
    canonical_json,
    parse_jsonl,
    verify,
)
from twin.core.cases import CaseState
from twin.core.evidence import HOLD_PREFIX, EvidenceLocker
from twin.core.manifest import build_manifest, verify_manifest
from twin.core.officers import OfficerRegister, check_trail, policy_to_json
from twin.core.preservation import PreservationPlan, PreservationRequest, plan_preservation
from twin.core.signing import SYSTEM_ACTORS, mac_entry, public_key_b64, sign_entry
from twin.core.types import Interval, SegmentRef
from twin.desk_trail import ANCHOR, DESK_DIR, TRAIL, open_trail, save
from twin.errors import AccessDenied, AuditError, EvidenceError, ScenarioError
from twin.keys import audit_key

__all__ = [
    "Desk", "open_desk", "bootstrap_desk", "authenticate", "replay_desk", "verify_run_audit",
    "stored_segments", "export_footage", "export_request", "verify_export", "preserve_case",
    "copy_case", "release_case", "case_locker", "policy_from_scenario", "scenario_of",
    "live_paths",
]

POLICY = "policy.json"
EXPORTS = "exports"
CASES = "cases"
# = twin.sim.evidence.ANCHOR_EVENT, not imported so that this module loads without SimPy.
SIM_ANCHOR_EVENT = "evidence.audit_anchor"


# -- audit trails ------------------------------------------------------------------------------


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
    return ok, line + ("; unkeyed (a simulation: re-run the scenario to re-derive it)" if ok else "")


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
    return True, (f"{path}: {n:,} entries verify, each signed by its officer or MAC'd by the "
                  f"desk; {officers} officer(s) in the register; head {head}... matches the "
                  f"keyed {DESK_DIR}/{ANCHOR}")


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
            f"with an evidence: section, or {DESK_DIR}/{TRAIL} from the access desk or a live run)")
    return found


# -- the access desk, rebuilt from its trail ---------------------------------------------------


def replay_desk(entries: list[AuditEntry], policy: AccessPolicy) -> AccessDesk:
    """An AccessDesk in the state the (verified) entries leave it in. Raises EvidenceError if
    an entry cannot be replayed (the trail and the policy disagree)."""
    desk = AccessDesk(policy, AuditTrail())
    for e in entries:
        d = e.details
        try:
            if e.kind is AuditKind.REQUEST:
                desk.submit(AccessRequest(
                    e.subject, Officer(e.actor, d["rank"]), d["case_id"], Action(d["action"]),
                    tuple(d["cameras"]), Interval(*d["window"]), e.at_s))
            elif e.kind is AuditKind.APPROVAL:
                desk.approve(e.subject, Officer(e.actor, d["rank"]), e.at_s,
                             cameras=d["cameras"], window=Interval(*d["window"]))
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
                desk.authorize_use(e.subject, action, e.at_s, officer_id=e.actor,
                                   cameras=d["cameras"], window=Interval(*d["window"]))
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
                "bootstrap it with `twin evidence officer init` (see README, 'Officers')")
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
            f"{self.acting!r} is signed in: nobody may act in another officer's name")


def open_desk(run_dir: Path, *, key: bytes | None = None, need_register: bool = True,
              repair: bool = False) -> Desk:
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
    if policy_file.exists() and json.loads(policy_file.read_text()) != policy_to_json(register.policy):
        raise EvidenceError(
            f"{policy_file}: differs from the policy fixed on the trail at bootstrap: the file was "
            "edited (the trail's policy is the one that applies); restore it or delete it")
    desk = replay_desk(list(trail.entries), register.policy)
    desk.trail = trail  # from here on, steps go on the run's own trail
    d.desk = desk
    return d


def bootstrap_desk(run_dir: Path, policy: AccessPolicy, register_min_rank: str, officer_id: str,
                   rank: str, public_key: str, now: float) -> Desk:
    """Fix the policy and enrol the first officer: one OFFICER entry MAC'd by the desk. Needs
    the audit key (made here on first use): whoever holds it is the root of trust."""
    key = audit_key(create=True, run_dir=run_dir)
    d = open_desk(run_dir, key=key, need_register=False, repair=True)
    if d.register.bootstrapped:
        raise EvidenceError(f"{d.folder}: the officer register was bootstrapped already; add "
                            "officers with `twin evidence officer add`")
    details = OfficerRegister.bootstrap_details(policy, register_min_rank, officer_id, rank,
                                                public_key, now)
    d.trail.append(now, AuditKind.OFFICER, "desk", officer_id, details)
    d.folder.mkdir(parents=True, exist_ok=True)
    (d.folder / POLICY).write_text(json.dumps(policy_to_json(policy), indent=2) + "\n")
    d.save()
    return open_desk(run_dir, key=key)


def authenticate(d: Desk, officer_id: str, private: Ed25519PrivateKey, now: float,
                 attempt: str) -> Officer:
    """The acting officer as the register knows them at `now`, once their key is checked;
    AccessDenied (after a DENIAL entry by the desk, saved) if they are not who they say."""
    rec = d.register.as_of(officer_id, now)
    if rec is None:
        why = (f"officer {officer_id!r} is not in the register at t={now:g} (never enrolled, "
               "not yet valid, or revoked): ask an officer of the register's rank to enrol them")
    elif public_key_b64(private) != rec.public_key:
        why = (f"the key given for officer {officer_id!r} is not their registered key: sign with "
               "your own key (or have a senior officer enrol your new one)")
    else:
        d.acting, d.private = officer_id, private
        return Officer(officer_id, rec.rank)
    d.trail.append(now, AuditKind.DENIAL, "desk", officer_id,
                   {"attempt": attempt, "claimed_officer": officer_id, "reason": why})
    d.save()
    raise AccessDenied(why)


def policy_from_scenario(path: Path) -> AccessPolicy:
    from twin.scenario import load_scenario

    sc = load_scenario(path, check_memory=False)  # only its policy is read: no city is built
    if sc.evidence is None:
        raise ScenarioError(
            f"{path}: has no evidence: section, so no access policy; use a scenario with one "
            "(e.g. scenarios/evidence-7000.yaml)"
        )
    a = sc.evidence.access
    return AccessPolicy(tuple(a.ranks), a.view_min_rank, a.export_min_rank,
                        a.expire_after_h * 3600.0, a.valid_for_h * 3600.0)


def scenario_of(run_dir: Path) -> Path:
    res = run_dir / "results.json"
    if res.exists():
        src = Path(json.loads(res.read_text())["scenario"]["source"])
        if src.exists():
            return src
    raise ScenarioError(f"{run_dir}: cannot tell which scenario's access policy applies; pass "
                        "--scenario FILE (a scenario with an evidence: section)")


# -- the live catalog and exports --------------------------------------------------------------


def live_paths(run_dir: Path, catalog: str | None, segments: str | None) -> tuple[Path, Path]:
    files: dict[str, str] = {}
    res = run_dir / "results.json"
    if res.exists():
        files = json.loads(res.read_text()).get("files", {})
    db = Path(catalog) if catalog else run_dir / files.get("catalog", "live/catalog.sqlite")
    root = Path(segments) if segments else run_dir / files.get("segments_root", "live/segments")
    if not db.exists():
        raise EvidenceError(f"{db}: no segment catalog (the SQLite file of `twin live`); "
                            "pass --catalog FILE")
    return db, root


def stored_segments(db: Path, cameras: tuple[str, ...], window: Interval) -> list[SegmentRef]:
    """Stored segments of `cameras` overlapping `window`, from the live catalog (read only).
    A SegmentRef's key is `<recorder>/<key>`: the file's path under the segment root."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(cameras))
        rows = con.execute(
            "SELECT camera, recorder, start_s, end_s, size_bytes, key, sha256 FROM segments "
            f"WHERE state = 'stored' AND camera IN ({marks}) AND start_s < ? AND end_s > ? "
            "ORDER BY camera, start_s, key",
            (*cameras, window.end_s, window.start_s)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise EvidenceError(f"{db}: not a live segment catalog ({exc})") from None
    finally:
        con.close()
    return [SegmentRef(cam, float(a), float(b), int(n), f"{rec}/{key}", rec, sha)
            for cam, rec, a, b, n, key, sha in rows]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_footage(segments: list[SegmentRef], root: Path, dest: Path, case_id: str,
                   cameras: tuple[str, ...], window: Interval, now: float) -> dict[str, Any]:
    """Copy the segments' files into `dest` and return the sealed manifest (also written as
    dest/manifest.json). A file gone since the catalog was read is listed as missing footage."""
    dest.mkdir(parents=True, exist_ok=True)
    copied: list[tuple[SegmentRef, str, str]] = []
    for seg in segments:
        src = root / seg.key
        out = dest / seg.key
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(src, out)
        except FileNotFoundError:
            continue  # swept since the query: counted below as missing
        copied.append((seg, _sha256_file(out), seg.key))
    request = PreservationRequest(case_id, cameras, window, max(now, window.end_s), "export")
    plan = plan_preservation(request, [c[0] for c in copied])
    manifest = build_manifest(case_id, copied, missing=plan.missing())
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest





def export_request(d: Desk, request_id: str, officer: Officer, now: float, db: Path, root: Path,
                   dest: Path, shown_dest: Path | None = None) -> dict[str, Any]:
    """Export approved footage (AccessDenied, audited, if not allowed): the EXPORT entry goes
    on the trail before anything is copied; then the copies, the manifest, the authentic
    manifest kept with the desk, and a COPY entry with the manifest's hash."""
    grant = d.access.authorize_use(request_id, Action.EXPORT, now, officer_id=officer.officer_id)
    d.save()
    segments = stored_segments(db, grant.cameras, grant.window)
    manifest = export_footage(segments, root, dest, grant.case_id, grant.cameras, grant.window, now)
    kept = d.folder / EXPORTS / f"{request_id}.manifest.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    entry = d.trail.append(now, AuditKind.COPY, officer.officer_id, request_id, {
        "what": "export", "case_id": grant.case_id, "manifest_sha256": manifest["manifest_sha256"],
        "file_count": manifest["file_count"], "total_bytes": manifest["total_bytes"],
        "missing": len(manifest["missing"]), "dest": str(shown_dest or dest)})
    d.save()
    (dest / "export.json").write_text(json.dumps(
        {"run_dir": str(d.run_dir.resolve()), "request_id": request_id, "seq": entry.seq},
        indent=2) + "\n")
    return manifest


def _files_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(f.get("evidence_key")): f for f in manifest.get("files", [])
            if isinstance(f, dict)}


def _manifest_changes(now: dict[str, Any], then: dict[str, Any]) -> list[str]:
    """What differs between a manifest and the one sealed at export, by field and file."""
    out: list[str] = []
    a, b = _files_of(now), _files_of(then)
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append(f"file {k} was dropped from the manifest")
        elif k not in b:
            out.append(f"file {k} was added to the manifest")
        else:
            for field in sorted(set(a[k]) | set(b[k])):
                if a[k].get(field) != b[k].get(field):
                    out.append(f"file {k}: {field} is {str(a[k].get(field))[:16]}..., was "
                               f"{str(b[k].get(field))[:16]}... at export")
    for field in sorted((set(now) | set(then)) - {"files", "manifest_sha256"}):
        if now.get(field) != then.get(field):
            out.append(f"{field} is {now.get(field)!r}, was {then.get(field)!r} at export")
    return out


def verify_export(dest: Path, run_dir: Path | None = None) -> tuple[bool, str]:
    """Check an export folder: its files against its manifest, and its manifest against the
    hash the run's verified trail recorded at export (the run: `run_dir`, else the one
    dest/export.json names)."""
    path = dest / "manifest.json"
    if not path.exists():
        raise EvidenceError(f"{path}: no manifest; pass the folder `twin evidence export` wrote")
    manifest = json.loads(path.read_text())
    side: dict[str, Any] = {}
    if (dest / "export.json").exists():
        side = json.loads((dest / "export.json").read_text())
    if run_dir is None:
        if "run_dir" not in side:
            raise EvidenceError(f"{dest}: no export.json naming the run; pass --run RUN_DIR (the "
                                "run folder whose desk made the export)")
        run_dir = Path(side["run_dir"])
    d = open_desk(run_dir)  # a trail that does not verify proves nothing: EvidenceError
    exports = [e for e in d.trail.entries if e.kind is AuditKind.COPY
               and e.details.get("what") == "export"
               and e.details.get("case_id") == manifest.get("case_id")
               and (not side.get("request_id") or e.subject == side["request_id"])]
    problems: list[str] = []
    sealed = manifest
    if not exports:
        problems.append(f"no export of case {manifest.get('case_id')!r} is on the trail of "
                        f"{run_dir}: the manifest was not made by this desk")
    else:
        e = exports[-1]
        recorded = e.details["manifest_sha256"]
        where = f"export of {e.subject} (seq {e.seq}, by {e.actor})"
        if manifest.get("manifest_sha256") != recorded:
            kept = d.folder / EXPORTS / f"{e.subject}.manifest.json"
            original = json.loads(kept.read_text()) if kept.exists() else None
            if original is not None and original.get("manifest_sha256") == recorded and \
                    verify_manifest(original, {}).manifest_intact:
                sealed = original
                changes = _manifest_changes(manifest, original)
                problems.append(f"the manifest's hash {str(manifest.get('manifest_sha256'))[:16]}... "
                                f"is not the {recorded[:16]}... the trail recorded at the {where}: it "
                                "was re-sealed after export (" + "; ".join(changes) + ")")
            else:
                problems.append(f"the manifest's hash {str(manifest.get('manifest_sha256'))[:16]}... "
                                f"is not the {recorded[:16]}... the trail recorded at the {where}: it "
                                "was changed after export (and the desk's copy is gone or altered)")
    hashes = {p.relative_to(dest).as_posix(): _sha256_file(p) for p in sorted(dest.rglob("*"))
              if p.is_file() and p.name not in ("manifest.json", "export.json")}
    check = verify_manifest(sealed, hashes)
    if not check.manifest_intact:
        problems.append("the manifest was edited (its own hash does not match)")
    problems += [f"{k} is missing" for k in check.missing]
    problems += [f"{k} hashes to {found[:16]}..., the manifest sealed at export says {exp[:16]}..."
                 for k, exp, found in check.mismatched]
    if not problems:
        return True, (f"{path}: intact; {manifest['file_count']} files, "
                      f"{manifest['total_bytes']:,} bytes match their SHA-256; "
                      f"{len(manifest['missing'])} missing interval(s) declared; "
                      f"manifest {manifest['manifest_sha256'][:16]}... is the one on the trail of "
                      f"{run_dir} ({exports[-1].subject}, seq {exports[-1].seq})")
    return False, f"{path}: " + "; ".join(problems)


# -- preservation of live footage ------------------------------------------------------------


def _case_dir(d: Desk, case_id: str) -> Path:
    if not case_id or "/" in case_id or case_id.startswith("."):
        raise EvidenceError(f"case id {case_id!r} must be a plain name (no '/', not hidden)")
    return d.folder / CASES / case_id


def _plan_json(request: PreservationRequest, segments: list[SegmentRef]) -> str:
    return canonical_json({
        "case_id": request.case_id, "cameras": list(request.cameras),
        "window": [request.window.start_s, request.window.end_s],
        "requested_at_s": request.requested_at_s, "requested_by": request.requested_by,
        "segments": [[s.camera, s.start_s, s.end_s, s.bytes, s.key, s.recorder, s.sha256]
                     for s in segments]})


def _load_plan(d: Desk, case_id: str, entry: AuditEntry) -> tuple[PreservationPlan, str]:
    path = _case_dir(d, case_id) / "plan.json"
    if not path.exists():
        raise EvidenceError(f"{path}: the plan of case {case_id!r} is gone; restore it")
    text = path.read_text(encoding="ascii")
    if hashlib.sha256(text.encode("ascii")).hexdigest() != entry.details.get("plan_sha256"):
        raise EvidenceError(f"{path}: does not hash to the plan_sha256 on the trail (seq "
                            f"{entry.seq}): the plan was edited; restore it")
    raw = json.loads(text)
    request = PreservationRequest(raw["case_id"], tuple(raw["cameras"]), Interval(*raw["window"]),
                                  raw["requested_at_s"], raw["requested_by"])
    segs = [SegmentRef(c, a, b, n, k, r, h) for c, a, b, n, k, r, h in raw["segments"]]
    return plan_preservation(request, segs), text


def case_locker(d: Desk, case_id: str) -> EvidenceLocker:
    """The case's EvidenceLocker, rebuilt by replaying the trail's entries about it with the
    case's files (plan, copies); each replayed entry must equal the one on the trail."""
    scratch = AuditTrail()
    locker = EvidenceLocker(scratch)
    mine = [e for e in d.trail.entries if e.subject == case_id and e.kind in (
        AuditKind.PRESERVATION, AuditKind.COPY, AuditKind.RELEASE, AuditKind.DELETION)]
    if not mine or mine[0].kind is not AuditKind.PRESERVATION:
        raise EvidenceError(f"there is no preservation case {case_id!r} on the trail of "
                            f"{d.run_dir}: open it with `twin evidence preserve`")
    copies_path = _case_dir(d, case_id) / "copies.json"
    batches = json.loads(copies_path.read_text()) if copies_path.exists() else []
    batch = 0
    for e in mine:
        if len(scratch) > 0 and scratch.entries[-1].at_s > e.at_s:
            raise EvidenceError(f"case {case_id!r}: entries out of time order at seq {e.seq}")
        n0 = len(scratch)
        if e.kind is AuditKind.PRESERVATION:
            plan, _ = _load_plan(d, case_id, e)
            locker.open_case(plan, e.at_s, extra={k: e.details[k] for k in ("plan_sha256", "holds")
                                                  if k in e.details})
        elif e.kind is AuditKind.COPY and "complete" in e.details:
            continue  # made by the batch before it
        elif e.kind is AuditKind.COPY:
            if batch >= len(batches):
                raise EvidenceError(f"{copies_path}: lacks the copies of seq {e.seq}; restore it")
            plan = locker.case(case_id).plan
            by_key = {s.key: s for s in plan.segments}
            locker.mark_copied(case_id, [(by_key[k], h, ek) for k, h, ek in batches[batch]],
                               e.at_s, actor=e.actor)
            batch += 1
        elif e.kind is AuditKind.RELEASE:
            locker.release(case_id, e.at_s, actor=e.actor, reason=e.details["reason"])
        else:
            locker.mark_purged(case_id, e.at_s, actor=e.actor)
        for got in scratch.entries[n0:]:
            real = next((x for x in mine if x.at_s == got.at_s and x.kind is got.kind
                         and x.details_json == got.details_json), None)
            if real is None:
                raise EvidenceError(f"case {case_id!r}: replaying its files does not give the "
                                    f"trail's {got.kind.value} entry at t={got.at_s:g}: "
                                    f"{copies_path} or the plan was edited; restore them")
    locker.trail = d.trail
    return locker


def preserve_case(d: Desk, officer: Officer, case_id: str, cameras: tuple[str, ...],
                  window: Interval, now: float, db: Path) -> tuple[Any, int]:
    """Open a case: plan it from the live catalog, hold its footage (rows in the catalog's
    `holds`, placed before the trail says so), and audit it. Returns (case, holds placed)."""
    from twin.live.store import LiveStore

    if any(e.subject == case_id and e.kind is AuditKind.PRESERVATION for e in d.trail.entries):
        raise EvidenceError(f"case {case_id!r} exists already on this desk: give a new case id")
    request = PreservationRequest(case_id, cameras, window, max(now, window.end_s),
                                  officer.officer_id)
    plan = plan_preservation(request, stored_segments(db, cameras, window))
    text = _plan_json(request, list(plan.segments))
    folder = _case_dir(d, case_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(text, encoding="ascii")
    locker = EvidenceLocker(d.trail)
    store = LiveStore(db)
    try:
        # The holds go into the catalog first, so the sweeper keeps the footage from now on.
        scratch = EvidenceLocker(AuditTrail())
        scratch.open_case(plan, now)
        place, _ = scratch.hold_changes({})
        placed = store.place_holds(case_id, [(h, cam, iv.start_s, iv.end_s)
                                             for h, cam, iv in place], now)
        case = locker.open_case(plan, now, extra={
            "plan_sha256": hashlib.sha256(text.encode("ascii")).hexdigest(), "holds": placed})
    finally:
        store.close()
    d.save()
    return case, placed


def copy_case(d: Desk, officer: Officer, case_id: str, now: float, db: Path,
              root: Path) -> Any:
    """Copy an open case's pending segments under evidence/cases/<case>/, each hashed as read
    back; mark them copied (signed), write the manifest when complete, release their holds."""
    locker = case_locker(d, case_id)
    case = locker.case(case_id)
    if case.state is not CaseState.OPEN:
        raise EvidenceError(f"case {case_id!r} is {case.state.value}: nothing left to copy")
    folder = _case_dir(d, case_id)
    copies: list[tuple[SegmentRef, str, str]] = []
    for seg in case.pending:
        out = folder / "copies" / seg.key
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(root / seg.key, out)
        except FileNotFoundError:
            continue  # its hold should have kept it: left pending, and reported
        copies.append((seg, _sha256_file(out), f"{CASES}/{case_id}/copies/{seg.key}"))
    if copies:
        path = folder / "copies.json"
        batches = json.loads(path.read_text()) if path.exists() else []
        batches.append([[s.key, h, k] for s, h, k in copies])
        path.write_text(json.dumps(batches) + "\n")
        case = locker.mark_copied(case_id, copies, now, actor=officer.officer_id)
        if case.manifest_json:
            (folder / "manifest.json").write_text(case.manifest_json + "\n", encoding="ascii")
    d.save()
    _sync_holds(locker, case_id, db, now)
    return case


def _sync_holds(locker: EvidenceLocker, case_id: str, db: Path, now: float) -> None:
    from twin.live.store import LiveStore

    store = LiveStore(db)
    try:
        current = {h.hold_id: h for h in store.holds(case_id=case_id)}
        wanted = {h: v for h, v in locker.holds_by_id().items()
                  if h.startswith(HOLD_PREFIX) and json.loads(h[len(HOLD_PREFIX):])[0] == case_id}
        # Place before releasing (what is still pending after a partial copy), so nothing is
        # ever unheld.
        store.place_holds(case_id, [(h, cam, iv.start_s, iv.end_s) for h, (cam, iv)
                                    in wanted.items() if h not in current], now)
        store.release_holds([h for h in current if h not in wanted], now)
    finally:
        store.close()


def release_case(d: Desk, officer: Officer, case_id: str, now: float, db: Path,
                 reason: str) -> Any:
    """Close a case: its holds go, its copies are deleted, both audited (RELEASE, DELETION)."""
    locker = case_locker(d, case_id)
    keys = locker.release(case_id, now, actor=officer.officer_id, reason=reason)
    d.save()
    _sync_holds(locker, case_id, db, now)
    for k in keys:
        (d.folder / k).unlink(missing_ok=True)
    case = locker.mark_purged(case_id, now, actor=officer.officer_id)
    d.save()
    return case
