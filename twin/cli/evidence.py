"""`twin evidence`: audit trails, the officer register, rank-approved access to a live run's
footage, and its preservation.

Theory of operation
-------------------
Commands are thin: the command line over the desk on disk (twin/desk/desk.py; exports
twin/desk/export.py, live cases twin/desk/cases.py, trail checks twin/desk/audit.py, the lock
twin/storage/trail.py) and the live store's read API; the decisions are the core's.

- `keygen --officer ID`: an Ed25519 key pair for an officer; the private key goes outside any
  run folder (twin/storage/keys.py), the public key is printed for whoever enrols them.
- `officer init RUN --officer ID --rank R`: bootstrap a desk's register (fixes the access
  policy, from the scenario, and enrols the first officer). Needs the installation's audit
  key, which it makes on first use: the rank given here is trusted only because of that key.
- `officer add|revoke|list`: change (signed by a registered officer of at least the register's
  rank) or show the register.
- `request`, `approve` (or refuse), `export`, `status`: access to a live run's footage. The
  acting officer signs every step with their key; their rank is the register's, never the
  command line's (a `--rank` given is ignored, and said to be).
- `preserve`, `copy`, `release`: a live preservation case: hold (rows in the live catalog,
  obeyed by the live sweeper), copy with hashes, release.
- `verify-audit RUN`: every trail in a run folder: a simulated run's (unkeyed, anchored in
  results.json), and the desk's (keyed anchor, chain, signatures, register, access rules).
- `verify DEST`: an export's files against its manifest, and the manifest against the hash
  the run's trail recorded at export.

Times: the desk's clock is wall-clock seconds (UNIX time) unless --at is given; windows are in
the catalog's own seconds (a live run's clock, from its start). One command at a time per run
folder: each step holds the desk's lock (`evidence/.lock`), as the live sweeper does.

Exit codes: 0 done / verified; 1 refused (the refusal is on the trail) or verification failed;
2 a bad scenario; 3 the folder lacks what the command needs, or a trail that does not verify.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from twin.cli.support import check_out, finite_arg, staged_output
from twin.core.access import AccessRequest, Action, Officer
from twin.core.audit import AuditKind
from twin.core.officers import OfficerRegister
from twin.core.signing import load_public_key, public_key_b64
from twin.core.types import Interval
from twin.desk.audit import verify_run_audit
from twin.desk.desk import (
    Desk,
    authenticate,
    bootstrap_desk,
    live_paths,
    open_desk,
    policy_from_scenario,
    scenario_of,
)
from twin.errors import AccessDenied, EvidenceError, UsageError
from twin.storage.keys import load_officer_key, write_officer_key
from twin.storage.trail import DESK_DIR, locked

__all__ = ["register"]


def _say(msg: str) -> None:
    print(msg, flush=True)


def _now(args: argparse.Namespace) -> float:
    return float(args.at) if args.at is not None else time.time()


def _locked(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a desk command holding the run folder's desk lock (released when the process ends,
    even if it is killed)."""

    def run(args: argparse.Namespace) -> int:
        if not Path(args.run_dir).is_dir():  # never make a run folder from a typo
            raise UsageError(
                f"{args.run_dir}: no such run folder; pass the --out folder of "
                "`twin simulate` or `twin live`"
            )
        if (
            getattr(args, "start_s", None) is not None
            and getattr(args, "end_s", None) is not None
            and not args.end_s > args.start_s
        ):  # arguments first: no desk for a bad window
            raise UsageError(
                f"--from {args.start_s:g} --to {args.end_s:g}: the window must end "
                "after it starts; give --to greater than --from (seconds of the "
                "run's clock)"
            )
        with locked(Path(args.run_dir) / DESK_DIR):
            try:
                return fn(args)
            except ValueError as exc:  # the core's word on a bad input (e.g. --at going back)
                raise EvidenceError(str(exc)) from None

    return run


def _sign_in(d: Desk, args: argparse.Namespace, now: float, attempt: str) -> Officer:
    """The acting officer, from the register (AccessDenied, audited, if not who they claim)."""
    private = load_officer_key(args.officer, args.key, Path(args.run_dir))
    officer = authenticate(d, args.officer, private, now, attempt)
    claimed = getattr(args, "rank", None)
    if claimed is not None:
        _say(
            f"note: --rank is never trusted and was ignored; {officer.officer_id}'s registered "
            f"rank is {officer.rank!r}" + ("" if claimed == officer.rank else f" (not {claimed!r})")
        )
    return officer


def _refused(d: Desk, exc: AccessDenied) -> int:
    d.save()  # the refusal is on the trail
    _say(f"REFUSED: {exc}")
    return 1


# -- keys and the register ---------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    path, key = write_officer_key(args.officer, args.key)
    _say(f"private key of {args.officer}: {path} (keep it; never inside a run folder)")
    _say(f"public key: {public_key_b64(key)}")
    return 0


def _public_key(args: argparse.Namespace, officer_id: str) -> str:
    if args.public_key:
        text: str = args.public_key
        if Path(text).is_file():
            text = Path(text).read_text().strip()
        load_public_key(text)
        return text.strip()
    return public_key_b64(load_officer_key(officer_id, None, Path(args.run_dir)))


def cmd_officer_init(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    scenario = Path(args.scenario) if args.scenario else scenario_of(run_dir)
    policy = policy_from_scenario(scenario)
    min_rank = args.register_min_rank or max(
        (policy.view_min_rank, policy.export_min_rank), key=lambda r: policy.ranks.index(r)
    )
    now = _now(args)
    bootstrap_desk(
        run_dir, policy, min_rank, args.officer, args.rank, _public_key(args, args.officer), now
    )
    _say(
        f"{run_dir / DESK_DIR}: register bootstrapped; {args.officer} enrolled as {args.rank!r}; "
        f"the register is changed by {min_rank!r} or above; policy from {scenario}"
    )
    return 0


def cmd_officer_add(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), repair=True)
    now = _now(args)
    try:
        me = _sign_in(d, args, now, "enrol")
    except AccessDenied as exc:
        return _refused(d, exc)
    try:
        details = d.register.enrol_details(
            me.officer_id,
            args.new,
            args.new_rank,
            _public_key(args, args.new),
            now,
            args.valid_from,
            args.valid_to,
        )
    except EvidenceError as exc:  # the register's rules said no: on the trail, signed
        d.trail.append(
            now, AuditKind.DENIAL, me.officer_id, args.new, {"attempt": "enrol", "reason": str(exc)}
        )
        return _refused(d, AccessDenied(str(exc)))
    d.trail.append(now, AuditKind.OFFICER, me.officer_id, args.new, details)
    d.save()
    _say(
        f"{args.new} enrolled as {args.new_rank!r} by {me.officer_id} ({me.rank}), valid from "
        f"{details['valid_from_s']:g}"
        + (f" to {details['valid_to_s']:g}" if details["valid_to_s"] is not None else "")
    )
    return 0


def cmd_officer_revoke(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), repair=True)
    now = _now(args)
    try:
        me = _sign_in(d, args, now, "revoke")
    except AccessDenied as exc:
        return _refused(d, exc)
    try:
        details = d.register.revoke_details(me.officer_id, args.target, now, args.reason)
    except EvidenceError as exc:  # the register's rules said no: on the trail, signed
        d.trail.append(
            now,
            AuditKind.DENIAL,
            me.officer_id,
            args.target,
            {"attempt": "revoke", "reason": str(exc)},
        )
        return _refused(d, AccessDenied(str(exc)))
    d.trail.append(now, AuditKind.OFFICER, me.officer_id, args.target, details)
    d.save()
    _say(f"{args.target} revoked by {me.officer_id} at {now:g}: {args.reason}")
    return 0


def cmd_officer_list(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), repair=True)
    now = _now(args)
    reg: OfficerRegister = d.register
    for r in reg.records():
        until = "open" if r.valid_to_s is None else f"{r.valid_to_s:g}"
        mark = "valid" if r.valid_at(now) else "-"
        _say(
            f"{r.officer_id:16} {r.rank:22} [{r.valid_from_s:g}, {until})  {mark:5}  "
            f"by {r.enrolled_by} (seq {r.seq})  key {r.public_key[:12]}..."
        )
    return 0


# -- access ------------------------------------------------------------------------------------


def cmd_request(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), repair=True)
    now = _now(args)
    n = sum(1 for e in d.trail.entries if e.kind is AuditKind.REQUEST) + 1
    rid = f"req-{n:04d}"
    window = Interval(float(args.start_s), float(args.end_s))
    try:
        me = _sign_in(d, args, now, "request")
        d.access.submit(
            AccessRequest(
                rid,
                me,
                args.case or f"case-{rid}",
                Action(args.action),
                tuple(args.camera),
                window,
                now,
            )
        )
    except AccessDenied as exc:
        return _refused(d, exc)
    d.save()
    _say(
        f"{rid}: {args.action} of {', '.join(sorted(set(args.camera)))} over [{window.start_s:g}, "
        f"{window.end_s:g}) s by {me.officer_id} ({me.rank}); needs approval by "
        f"{d.policy.required_rank(Action(args.action))!r} or above"
    )
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), repair=True)
    now = _now(args)
    try:
        me = _sign_in(d, args, now, "refuse" if args.refuse else "approve")
        if args.refuse:
            d.access.refuse(args.request_id, me, now, reason=args.refuse)
        else:
            d.access.approve(args.request_id, me, now)
    except AccessDenied as exc:
        return _refused(d, exc)
    d.save()
    rec = d.access.get(args.request_id)
    _say(
        f"{args.request_id}: {rec.state.value} by {me.officer_id} ({me.rank})"
        + (f", good until {rec.deadline_s:.0f}" if rec.approval else "")
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    # start-up time: PyAV (via twin.live.cluster, ~0.2 s) loads only for this command
    from twin.desk.export import cluster_of_run, export_request

    run_dir = Path(args.run_dir)
    db, root = (
        (None, None)
        if cluster_of_run(run_dir) is not None  # fetched through Ray
        else live_paths(run_dir, args.catalog, args.segments)
    )
    d = open_desk(run_dir, repair=True)
    now = _now(args)
    dest = Path(args.dest)
    check_out(dest, "--dest")  # before the use goes on the trail
    try:
        me = _sign_in(d, args, now, "export")
        with staged_output(dest, "--dest") as tmp:  # a failed copy leaves no half an export
            manifest = export_request(d, args.request_id, me, now, db, root, tmp, dest)
    except AccessDenied as exc:
        return _refused(d, exc)
    lost = sum(m["end_s"] - m["start_s"] for m in manifest["missing"])
    _say(
        f"{args.request_id}: exported {manifest['file_count']} files, "
        f"{manifest['total_bytes']:,} bytes to {dest}; {lost:g} s of the window not on disk; "
        f"manifest {manifest['manifest_sha256'][:16]}... (on the trail)"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    d = open_desk(Path(args.run_dir), repair=True)
    now = _now(args)
    for rec in d.access.records():
        r = rec.request
        state = rec.state.value
        if rec.state.value in ("pending", "approved") and rec.deadline_s <= now:
            state += " (due to expire)"
        _say(
            f"{r.request_id}  {r.action.value:6}  {state:24}  {r.requester.officer_id} "
            f"({r.requester.rank})  {','.join(r.cameras)}  "
            f"[{r.window.start_s:g}, {r.window.end_s:g})"
        )
    return 0


# -- preservation ------------------------------------------------------------------------------


def cmd_preserve(args: argparse.Namespace) -> int:
    # start-up time: PyAV (via twin.live.cluster, ~0.2 s) loads only for this command
    from twin.desk.cases import preserve_case

    run_dir = Path(args.run_dir)
    db, _ = live_paths(run_dir, args.catalog, None)
    d = open_desk(run_dir, repair=True)
    now = _now(args)
    try:
        me = _sign_in(d, args, now, "preserve")
    except AccessDenied as exc:
        return _refused(d, exc)
    window = Interval(float(args.start_s), float(args.end_s))
    case, placed = preserve_case(d, me, args.case, tuple(args.camera), window, now, db)
    plan = case.plan
    _say(
        f"{args.case}: {len(plan.segments)} segments ({plan.bytes_to_copy:,} bytes) held by "
        f"{placed} hold(s) in {db}; {plan.lost_s:g} s of the window already gone; copy them with "
        f"`twin evidence copy {run_dir} {args.case}`"
    )
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    # start-up time: PyAV (via twin.live.cluster, ~0.2 s) loads only for this command
    from twin.desk.cases import copy_case

    run_dir = Path(args.run_dir)
    db, root = live_paths(run_dir, args.catalog, args.segments)
    d = open_desk(run_dir, repair=True)
    now = _now(args)
    try:
        me = _sign_in(d, args, now, "copy")
    except AccessDenied as exc:
        return _refused(d, exc)
    case = copy_case(d, me, args.case, now, db, root)
    manifest = case.manifest
    if manifest is None:
        _say(
            f"{args.case}: {len(case.copies)} copied, {len(case.pending)} still pending (their "
            "files are missing; their holds stay until the case is released)"
        )
        return 1
    _say(
        f"{args.case}: preserved; {manifest['file_count']} files, {manifest['total_bytes']:,} "
        f"bytes, manifest {manifest['manifest_sha256'][:16]}... (on the trail); holds released"
    )
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    # start-up time: PyAV (via twin.live.cluster, ~0.2 s) loads only for this command
    from twin.desk.cases import release_case

    run_dir = Path(args.run_dir)
    db, _ = live_paths(run_dir, args.catalog, None)
    d = open_desk(run_dir, repair=True)
    now = _now(args)
    try:
        me = _sign_in(d, args, now, "release")
    except AccessDenied as exc:
        return _refused(d, exc)
    case = release_case(d, me, args.case, now, db, args.reason)
    _say(f"{args.case}: {case.state.value}; its holds released and its copies deleted")
    return 0


# -- verification ------------------------------------------------------------------------------


def cmd_verify_audit(args: argparse.Namespace) -> int:
    ok = True
    for good, line in verify_run_audit(Path(args.run_dir)):
        _say(("ok      " if good else "FAILED  ") + line)
        ok &= good
    return 0 if ok else 1


def cmd_verify(args: argparse.Namespace) -> int:
    # start-up time: PyAV (via twin.live.cluster, ~0.2 s) loads only for this command
    from twin.desk.export import verify_export

    ok, line = verify_export(Path(args.dest), Path(args.run) if args.run else None)
    _say(("ok      " if ok else "FAILED  ") + line)
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "evidence", help="audit trails, officers, and rank-approved access to footage"
    )
    ev = p.add_subparsers(dest="evidence_cmd", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("run_dir", help="a run's output folder (twin simulate / twin live --out)")
        q.add_argument(
            "--at", type=finite_arg, help="the desk's clock, s (default: now, UNIX time)"
        )

    def acting(
        q: argparse.ArgumentParser, help: str = "the acting officer (signs the step)"
    ) -> None:
        q.add_argument("--officer", required=True, help=help)
        q.add_argument(
            "--key",
            help="the officer's private key file (default: "
            "$CCTV_TWIN_OFFICER_KEY, else <key dir>/<officer>.pem; never in the run)",
        )
        # Accepted so that old scripts say what changed, and never trusted.
        q.add_argument("--rank", help=argparse.SUPPRESS)

    def live(q: argparse.ArgumentParser) -> None:
        q.add_argument("--catalog", help="the live SQLite catalog (default: from results.json)")
        q.add_argument("--segments", help="the segment root (default: from results.json)")

    q = ev.add_parser(
        "keygen", help="make an officer's Ed25519 key pair (private key kept outside runs)"
    )
    q.add_argument("--officer", required=True)
    q.add_argument("--key", help="where to write the private key (default: the key dir)")
    q.set_defaults(fn=cmd_keygen)

    q = ev.add_parser("officer", help="the desk's officer register: init, add, revoke, list")
    off = q.add_subparsers(dest="officer_cmd", required=True)
    o = off.add_parser("init", help="bootstrap the register (needs the audit key)")
    common(o)
    o.add_argument("--officer", required=True, help="the first officer")
    o.add_argument(
        "--rank", required=True, help="their rank (trusted: this step needs the audit key)"
    )
    o.add_argument(
        "--public-key", help="their public key, base64 or a file (default: from their key)"
    )
    o.add_argument(
        "--scenario",
        help="scenario whose evidence.access sets the policy (default: the run's scenario)",
    )
    o.add_argument(
        "--register-min-rank",
        help="lowest rank that may change the register "
        "(default: the higher of the view and export approval ranks)",
    )
    o.set_defaults(fn=_locked(cmd_officer_init))
    o = off.add_parser("add", help="enrol an officer (signed by a senior enough officer)")
    common(o)
    acting(o)
    o.add_argument("--new", required=True, help="the officer to enrol")
    o.add_argument("--new-rank", required=True, help="their rank (at most the acting officer's)")
    o.add_argument("--public-key", required=True, help="their public key, base64 or a file")
    o.add_argument("--from", dest="valid_from", type=finite_arg, help="valid from (default: now)")
    o.add_argument("--to", dest="valid_to", type=finite_arg, help="valid until (default: open)")
    o.set_defaults(fn=_locked(cmd_officer_add))
    o = off.add_parser("revoke", help="end an officer's registration now")
    common(o)
    acting(o)
    o.add_argument("--target", required=True)
    o.add_argument("--reason", required=True)
    o.set_defaults(fn=_locked(cmd_officer_revoke))
    o = off.add_parser("list", help="show the register")
    common(o)
    o.set_defaults(fn=_locked(cmd_officer_list))

    q = ev.add_parser(
        "verify-audit", help="verify a run's audit trail(s): anchors, chain, signatures"
    )
    q.add_argument("run_dir")
    q.set_defaults(fn=cmd_verify_audit)

    q = ev.add_parser("request", help="ask to view or export footage (needs approval by rank)")
    common(q)
    acting(q)
    q.add_argument("--camera", action="append", required=True, help="a camera name (repeat)")
    q.add_argument("--from", dest="start_s", type=finite_arg, required=True, help="window start, s")
    q.add_argument("--to", dest="end_s", type=finite_arg, required=True, help="window end, s")
    q.add_argument("--action", choices=[a.value for a in Action], default="export")
    q.add_argument("--case", help="case id (default: derived from the request id)")
    q.set_defaults(fn=_locked(cmd_request))

    q = ev.add_parser("approve", help="approve (or --refuse) a pending request")
    common(q)
    q.add_argument("request_id")
    acting(q)
    q.add_argument("--refuse", metavar="REASON", help="refuse instead, with this reason")
    q.set_defaults(fn=_locked(cmd_approve))

    q = ev.add_parser("export", help="copy approved footage out with a SHA-256 manifest")
    common(q)
    q.add_argument("request_id")
    acting(q, "the officer who made the request (signs the export)")
    q.add_argument("--dest", required=True, help="folder for the copies and manifest.json")
    live(q)
    q.set_defaults(fn=_locked(cmd_export))

    q = ev.add_parser("verify", help="check an export's files and manifest against the trail")
    q.add_argument("dest")
    q.add_argument("--run", help="the run folder that made it (default: as dest/export.json says)")
    q.set_defaults(fn=cmd_verify)

    q = ev.add_parser("status", help="list a run's access requests and where they stand")
    common(q)
    q.set_defaults(fn=_locked(cmd_status))

    q = ev.add_parser("preserve", help="hold a live run's footage for a case (kept past retention)")
    common(q)
    acting(q)
    q.add_argument("--case", required=True)
    q.add_argument("--camera", action="append", required=True, help="a camera name (repeat)")
    q.add_argument("--from", dest="start_s", type=finite_arg, required=True, help="window start, s")
    q.add_argument("--to", dest="end_s", type=finite_arg, required=True, help="window end, s")
    q.add_argument("--catalog", help="the live SQLite catalog (default: from results.json)")
    q.set_defaults(fn=_locked(cmd_preserve))

    q = ev.add_parser("copy", help="copy a held case's footage with hashes, then lift its holds")
    common(q)
    q.add_argument("case")
    acting(q)
    live(q)
    q.set_defaults(fn=_locked(cmd_copy))

    q = ev.add_parser("release", help="close a case: drop its holds, delete its copies")
    common(q)
    q.add_argument("case")
    acting(q)
    q.add_argument("--reason", required=True)
    q.add_argument("--catalog", help="the live SQLite catalog (default: from results.json)")
    q.set_defaults(fn=_locked(cmd_release))
