"""`twin evidence`: the audit trail of a run, and rank-approved access to a live run's footage.

Theory of operation
-------------------
This module is an adapter: the decisions are the core's (twin/core/access.py, evidence.py,
audit.py); here are the files, the clock and the command line.

- `verify-audit RUN_DIR` checks the hash chain of every audit trail in a run folder against
  its anchor: a simulated run's `audit.jsonl` (anchor: the `evidence.audit_anchor` event in
  results.json, and `audit_anchor.json`), and the access desk's `evidence/audit.jsonl` (anchor:
  `evidence/audit_anchor.json`). It names the first line and seq that fail.
- `request`, `approve` (or refuse), `export` and `status` work on a live run's footage:
  `live/catalog.sqlite` (the `segments` table written by twin/live/store.py; read only here)
  and the segment files under `live/segments/<recorder>/<key>`. Both paths are taken from
  results.json `files` when it names them, and can be given with --catalog / --segments, so
  any folder of segment files with such a table works.
- The access desk has no store of its own: the audit trail IS its state. Each command reads
  `evidence/audit.jsonl`, verifies it, replays its requests, decisions, expiries and uses into
  a fresh AccessDesk, carries out one step at `now`, and appends what the step audited (a
  refused attempt too) before it exits. The access policy is fixed with the first request
  (`evidence/policy.json`, from the scenario's `evidence.access` section).
- `export` copies the approved cameras' stored segments over the approved window into a
  folder, hashes each copy as read back (SHA-256), checks it against the catalog's hash, and
  writes `manifest.json` (core build_manifest: files, hashes, the parts of the window that are
  gone, sealed by its own hash). The manifest's hash goes on the trail. `verify DIR` re-hashes
  the files against the manifest.

Times: the desk's clock is wall-clock seconds (UNIX time) unless --at is given; the windows
are in the catalog's own seconds (a live run's clock, from its start).

One command at a time per run folder: the desk's steps hold an exclusive lock
(`evidence/.lock`), so two officers' commands cannot fork the chain.

Exit codes: 0 done / verified; 1 refused (the refusal is on the trail) or verification failed;
2 a bad scenario; 3 the folder lacks what the command needs (no trail, desk or catalog) or a
trail that does not verify.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.cli_support import check_out, finite_arg, staged_output
from twin.core.access import (
    AccessDesk,
    AccessPolicy,
    AccessRequest,
    Action,
    Officer,
    RequestState,
)
from twin.core.audit import (
    GENESIS_HASH,
    AuditAnchor,
    AuditEntry,
    AuditKind,
    AuditTrail,
    parse_jsonl,
    verify,
)
from twin.core.evidence import (
    PreservationRequest,
    build_manifest,
    plan_preservation,
    verify_manifest,
)
from twin.core.types import Interval, SegmentRef
from twin.errors import AccessDenied, AuditError, EvidenceError, ScenarioError, UsageError

__all__ = ["register", "replay_desk", "verify_run_audit", "export_footage", "verify_export"]

DESK_DIR = "evidence"
TRAIL = "audit.jsonl"
ANCHOR = "audit_anchor.json"
POLICY = "policy.json"
# = twin.sim.evidence.ANCHOR_EVENT, not imported so that this module loads without SimPy.
SIM_ANCHOR_EVENT = "evidence.audit_anchor"


def _say(msg: str) -> None:
    print(msg, flush=True)


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


def verify_run_audit(run_dir: Path) -> list[tuple[bool, str]]:
    """Every audit trail in a run folder (simulated run, access desk), each with its anchors."""
    found: list[tuple[bool, str]] = []
    sim = run_dir / TRAIL
    if sim.exists():
        anchors: list[tuple[str, AuditAnchor]] = []
        res = run_dir / "results.json"
        if res.exists():
            for ev in json.loads(res.read_text()).get("events", []):
                if ev.get("kind") == SIM_ANCHOR_EVENT:
                    anchors.append(("results.json", _anchor_from(ev, str(res))))
        side = run_dir / ANCHOR
        if side.exists():
            anchors.append((ANCHOR, _anchor_from(json.loads(side.read_text()), str(side))))
        found.append(verify_trail_file(sim, anchors))
    desk = run_dir / DESK_DIR / TRAIL
    if desk.exists():
        side = run_dir / DESK_DIR / ANCHOR
        anchors = []
        if side.exists():
            anchor = _anchor_from(json.loads(side.read_text()), str(side))
            anchors = [(f"{DESK_DIR}/{ANCHOR}", anchor)]
        found.append(verify_trail_file(desk, anchors))
    if not found:
        raise EvidenceError(
            f"{run_dir}: no audit trail here (expected {TRAIL} from `twin simulate` of a scenario "
            f"with an evidence: section, or {DESK_DIR}/{TRAIL} from `twin evidence request`)"
        )
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
class _Desk:
    """The desk of one run folder: its trail (loaded, verified), policy and paths."""

    run_dir: Path
    policy: AccessPolicy
    trail: AuditTrail
    desk: AccessDesk
    written: int

    @property
    def folder(self) -> Path:
        return self.run_dir / DESK_DIR

    def save(self) -> None:
        """Append what is new on the trail, then move the anchor (after the entries it names)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / TRAIL).open("a", encoding="ascii") as f:
            f.write(self.trail.to_jsonl(start=self.written))
        self.written = len(self.trail)
        a = self.trail.anchor()
        anchor = {"count": a.count, "head_hash": a.head_hash}
        (self.folder / ANCHOR).write_text(json.dumps(anchor) + "\n")


def _policy_from_scenario(path: Path) -> AccessPolicy:
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


def _policy_json(p: AccessPolicy) -> dict[str, Any]:
    return {"ranks": list(p.ranks), "view_min_rank": p.view_min_rank,
            "export_min_rank": p.export_min_rank, "expire_after_s": p.expire_after_s,
            "valid_for_s": p.valid_for_s}


def open_desk(run_dir: Path, scenario: Path | None, create: bool) -> _Desk:
    folder = run_dir / DESK_DIR
    policy_file = folder / POLICY
    if policy_file.exists():
        raw = json.loads(policy_file.read_text())
        policy = AccessPolicy(tuple(raw["ranks"]), raw["view_min_rank"], raw["export_min_rank"],
                              float(raw["expire_after_s"]), float(raw["valid_for_s"]))
        if scenario is not None and _policy_json(_policy_from_scenario(scenario)) != raw:
            raise EvidenceError(
                f"{policy_file}: the desk's policy was fixed with its first request and differs "
                f"from {scenario}'s evidence.access; drop --scenario, or use a new run folder"
            )
    elif not create:
        raise EvidenceError(f"{run_dir}: no access desk here yet ({policy_file} is missing); "
                            "start one with `twin evidence request`")
    else:
        if scenario is None:
            scenario = _scenario_of(run_dir)
        policy = _policy_from_scenario(scenario)
    trail = AuditTrail()
    entries: list[AuditEntry] = []
    if (folder / TRAIL).exists():
        entries = parse_jsonl((folder / TRAIL).read_text(encoding="ascii"))
        anchor = None
        if (folder / ANCHOR).exists():
            anchor = _anchor_from(json.loads((folder / ANCHOR).read_text()), str(folder / ANCHOR))
        try:
            trail = AuditTrail.from_entries(entries, anchor)
        except AuditError as exc:
            raise EvidenceError(
                f"{folder / TRAIL}: the trail does not verify ({exc}); nothing was done"
            ) from None
    desk = replay_desk(entries, policy)
    desk.trail = trail  # from here on, steps go on the run's own trail
    if create and not policy_file.exists():
        folder.mkdir(parents=True, exist_ok=True)
        policy_file.write_text(json.dumps(_policy_json(policy), indent=2) + "\n")
    return _Desk(run_dir, policy, trail, desk, len(entries))


def _scenario_of(run_dir: Path) -> Path:
    res = run_dir / "results.json"
    if res.exists():
        src = Path(json.loads(res.read_text())["scenario"]["source"])
        if src.exists():
            return src
    raise ScenarioError(f"{run_dir}: cannot tell which scenario's access policy applies; pass "
                        "--scenario FILE (a scenario with an evidence: section)")


# -- the live catalog and its files ------------------------------------------------------------


def _paths(run_dir: Path, catalog: str | None, segments: str | None) -> tuple[Path, Path]:
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


def verify_export(dest: Path) -> tuple[bool, str]:
    path = dest / "manifest.json"
    if not path.exists():
        raise EvidenceError(f"{path}: no manifest; pass the folder `twin evidence export` wrote")
    manifest = json.loads(path.read_text())
    hashes = {}
    for p in sorted(dest.rglob("*")):
        if p.is_file() and p != path:
            hashes[p.relative_to(dest).as_posix()] = _sha256_file(p)
    check = verify_manifest(manifest, hashes)
    if check.ok:
        return True, (f"{path}: intact; {manifest['file_count']} files, "
                      f"{manifest['total_bytes']:,} bytes match their SHA-256; "
                      f"{len(manifest['missing'])} missing interval(s) declared; "
                      f"manifest {manifest['manifest_sha256'][:16]}...")
    problems = []
    if not check.manifest_intact:
        problems.append("the manifest was edited (its own hash does not match)")
    problems += [f"{k} is missing" for k in check.missing]
    problems += [f"{k} hashes to {found[:16]}..., manifest says {exp[:16]}..."
                 for k, exp, found in check.mismatched]
    return False, f"{path}: " + "; ".join(problems)


# -- commands ----------------------------------------------------------------------------------


def _now(args: argparse.Namespace) -> float:
    return float(args.at) if args.at is not None else time.time()


def _refused(d: _Desk, exc: AccessDenied) -> int:
    d.save()  # the refusal is on the trail
    _say(f"REFUSED: {exc}")
    return 1


def _locked(
    fn: Callable[[argparse.Namespace], int], create: bool = False,
    check: Callable[[argparse.Namespace], None] | None = None,
) -> Callable[[argparse.Namespace], int]:
    """Run a desk command holding the run folder's desk lock (released when the process ends,
    even if it is killed)."""

    def run(args: argparse.Namespace) -> int:
        if check is not None:  # arguments first: a refused command leaves no desk behind
            check(args)
        folder = Path(args.run_dir) / DESK_DIR
        if create:
            if not Path(args.run_dir).is_dir():  # never make a run folder from a typo
                raise UsageError(f"{args.run_dir}: no such run folder; pass the --out folder of "
                                 "`twin simulate` or `twin live`")
            folder.mkdir(exist_ok=True)
        if not folder.is_dir():
            return fn(args)  # no desk: the command says so
        with (folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return fn(args)

    return run


def cmd_verify_audit(args: argparse.Namespace) -> int:
    ok = True
    for good, line in verify_run_audit(Path(args.run_dir)):
        _say(("ok      " if good else "FAILED  ") + line)
        ok &= good
    return 0 if ok else 1


def _check_window(args: argparse.Namespace) -> None:
    if not args.end_s > args.start_s:
        raise UsageError(f"--from {args.start_s:g} --to {args.end_s:g}: the window must end after "
                         "it starts; give --to greater than --from (seconds of the run's clock)")


def cmd_request(args: argparse.Namespace) -> int:
    _check_window(args)
    run_dir = Path(args.run_dir)
    d = open_desk(run_dir, Path(args.scenario) if args.scenario else None, create=True)
    now = _now(args)
    n = sum(1 for e in d.trail.entries if e.kind is AuditKind.REQUEST) + 1
    rid = f"req-{n:04d}"
    window = Interval(float(args.start_s), float(args.end_s))
    try:
        d.desk.submit(AccessRequest(
            rid, Officer(args.officer, args.rank), args.case or f"case-{rid}",
            Action(args.action), tuple(args.camera), window, now,
        ))
    except AccessDenied as exc:
        return _refused(d, exc)
    d.save()
    _say(f"{rid}: {args.action} of {', '.join(sorted(set(args.camera)))} over [{window.start_s:g}, "
         f"{window.end_s:g}) s by {args.officer} ({args.rank}); needs approval by "
         f"{d.policy.required_rank(Action(args.action))!r} or above")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), None, create=False)
    now = _now(args)
    who = Officer(args.officer, args.rank)
    try:
        if args.refuse:
            d.desk.refuse(args.request_id, who, now, reason=args.refuse)
        else:
            d.desk.approve(args.request_id, who, now)
    except AccessDenied as exc:
        return _refused(d, exc)
    d.save()
    rec = d.desk.get(args.request_id)
    _say(f"{args.request_id}: {rec.state.value} by {args.officer} ({args.rank})"
         + (f", good until {rec.deadline_s:.0f}" if rec.approval else ""))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    db, root = _paths(run_dir, args.catalog, args.segments)
    dest = Path(args.dest)
    check_out(dest, "--dest")  # before the use goes on the trail
    d = open_desk(run_dir, None, create=False)
    now = _now(args)
    try:
        grant = d.desk.authorize_use(args.request_id, Action.EXPORT, now, officer_id=args.officer)
    except AccessDenied as exc:
        return _refused(d, exc)
    d.save()  # the export is on the trail before any footage is copied
    segments = stored_segments(db, grant.cameras, grant.window)
    with staged_output(dest, "--dest") as tmp:  # a failed copy leaves no half an export
        manifest = export_footage(segments, root, tmp, grant.case_id, grant.cameras,
                                  grant.window, now)
    d.trail.append(now, AuditKind.COPY, args.officer, args.request_id, {
        "what": "export", "case_id": grant.case_id, "manifest_sha256": manifest["manifest_sha256"],
        "file_count": manifest["file_count"], "total_bytes": manifest["total_bytes"],
        "missing": len(manifest["missing"]), "dest": str(dest)})
    d.save()
    lost = sum(m["end_s"] - m["start_s"] for m in manifest["missing"])
    _say(f"{args.request_id}: exported {manifest['file_count']} files, "
         f"{manifest['total_bytes']:,} bytes to {dest}; {lost:g} s of the window not on disk; "
         f"manifest {manifest['manifest_sha256'][:16]}...")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    ok, line = verify_export(Path(args.dest))
    _say(("ok      " if ok else "FAILED  ") + line)
    return 0 if ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), None, create=False)
    now = _now(args)
    for rec in d.desk.records():
        r = rec.request
        state = rec.state.value
        if rec.state.value in ("pending", "approved") and rec.deadline_s <= now:
            state += " (due to expire)"
        _say(f"{r.request_id}  {r.action.value:6}  {state:24}  {r.requester.officer_id} "
             f"({r.requester.rank})  {','.join(r.cameras)}  "
             f"[{r.window.start_s:g}, {r.window.end_s:g})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evidence", help="audit trails and rank-approved access to footage")
    ev = p.add_subparsers(dest="evidence_cmd", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("run_dir", help="a run's output folder (twin simulate / twin live --out)")
        q.add_argument("--at", type=finite_arg,
                       help="the desk's clock, s (default: now, UNIX time)")

    q = ev.add_parser("verify-audit", help="verify a run's audit trail(s) against their anchors")
    q.add_argument("run_dir")
    q.set_defaults(fn=cmd_verify_audit)

    q = ev.add_parser("request", help="ask to view or export footage (needs approval by rank)")
    common(q)
    q.add_argument("--officer", required=True)
    q.add_argument("--rank", required=True)
    q.add_argument("--camera", action="append", required=True, help="a camera name (repeat)")
    q.add_argument("--from", dest="start_s", type=finite_arg, required=True,
                   help="window start, s")
    q.add_argument("--to", dest="end_s", type=finite_arg, required=True, help="window end, s")
    q.add_argument("--action", choices=[a.value for a in Action], default="export")
    q.add_argument("--case", help="case id (default: derived from the request id)")
    q.add_argument("--scenario", help="scenario whose evidence.access sets the policy "
                   "(default: the run's scenario); fixed with the first request")
    q.set_defaults(fn=_locked(cmd_request, create=True, check=_check_window))

    q = ev.add_parser("approve", help="approve (or --refuse) a pending request")
    common(q)
    q.add_argument("request_id")
    q.add_argument("--officer", required=True)
    q.add_argument("--rank", required=True)
    q.add_argument("--refuse", metavar="REASON", help="refuse instead, with this reason")
    q.set_defaults(fn=_locked(cmd_approve))

    q = ev.add_parser("export", help="copy approved footage out with a SHA-256 manifest")
    common(q)
    q.add_argument("request_id")
    q.add_argument("--officer", required=True, help="the officer who made the request")
    q.add_argument("--dest", required=True, help="folder for the copies and manifest.json")
    q.add_argument("--catalog", help="the live SQLite catalog (default: from results.json)")
    q.add_argument("--segments", help="the segment root (default: from results.json)")
    q.set_defaults(fn=_locked(cmd_export))

    q = ev.add_parser("verify", help="check an export folder's files against its manifest")
    q.add_argument("dest")
    q.set_defaults(fn=cmd_verify)

    q = ev.add_parser("status", help="list a run's access requests and where they stand")
    common(q)
    q.set_defaults(fn=_locked(cmd_status))
